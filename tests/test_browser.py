"""The web app in a real browser: real app process, real model, headless Chromium through Selenium.

One app (`python -m rag.web` on a free port, over a tmp copy of the seed articles and a tmp index) and one
browser serve the whole module; the tests run in file order and build on each other:

1. ask the example question, get a cited answer (screenshot: build/test-output/answer.png);
2. click its citation: the viewer iframe shows the article with the quoted span marked and in view;
3. paste a new article in the Library tab and rebuild the index;
4. ask what only the new article answers, then check an article holding <script>/<img onerror> shows
   those characters and runs nothing;
5. print how long the app took from process start to the first answer (measured, not asserted);
6. remove an article (it asks first) and bring it back with Undo;
7. at desktop and phone width, in light and dark: the answer in view without a page jump, the chat toolbar
   off the first message, the viewer text readable (contrast >= 4.5); screenshots in build/test-output/screens/;
8. pick one article in "Ask within" and ask: every citation is into that article;
9. a thumbs down kept as "not answered by the articles", an article retitled (the Library and the Ask
   picker show it), and Evaluate run on that feedback.

Needs /usr/bin/chromium and /usr/bin/chromedriver (`make setup` installs them); fails without them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from .browser_support import (
    ROOT,
    AppProcess,
    ask,
    bot_messages,
    click_citation,
    click_tab,
    enter_viewer,
    squash,
    start_app,
    start_chromium,
    text_input,
    type_into,
    visible,
    wait,
    wait_for_answer,
)
from .conftest import SEED_FILES

pytestmark = pytest.mark.slow

OUTPUT_DIR = ROOT / "build" / "test-output"
EXAMPLE = "how do I avoid being clingy?"
NEW_TITLE = "Caring For Sourdough Starter"
NEW_FILE = "Caring-For-Sourdough-Starter.md"  # what rag.library.safe_name makes of the title
NEW_ID = "Caring-For-Sourdough-Starter"  # the article id: the file's path without the suffix
XSS_LINE = (
    'Bakers sometimes write <script>document.title="pwned"</script> and '
    "<img src=x onerror=\"document.title='pwned'\"> in their notes."
)
NEW_TEXT = (
    "Caring for a sourdough starter is simple once you learn its rhythm. "
    "Feed your sourdough starter with equal weights of flour and water every twelve hours. "
    "Before each feeding, discard half of the starter so the jar does not overflow and the yeast stays lively. "
    "Keep the jar at room temperature, loosely covered and away from drafts. "
    "The starter is ready for baking when it is full of bubbles and has doubled in size after a feeding. "
    + XSS_LINE
)


FEEDBACK = Path(tempfile.gettempdir()) / f"rag-browser-feedback-{os.getpid()}.jsonl"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppProcess]:
    base = tmp_path_factory.mktemp("browser")
    corpus = base / "corpus"
    corpus.mkdir()
    for f in SEED_FILES:
        shutil.copy(f, corpus / f.name)
    proc = start_app(corpus, base / "index", base / "app.log", extra_env={"RAG_FEEDBACK": str(FEEDBACK)})
    print(f"\napp serving at {proc.url} {proc.serving - proc.started:.1f} s after its process started")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def driver(app: AppProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    for old in OUTPUT_DIR.glob("failure-*.png"):  # from an earlier run
        old.unlink()
    browser = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    browser.set_page_load_timeout(60)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the earlier steps found, for the later ones."""
    return {}


@pytest.fixture(autouse=True)
def evidence_on_failure(request: pytest.FixtureRequest, app: AppProcess, driver: WebDriver) -> Iterator[None]:
    """When a step fails, keep a screenshot and show the app's output."""
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:
        OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
        shot = OUTPUT_DIR / f"failure-{request.node.name}.png"
        try:
            driver.switch_to.default_content()
            driver.save_screenshot(str(shot))
            print(f"\nscreenshot of the failure: {shot}")
        except Exception as exc:  # the browser may be what failed
            print(f"\nno screenshot: {exc}")
        print(f"app output (tail):\n{app.output(4000)}")


def need(state: dict[str, Any], key: str) -> Any:
    if key not in state:
        pytest.fail(f"an earlier step did not complete (no {key!r}); see its failure above")
    return state[key]


def status_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "library-status").text


def note_text(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "library-note").text


def no_alert(driver: WebDriver) -> bool:
    try:
        driver.switch_to.alert  # noqa: B018 - raises when there is none
    except NoAlertPresentException:
        return True
    return False


