"""Helpers for the browser test: the app as a subprocess, headless Chromium, and bounded waits.

Used only by tests/test_browser.py. Nothing here sleeps for long: every wait is a WebDriverWait or a
polling loop with a deadline.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from rag.bench.browser import ARGS, CHROMEDRIVER, CHROMIUM

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = list(ARGS)
CITE = re.compile(r"^\[\d+\]$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class AppProcess:
    """The app running as `python -m rag.web` on a free port, with its output in a log file."""

    proc: subprocess.Popen[bytes]
    url: str
    corpus_dir: Path
    index_dir: Path
    log_path: Path
    started: float  # time.monotonic() just before the process was started
    serving: float = 0.0  # time.monotonic() when / first answered 200

    def output(self, tail: int = 8000) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            return f"(no output: {exc})"
        return text[-tail:]

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)


def start_app(
    corpus_dir: Path,
    index_dir: Path,
    log_path: Path,
    timeout: float = 180.0,
    extra_env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> AppProcess:
    """Start the app (`python -m rag.web`: it builds the index first) and wait until its page answers 200."""
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(extra_env or {})
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    cmd = [sys.executable, "-m", "rag.web", "--corpus", str(corpus_dir), "--index", str(index_dir)]
    cmd += ["--port", str(port), *extra_args]
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    app = AppProcess(proc, f"http://127.0.0.1:{port}", corpus_dir, index_dir, log_path, started)
    deadline = started + timeout
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"the app exited with code {proc.returncode} before serving; its output:\n{app.output()}"
            )
        try:
            with urllib.request.urlopen(app.url + "/", timeout=5) as resp:
                if resp.status == 200:
                    app.serving = time.monotonic()
                    return app
                last_error = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last_error = str(exc)
        time.sleep(0.5)
    app.stop()
    pytest.fail(
        f"the app did not serve {app.url}/ within {timeout:.0f} s (last error: {last_error}); "
        f"its output:\n{app.output()}"
    )


def start_chromium(user_data_dir: Path) -> WebDriver:
    """Headless Chromium through chromedriver; fails (does not skip) when either is missing."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(
            f"{' and '.join(missing)} not found: the browser test needs Debian's chromium and "
            "chromium-driver - run `make setup` (it installs them)"
        )
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    try:
        return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    except WebDriverException as exc:
        pytest.fail(f"could not start Chromium through {CHROMEDRIVER}: {exc.msg or exc}")


def wait(driver: WebDriver, timeout: float = 30.0) -> WebDriverWait:
    return WebDriverWait(
        driver, timeout, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    )


def visible(driver: WebDriver, css: str, text: str | None = None) -> WebElement | bool:
    """The first displayed element matching css (and, if given, with exactly this text), else False."""
    for el in driver.find_elements(By.CSS_SELECTOR, css):
        if el.is_displayed() and (text is None or el.text.strip() == text):
            return el
    return False


def text_input(driver: WebDriver, elem_id: str) -> WebElement:
    """The textarea or input Gradio renders inside the Textbox with this elem_id (displayed)."""
    return wait(driver).until(
        lambda d: visible(d, f"#{elem_id} textarea, #{elem_id} input"),
        f"no visible text field inside #{elem_id}",
    )


def click_tab(driver: WebDriver, name: str) -> None:
    tab = wait(driver).until(
        lambda d: visible(d, 'button[role="tab"]', name), f"no visible tab button {name!r}"
    )
    tab.click()
    wait(driver).until(
        lambda d: visible(d, 'button[role="tab"][aria-selected="true"]', name),
        f"tab {name!r} did not become selected",
    )


# The assistant messages of the chat, read in one script so a re-render cannot leave stale handles.
_BOT_MESSAGES_JS = """
return [...document.querySelectorAll('#chat [data-testid="bot"]')].map((m) => ({
  text: m.innerText,
  links: [...m.querySelectorAll('a[href^="/article?"]')].map((a) => ({
    href: a.getAttribute('href'), text: a.innerText.trim()})),
}));
"""


def bot_messages(driver: WebDriver) -> list[dict[str, Any]]:
    return driver.execute_script(_BOT_MESSAGES_JS)


