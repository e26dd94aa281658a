"""Two app processes serve one PostgreSQL store (issue #15), against a real server (pglocal.py), no mocks.

Both apps (`python -m rag.web --store URL` on two free ports of 127.0.0.1) read their articles from one
shared corpus folder (docs/postgres.md, "Where the article files live") and answer from one store copied
from the session's real-model seed index. The store's build lock makes one writer at a time; each app
notices another's write through the store's generation.

1. An article pasted in app A's Library (in headless Chromium, as a person adds one) is indexed by A;
   app B, never restarted, answers a question about it citing the new file, and B's Library lists it as
   indexed.
2. The concurrency test's shape (tests/test_concurrency.py) against both: 8 gradio_client clients, four
   on each app, ask 200 questions while a thread keeps adding an article and running `rag build --store`
   in another process. Every request succeeds and every answer slices its file exactly; afterwards each
   app serves the last article added. Figures are printed, not asserted.
"""

from __future__ import annotations

import queue
import shutil
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By

from rag.index import pglocal
from rag.index.index_folder import load_index
from rag.index.pgstore import PgStore

from .browser_support import AppProcess, click_tab, start_app, start_chromium, type_into, wait
from .test_concurrency import Load, Rebuilds, _problems, _questions, ask_concurrently
from .test_pgindex import copied

CAP_SECONDS = 240.0
NEW_TITLE = "Caring For Sourdough Starter"
NEW_FILE = "Caring-For-Sourdough-Starter.md"
NEW_TEXT = (
    "Feed your sourdough starter with equal weights of flour and water every twelve hours. "
    "Before each feeding, discard half of the starter so the jar does not overflow."
)


@dataclass
class TwoApps:
    a: AppProcess
    b: AppProcess
    dsn: str
    corpus: Path


@pytest.fixture(scope="module")
def apps(
    pg_server: pglocal.LocalPostgres, seed_index: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TwoApps]:
    base = tmp_path_factory.mktemp("two-apps")
    corpus = base / "corpus"
    shutil.copytree(seed_index[0], corpus)
    with PgStore(pg_server.dsn()) as admin:
        admin.connection.execute("DROP DATABASE IF EXISTS two_apps")
        admin.connection.execute("CREATE DATABASE two_apps")
    dsn = pg_server.dsn("two_apps")
    copied(dsn, load_index(seed_index[1])).close()  # the store up to date with the corpus: no build
    # --no-watch: each app indexes what is added through it, and the load's rebuilds are another
    # process's `rag build --store`, which refuses while an app's rebuild holds the lock.
    store = ("--store", dsn, "--no-watch")
    started: list[AppProcess] = []
    try:
        for name in ("a", "b"):
            started.append(start_app(corpus, base / f"unused-{name}", base / f"{name}.log", extra_args=store))
            print(f"\napp {name} serving at {started[-1].url}")
        yield TwoApps(started[0], started[1], dsn, corpus)
    finally:
        for proc in started:
            proc.stop()


def _client(url: str) -> object:
    from gradio_client import Client

    return Client(url, verbose=False, httpx_kwargs={"timeout": 60.0})


def _cited_files(answer: dict) -> set[str]:
    return {Path(src["file"]).name for src in answer["sources"]}