def test_1_example_question_gets_a_cited_answer(app: AppProcess, driver: WebDriver, state: dict[str, Any]):
    driver.get(app.url + "/")
    example = wait(driver, 60).until(
        lambda d: visible(d, "button", EXAMPLE), f"no example button {EXAMPLE!r}"
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'nearest'});", example)
    scrolled = driver.execute_script("return window.scrollY")  # where the reader is when clicking
    before = len(bot_messages(driver))
    example.click()  # an example is asked at once, as its chip promises
    reply = wait_for_answer(driver, before, timeout=120)
    assert driver.execute_script("return window.scrollY") == scrolled, "the page jumped when the answer came"
    state["first_answer"] = time.monotonic()
    assert reply["cites"], f"the answer has no [n] citation link: {reply}"
    assert "clingy" in reply["text"].lower(), reply["text"]
    assert all(link["href"].startswith("/article?id=") for link in reply["cites"])
    wait(driver).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#question textarea").get_attribute("value") == "",
        "the question box was not cleared after the answer",
    )
    sources = driver.find_element(By.ID, "sources").text
    assert "[1]" in sources and "Why this source" in sources and "Open in the article" in sources, sources

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT_DIR / "answer.png"
    driver.execute_script("window.scrollTo(0, 0);")
    driver.save_screenshot(str(shot))
    print(f"\nscreenshot of the answer: {shot}")
    state["cite"] = reply["cites"][0]["href"]


def test_2_citation_opens_article_with_span_marked_in_view(
    app: AppProcess, driver: WebDriver, state: dict[str, Any]
):
    href = need(state, "cite")
    query = parse_qs(urlsplit(href).query)
    article_id, start, end = query["id"][0], int(query["start"][0]), int(query["end"][0])
    # several quoted sentences of one source arrive as q=s-e,s-e; the first is the scrolled-to mark
    quoted = [tuple(map(int, part.split("-"))) for part in query.get("q", [f"{start}-{end}"])[0].split(",")]
    click_citation(driver, href)
    enter_viewer(driver, href)
    try:
        mark = squash(driver.find_element(By.ID, "hl").text)
        page_title = driver.execute_script("return document.title")
        body = driver.find_element(By.TAG_NAME, "body").text
        geometry: list[float] = []

        def in_view(d: WebDriver) -> bool:
            geometry[:] = d.execute_script(
                "const r = document.getElementById('hl').getBoundingClientRect();"
                " return [r.top, r.bottom, window.innerHeight];"
            )
            top, bottom, height = geometry
            return top < height and bottom > 0

        wait(driver, 15).until(in_view, f"mark#hl was not scrolled into view: {geometry}")
    finally:
        driver.switch_to.default_content()

    path = next(app.corpus_dir.glob(article_id + ".*"))
    original = path.read_text(encoding="utf-8")
    assert mark, "the marked span is empty"
    assert mark in squash(original), f"the marked text is not in {path.name}: {mark!r}"
    first_start, first_end = quoted[0]
    assert mark == squash(original[first_start:first_end]), "the mark is not the cited (first quoted) span"
    assert all(start <= s < e <= end for s, e in quoted), (
        f"quoted spans {quoted} lie outside [{start}, {end})"
    )
    assert path.name in body or article_id in page_title, (page_title, body[:300])
    top, bottom, height = geometry
    assert top < height and bottom > 0, geometry


def test_2b_thumbs_up_keeps_the_answer_as_a_test_question(
    app: AppProcess, driver: WebDriver, state: dict[str, Any]
):
    need(state, "cite")
    FEEDBACK.unlink(missing_ok=True)
    like = driver.execute_script(
        "return [...document.querySelectorAll('#chat button')].filter(b => b.getAttribute('aria-label') === 'Like')[0]"
    )
    assert like is not None, "the answer has no thumbs-up"
    like.click()
    wait(driver, 30).until(lambda d: "kept as a test question" in d.find_element(By.ID, "feedback-note").text)
    (entry,) = [json.loads(line) for line in FEEDBACK.read_text(encoding="utf-8").splitlines()]
    assert entry["question"] == EXAMPLE and entry["answerable"] is True and entry["quotes"]
    FEEDBACK.unlink()