def type_into(driver: WebDriver, elem_id: str, text: str) -> None:
    """Replace what the Textbox with this elem_id holds by typing, as a user would."""
    box = text_input(driver, elem_id)
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    wait(driver).until(
        lambda d: text_input(d, elem_id).get_attribute("value") == text, f"#{elem_id} did not take the text"
    )


def ask(driver: WebDriver, question: str, timeout: float = 120.0) -> dict[str, Any]:
    """Type a question, press Ask, return the assistant message that answers it {text, links, cites}.

    The reply must follow a user message holding `question`: just after a page load the chat saved in
    the browser may still be restored, adding earlier answers after `before` was counted."""
    before = len(bot_messages(driver))
    type_into(driver, "question", question)
    return _press_ask(driver, before, timeout, question)


def _press_ask(driver: WebDriver, before: int, timeout: float, question: str | None = None) -> dict[str, Any]:
    driver.find_element(By.ID, "ask").click()
    return wait_for_answer(driver, before, timeout, question)


_LAST_USER_JS = """
const users = document.querySelectorAll('#chat [data-testid="user"]');
return users.length ? users[users.length - 1].innerText : '';
"""


def wait_for_answer(
    driver: WebDriver, before: int, timeout: float = 120.0, question: str | None = None
) -> dict[str, Any]:
    """The first assistant message after the `before` already shown, once it has text (and, given
    `question`, once the last user message is that question)."""
    words = " ".join(question.split()) if question else ""

    def new_reply(d: WebDriver) -> dict[str, Any] | bool:
        messages = bot_messages(d)
        if len(messages) <= before or not messages[-1]["text"].strip():
            return False
        if words and words not in " ".join(str(d.execute_script(_LAST_USER_JS)).split()):
            return False
        return messages[-1]

    reply = wait(driver, timeout).until(new_reply, f"no new answer in #chat within {timeout:.0f} s")
    reply["cites"] = [link for link in reply["links"] if CITE.match(link["text"])]
    return reply


def press_ask(driver: WebDriver, timeout: float = 120.0) -> dict[str, Any]:
    """Press Ask with whatever the question box holds; return the new assistant message."""
    return _press_ask(driver, len(bot_messages(driver)), timeout)


def click_citation(driver: WebDriver, href: str) -> None:
    """Click the last citation link with this href (in the chat or sources), as a user would.

    The viewer is first pointed at about:blank, so the article appearing in it afterwards is the
    click's doing (the answer itself already loads its first source there).
    """
    driver.execute_script("document.getElementById('viewer-frame').src = 'about:blank';")
    wait(driver).until(
        lambda d: (
            d.execute_script("return document.getElementById('viewer-frame').getAttribute('src')")
            == "about:blank"
        )
    )
    links = [
        a
        for a in driver.find_elements(By.CSS_SELECTOR, 'a[href^="/article?"]')
        if a.get_dom_attribute("href") == href and a.is_displayed()
    ]
    assert links, f"no visible link to {href} on the page"
    link = links[-1]
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", link)
    windows = len(driver.window_handles)
    link.click()
    wait(driver).until(
        lambda d: (
            d.execute_script("return document.getElementById('viewer-frame').getAttribute('src')")
            == href.split("#", 1)[
                0
            ]  # the page scrolls the viewer itself: a #fragment would move the page too
        ),
        f"clicking {href} did not load it into #viewer-frame",
    )
    assert len(driver.window_handles) == windows, "the citation opened a new window instead of the viewer"


def enter_viewer(driver: WebDriver, href: str, timeout: float = 30.0) -> None:
    """Switch into the viewer iframe once it shows the article at href, with its mark#hl."""
    frame = driver.find_element(By.ID, "viewer-frame")
    driver.switch_to.frame(frame)
    path_and_query = href.split("#", 1)[0]

    def loaded(d: WebDriver) -> bool:
        return bool(
            d.execute_script(
                "return (location.pathname + location.search) === arguments[0]"
                " && document.readyState === 'complete' && !!document.getElementById('hl');",
                path_and_query,
            )
        )

    try:
        wait(driver, timeout).until(loaded, f"the viewer did not show {href} with mark#hl")
    except BaseException:
        driver.switch_to.default_content()
        raise


def squash(text: str) -> str:
    return " ".join(text.split())
