"""The browser round trip: Enter pressed in the Ask box until the answer's text is in the page.

A real headless Chromium (Debian's chromium and chromium-driver, `make browser`; selenium from the test
extra) drives `rag serve` with its defaults. The time is taken inside the page: performance.now() when
the question box sees the Enter keydown, and again when a MutationObserver on the chat sees the new
answer's text, so neither WebDriver's round trips nor its polling count. Each question is asked in a
freshly loaded page with an empty conversation, after one warm-up question. Nothing here is a test:
tests/test_browser.py checks what the page does, this only times it.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import RagError
from .inprocess import WARM_UP
from .processes import app_server
from .report import Figure, percentile

# Debian's Chromium and ChromeDriver (`make browser`), also driven by tests/browser_support.py
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these, Chromium's own background connections get refused on a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)

# Arms the page for one question: the Enter keydown in the question box starts the clock, the chat's
# next assistant message with text stops it. Returns false when the page is not ready yet.
_ARM = """
const box = document.querySelector('#question textarea');
const chat = document.getElementById('chat');
if (!box || !chat) return false;
const bots = () => chat.querySelectorAll('[data-testid="bot"]');
const before = bots().length;
const t = window.__ragTiming = {start: null, end: null, text: ''};
box.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && t.start === null) t.start = performance.now();
}, {capture: true});
const seen = () => {
  const all = bots();
  const last = all.length > before ? all[all.length - 1].innerText.trim() : '';
  if (t.start !== null && last) {
    t.end = performance.now();
    t.text = last;
    observer.disconnect();
  }
};
const observer = new MutationObserver(seen);
observer.observe(chat, {childList: true, subtree: true, characterData: true});
return true;
"""


def _driver(profile_dir: Path) -> Any:
    """Headless Chromium through chromedriver; a one-line error when either or selenium is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        raise RagError(
            f"{' and '.join(missing)} not found - run `make browser` (Debian's chromium and chromium-driver)"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RagError("selenium is not installed - pip install -e '.[test]'") from None
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (*ARGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(60)
    return driver


def _until(what: str, check: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.01)
    raise RagError(f"the page did not {what} within {timeout:.0f} s")


def ask_in_page(driver: Any, url: str, question: str, timeout: float = 120.0) -> tuple[float, str]:
    """(milliseconds from Enter to the answer's text in the chat, that text) in a freshly loaded page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver.execute_script("window.localStorage.clear();")  # the page keeps its conversation there
    driver.get(url)
    _until("show the question box", lambda: driver.execute_script(_ARM), 60)
    time.sleep(0.5)  # let the page's load events (conversation, article picker) finish first
    driver.execute_script(_ARM)  # re-armed: the load events may have re-rendered the chat
    box = driver.find_element(By.CSS_SELECTOR, "#question textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    timing = _until(
        "show the answer",
        lambda: (t := driver.execute_script("return window.__ragTiming")) and t.get("end") and t,
        timeout,
    )
    return float(timing["end"] - timing["start"]), str(timing["text"])


def browser_figure(corpus_dir: Path, index_dir: Path, questions: list[str], log_path: Path) -> Figure:
    """Median milliseconds from Enter to the answer rendered, over `questions`, in headless Chromium."""
    with (
        tempfile.TemporaryDirectory(prefix="rag-bench-chromium-") as profile,
        app_server(corpus_dir, index_dir, log_path) as app,
    ):
        app.first_answer(WARM_UP, timeout=300)
        driver = _driver(Path(profile))
        try:
            url = f"http://127.0.0.1:{app.port}/"
            ask_in_page(driver, url, WARM_UP)  # the page's first question also opens the queue
            took = [ask_in_page(driver, url, q)[0] for q in questions]
        finally:
            driver.quit()
    ms = sorted(took)
    detail = {
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "min_ms": round(ms[0], 1),
        "max_ms": round(ms[-1], 1),
        "n": len(ms),
        "how": "headless Chromium, rag serve defaults; performance.now() from the Enter keydown in the"
        " question box to a MutationObserver seeing the answer's text; a fresh page per question",
    }
    return Figure(
        "browser, Enter to the answer rendered (median)",
        "seed",
        percentile(ms, 50),
        "ms",
        "browser_answer_seed_ms",
        detail,
    )