def test_3_library_adds_pasted_article_and_rebuilds(
    app: AppProcess, driver: WebDriver, state: dict[str, Any]
):
    click_tab(driver, "Library")
    type_into(driver, "paste-title", NEW_TITLE)
    type_into(driver, "paste-text", NEW_TEXT)
    driver.find_element(By.ID, "add-paste").click()  # adding is indexing: no separate Rebuild step

    wait(driver, 30).until(lambda d: "Added" in note_text(d), "the note never said Added")
    assert f"Added {NEW_FILE}" in note_text(driver), note_text(driver)
    assert (app.corpus_dir / NEW_FILE).read_text(encoding="utf-8").count("<script>") == 1
    wait(driver, 180).until(
        lambda d: "in the index now" in note_text(d) or "failed" in note_text(d),
        "the new article was not indexed within 180 s",
    )
    after = squash(status_text(driver))
    assert "failed" not in note_text(driver) and "Last rebuild:" in after, after
    assert "up to date: 3 articles" in after, after  # indexed by this click or by the corpus watcher
    rows = driver.find_element(By.ID, "articles").text
    assert NEW_FILE in rows and "indexed" in rows.split(NEW_FILE, 1)[1].splitlines()[:4], rows
    assert text_input(driver, "paste-title").get_attribute("value") == "", "the title field kept its text"
    wait(driver, 30).until(
        lambda d: NEW_FILE in d.find_element(By.ID, "articles").text, f"{NEW_FILE} is not in the table"
    )
    assert driver.title != "pwned"
    state["rebuilt"] = True


def test_4_new_article_answers_and_markup_is_shown_not_run(
    app: AppProcess, driver: WebDriver, state: dict[str, Any]
):
    need(state, "rebuilt")
    click_tab(driver, "Ask")
    reply = ask(driver, "how often should I feed my sourdough starter?", timeout=120)
    new_cites = [c["href"] for c in reply["cites"] if f"id={NEW_ID}&" in c["href"]]
    assert new_cites, f"the answer cites no passage of {NEW_FILE}: {reply}"
    assert "twelve hours" in reply["text"] or "flour" in reply["text"], reply["text"]

    reply = ask(driver, "what do bakers write in their notes?", timeout=120)
    answered = bool(reply["cites"])
    print(f"\nanswer to the notes question: {squash(reply['text'])}")
    shown = squash(reply["text"]) + " " + squash(driver.find_element(By.ID, "sources").text)
    assert driver.title != "pwned" and no_alert(driver)
    executable = driver.execute_script(
        "return document.querySelectorAll("
        "'#chat script, #sources script, #chat img[onerror], #sources img[onerror], #chat img, #sources img'"
        ").length"
    )
    assert executable == 0, "markup from the article became elements in the chat or sources"
    if answered:
        assert "<script>" in shown or "onerror" in shown, f"the probe was not shown as text: {shown!r}"
        probe_cites = [c["href"] for c in reply["cites"] if f"id={NEW_ID}&" in c["href"]]
        href = probe_cites[0] if probe_cites else new_cites[0]
    else:  # abstained: look at the article through the sourdough answer's citation instead
        print("\nthe notes question abstained; checking the probe in the article viewer only")
        href = new_cites[0]

    click_citation(driver, href)
    enter_viewer(driver, href)
    try:
        body = driver.find_element(By.TAG_NAME, "body").text
        frame_title = driver.execute_script("return document.title")
        elements = driver.execute_script("return document.querySelectorAll('script, img').length")
    finally:
        driver.switch_to.default_content()
    assert '<script>document.title="pwned"</script>' in body, body[-400:]
    assert "onerror=" in body
    assert elements == 0, "the article's markup became elements in the viewer"
    assert frame_title == NEW_TITLE
    assert driver.title != "pwned" and no_alert(driver)
    assert len(bot_messages(driver)) == 3  # one answer per question asked


def test_5_time_to_first_answer(app: AppProcess, state: dict[str, Any]):
    first = need(state, "first_answer")
    print(
        f"\ntiming: app process start -> serving {app.serving - app.started:.1f} s, "
        f"-> first answer in the browser {first - app.started:.1f} s"
    )


def test_6_remove_asks_first_and_undo_brings_the_article_back(
    app: AppProcess, driver: WebDriver, state: dict[str, Any]
):
    need(state, "rebuilt")
    click_tab(driver, "Library")
    picker = driver.find_element(By.CSS_SELECTOR, "#remove-choice input")
    assert picker.get_attribute("value") == "", "an article was preselected for removal"
    picker.click()
    picker.send_keys(NEW_FILE)
    wait(driver).until(
        lambda d: visible(d, "ul[role='listbox'] li", NEW_FILE), "the article is not offered"
    ).click()
    driver.find_element(By.ID, "remove").click()
    yes = wait(driver).until(lambda d: visible(d, "#remove-yes"), "removal did not ask for confirmation")
    assert (app.corpus_dir / NEW_FILE).is_file(), "the article moved before it was confirmed"
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "library-confirm.png"))
    yes.click()
    wait(driver, 180).until(lambda d: "Moved" in note_text(d) and "out of the index now" in note_text(d))
    assert not (app.corpus_dir / NEW_FILE).exists()
    assert any(p.name == NEW_FILE for p in (app.corpus_dir.parent / "corpus.trash").rglob("*"))
    undo = wait(driver).until(lambda d: visible(d, "#undo"), "no Undo after the removal")
    driver.save_screenshot(str(OUTPUT_DIR / "library-removed.png"))
    undo.click()
    wait(driver, 180).until(lambda d: "Restored" in note_text(d) and "in the index now" in note_text(d))
    assert (app.corpus_dir / NEW_FILE).is_file()
    assert NEW_FILE in driver.find_element(By.ID, "articles").text