def test_an_article_added_in_one_app_is_answered_by_the_other(apps: TwoApps, tmp_path: Path):
    driver = start_chromium(tmp_path / "chromium")
    try:
        driver.set_page_load_timeout(60)
        driver.get(apps.a.url)
        click_tab(driver, "Library")
        type_into(driver, "paste-title", NEW_TITLE)
        type_into(driver, "paste-text", NEW_TEXT)
        driver.find_element(By.ID, "add-paste").click()
        note = lambda d: d.find_element(By.ID, "library-note").text  # noqa: E731
        wait(driver, 300).until(
            lambda d: "in the index now" in note(d) or "failed" in note(d), "app A did not index the article"
        )
        assert "failed" not in note(driver), f"{note(driver)}\n{apps.a.output(3000)}"

        answer = _client(apps.b.url).predict(
            "how often do I feed a sourdough starter?", 5, "hybrid", api_name="/ask"
        )
        assert NEW_FILE in _cited_files(answer), (answer, apps.b.output(3000))
        assert not _problems("sourdough", answer), _problems("sourdough", answer)

        driver.get(apps.b.url)  # B's Library: the article B never indexed itself, in the store it serves
        click_tab(driver, "Library")
        wait(driver, 60).until(
            lambda d: NEW_FILE in d.find_element(By.ID, "articles").text, "not listed in B"
        )
        rows = driver.find_element(By.ID, "articles").text
        assert "indexed" in rows.split(NEW_FILE, 1)[1].splitlines()[:4], rows
        assert "up to date: 3 articles" in " ".join(driver.find_element(By.ID, "library-status").text.split())
    finally:
        driver.quit()
    assert apps.a.proc.poll() is None and apps.b.proc.poll() is None


def test_200_questions_to_two_apps_while_rag_build_writes_the_store(apps: TwoApps):
    questions, requests, clients = _questions(), 200, 8
    work: queue.Queue[str] = queue.Queue()
    for i in range(requests):
        work.put(questions[i % len(questions)])
    deadline = time.monotonic() + CAP_SECONDS
    load, rebuilds = Load(), Rebuilds(apps.corpus, apps.corpus.parent / "unused", store=apps.dsn)
    builder = threading.Thread(target=rebuilds.loop, args=(deadline,), daemon=True)
    builder.start()  # another process adds an article and writes the store, again and again
    started, finished = ask_concurrently([apps.a.url, apps.b.url], work, load, deadline, clients)
    rebuilds.stop.set()
    builder.join(timeout=300)
    runs = rebuilds.runs

    served = len(load.latencies)
    p50 = statistics.median(load.latencies) if load.latencies else float("nan")
    p95 = statistics.quantiles(load.latencies, n=20)[-1] if served >= 2 else float("nan")
    overlapping = [r for r in runs if r[2] < finished and r[3] > started]
    print(
        f"\n{clients} clients on two apps, {requests} questions to /ask: served {served}, failed"
        f" {len(load.errors)}, malformed {len(load.malformed)}; p50 {p50 * 1000:.0f} ms, p95"
        f" {p95 * 1000:.0f} ms, wall {finished - started:.1f} s; rag build --store runs meanwhile:"
        f" {len(runs)} ({len(overlapping)} overlapping), exit codes {[r[0] for r in runs]}"
    )
    logs = f"A:\n{apps.a.output(2000)}\nB:\n{apps.b.output(2000)}"
    assert not load.errors, f"{len(load.errors)} requests failed, e.g. {load.errors[:3]}\n{logs}"
    assert not load.malformed, load.malformed[:5]
    assert served == requests, f"only {served}/{requests} answered within {CAP_SECONDS:.0f} s"
    assert overlapping, "no rebuild ran while the questions were being answered"
    assert all(r[0] == 0 for r in runs), [r[1][-2000:] for r in runs if r[0] != 0][:1]
    with PgStore(apps.dsn) as store:
        on_disk = len(list(apps.corpus.glob("*.*")))
        assert len(store.articles()) == on_disk, (len(store.articles()), on_disk)
    last = len(runs)  # garden-01.txt ... the last article the builds added
    for app in (apps.a, apps.b):  # the last article added is served by both, neither restarted
        # /article serves only articles of the snapshot the app answers from (404 otherwise); an app
        # looks at the store's generation at most once a second (Assistant.RECHECK_SECONDS), so the
        # last build may show a moment later
        page = _article_when_served(f"{app.url}/article?id=garden-{last:02d}", within=10.0)
        assert f"plant {last} once" in page
        assert app.proc.poll() is None, app.output(3000)


def _article_when_served(url: str, within: float) -> str:
    """The /article page once the app serves it (200), polled for `within` seconds; the last 404 raised."""
    deadline = time.monotonic() + within
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as page:
                return page.read().decode()
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