# What a person sees at each size and colour scheme: the answer in view, the viewer readable, nothing
# drawn over the first message. The screenshots are kept in build/test-output/screens/.
SCREENS = {"desktop": (1400, 1000), "phone": (390, 844)}

_IN_VIEW_JS = """
const m = [...document.querySelectorAll('#chat [data-testid="bot"]')].pop();
if (!m) return null;
const r = m.getBoundingClientRect();
return {top: r.top, bottom: r.bottom, height: window.innerHeight};
"""

# Boxes drawn inside the chat (its toolbar) that cover any part of the first message.
_OVERLAP_JS = """
const first = document.querySelector('#chat [data-testid="user"], #chat [data-testid="bot"]');
if (!first) return [];
const f = first.getBoundingClientRect();
return [...document.querySelectorAll('#chat .icon-button-wrapper, #chat .top-panel, #chat button')]
  .filter((b) => !first.contains(b) && !b.contains(first) && b.offsetParent !== null)
  .map((b) => [b, b.getBoundingClientRect()])
  .filter(([b, r]) => r.width > 0 && r.left < f.right && r.right > f.left && r.top < f.bottom && r.bottom > f.top)
  .map(([b, r]) => b.getAttribute('aria-label') || b.className);
"""

# WCAG contrast ratio of the viewer's article text against its page background.
_CONTRAST_JS = """
function rgb(c) { return c.match(/[\\d.]+/g).slice(0, 3).map(Number); }
function lum(c) {
  const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const text = document.querySelector('pre, article, main, body');
const fg = getComputedStyle(text).color;
let el = text, bg = 'rgba(0, 0, 0, 0)';
while (el && (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent')) { bg = getComputedStyle(el).backgroundColor; el = el.parentElement; }
if (bg === 'rgba(0, 0, 0, 0)' || bg === 'transparent') bg = 'rgb(255, 255, 255)';
const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
return {ratio: (a + 0.05) / (b + 0.05), fg, bg};
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("screen", list(SCREENS))
def test_7_each_screen_and_scheme_shows_the_answer_readably(
    app: AppProcess, driver: WebDriver, screen: str, scheme: str
):
    width, height = SCREENS[screen]
    out = OUTPUT_DIR / "screens"
    out.mkdir(parents=True, exist_ok=True)
    media = {"features": [{"name": "prefers-color-scheme", "value": scheme}]}
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", media)
    metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": screen == "phone"}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        driver.get(app.url + "/")
        text_input(driver, "question")
        driver.save_screenshot(str(out / f"{screen}-{scheme}-start.png"))
        scrolled = driver.execute_script("return window.scrollY")
        reply = ask(driver, EXAMPLE)
        assert reply["cites"], reply
        time.sleep(0.5)  # the chat's own scroll to the new message
        assert driver.execute_script("return window.scrollY") == scrolled, "the page jumped on the answer"
        where = driver.execute_script(_IN_VIEW_JS)
        assert where and where["top"] < where["height"] and where["bottom"] > 0, (
            f"the answer is out of view at {screen} width: {where}"
        )
        covering = driver.execute_script(_OVERLAP_JS)
        assert not covering, f"the chat toolbar covers the first message: {covering}"
        driver.save_screenshot(str(out / f"{screen}-{scheme}-answer.png"))
        click_citation(driver, reply["cites"][0]["href"])
        enter_viewer(driver, reply["cites"][0]["href"])
        try:
            contrast = driver.execute_script(_CONTRAST_JS)
        finally:
            driver.switch_to.default_content()
        assert contrast["ratio"] >= 4.5, f"the viewer's text is hard to read in {scheme} mode: {contrast}"
        driver.save_screenshot(str(out / f"{screen}-{scheme}-cited.png"))
        click_tab(driver, "Library")
        driver.save_screenshot(str(out / f"{screen}-{scheme}-library.png"))
        click_tab(driver, "Evaluate")
        driver.save_screenshot(str(out / f"{screen}-{scheme}-evaluate.png"))
        click_tab(driver, "Ask")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def test_8_asking_within_one_article_cites_only_it(app: AppProcess, driver: WebDriver):
    driver.get(app.url + "/")
    picker = wait(driver, 60).until(
        lambda d: visible(d, "#ask-within input"), "no 'Ask within' picker on the Ask tab"
    )
    picker.click()
    picker.send_keys(Keys.CONTROL, "a")
    picker.send_keys(Keys.DELETE)  # it shows "All articles"
    picker.send_keys("How To Make A Man")
    wait(driver).until(
        lambda d: visible(
            d, "ul[role='listbox'] li", "How To Make A Man Miss You: Three Powerful Ways To Be “Missed”"
        ),
        "the article is not offered by its title",
    ).click()
    reply = ask(driver, "how do I make someone miss me?")
    assert reply["cites"], reply
    assert all("id=002_28c6eb84cb694cfe" in link["href"] for link in reply["cites"]), reply["cites"]
    assert "only:" in reply["text"], reply["text"]
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(OUTPUT_DIR / "screens" / "desktop-light-within.png"))


def test_9_retitle_then_evaluate_own_feedback(app: AppProcess, driver: WebDriver, state: dict[str, Any]):
    need(state, "rebuilt")
    driver.get(app.url + "/")
    # A thumbs down, then "the articles don't answer it": kept as a test question.
    FEEDBACK.unlink(missing_ok=True)
    reply = ask(driver, "how do I keep my sourdough starter alive on holiday?")
    assert reply["text"], reply
    dislikes_js = (
        "return [...document.querySelectorAll('#chat button')]"
        ".filter(b => b.getAttribute('aria-label') === 'Dislike')"
    )
    # The new answer's buttons are drawn just after its text: wait until every answer has its own.
    wait(driver, 30).until(
        lambda d: len(d.execute_script(dislikes_js)) == len(bot_messages(d)),
        "the new answer has no thumbs-down",
    )
    dislike = driver.execute_script(dislikes_js)[-1]
    dislike.click()
    wait(driver).until(lambda d: visible(d, "#correct-unanswerable"), "a thumbs down asked nothing").click()
    wait(driver, 30).until(lambda d: "kept as a test question" in d.find_element(By.ID, "feedback-note").text)
    (entry,) = [json.loads(line) for line in FEEDBACK.read_text(encoding="utf-8").splitlines()]
    assert entry["answerable"] is False and entry["question"].startswith("how do I keep my sourdough")

    # The pasted article gets a better title; the Library and the Ask tab's picker show it.
    retitled = "Sourdough Starter Care"
    click_tab(driver, "Library")
    picker = driver.find_element(By.CSS_SELECTOR, "#remove-choice input")
    picker.click()
    picker.send_keys(NEW_FILE)
    wait(driver).until(lambda d: visible(d, "ul[role='listbox'] li", NEW_FILE), "not offered").click()
    type_into(driver, "new-title", retitled)
    driver.find_element(By.ID, "set-title").click()
    wait(driver, 180).until(lambda d: "in the index now" in note_text(d), "the new title was not indexed")
    wait(driver, 30).until(
        lambda d: retitled in d.find_element(By.ID, "articles").text, "the Library table kept the old title"
    )
    click_tab(driver, "Ask")
    within = driver.find_element(By.CSS_SELECTOR, "#ask-within input")
    within.click()
    wait(driver).until(
        lambda d: visible(d, "ul[role='listbox'] li", retitled), "the Ask tab's picker kept the old title"
    )
    within.send_keys(Keys.ESCAPE)

    # Evaluate runs the reader's own feedback.
    click_tab(driver, "Evaluate")
    driver.execute_script(
        "[...document.querySelectorAll('#eval-which label')].find(l => l.innerText.includes('feedback')).click()"
    )
    driver.find_element(By.ID, "evaluate").click()
    wait(driver, 180).until(
        lambda d: "Asked the 1 questions" in d.find_element(By.TAG_NAME, "body").text,
        "Evaluate did not run the feedback",
    )
    body = driver.find_element(By.TAG_NAME, "body").text
    assert str(FEEDBACK) in body and ("declined" in body or "answered" in body), body[-800:]
    driver.save_screenshot(str(OUTPUT_DIR / "screens" / "desktop-light-evaluate-feedback.png"))
    FEEDBACK.unlink()
