"""The app's and the commands' side of the PostgreSQL store, against a real server (pglocal.py): `rag info`
and `rag eval --store`, the Library's article states, the start-up check for articles changed while the
app was down (rebuilt in the background, waiting its turn behind another process's build), and the pool.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.assistant import Assistant
from rag.cli import main
from rag.config import Settings
from rag.errors import StoreError
from rag.index import pgpool
from rag.index.index_folder import load_index
from rag.index.pgstore import PgStore
from rag.web.library_tab import library_rows, library_status

from .conftest import ROOT
from .test_pgindex import QUESTIONS, copied

EDIT = "\n\nA later note: tomatoes want deep watering twice a week, never a little every day.\n"
NEW = "Garden Notes\n\nMulch keeps the soil of a vegetable bed moist and cool in a long dry summer.\n"


@pytest.fixture
def seeded(pg_dsn: str, seed_index: tuple[Path, Path], tmp_path: Path) -> Path:
    """A copy of the seed articles (to edit) and the store holding the seed index: up to date with it."""
    corpus_dir, index_dir = seed_index
    copy = tmp_path / "corpus"
    shutil.copytree(corpus_dir, copy)
    copied(pg_dsn, load_index(index_dir)).close()
    return copy


def _states(assistant: Assistant) -> dict[str, str]:
    return {row[0]: row[3] for row in library_rows(assistant)}


def test_rag_info_and_eval_read_the_store(pg_dsn, seeded, seed_index, tmp_path):
    """`rag info --store` says the store and its states against the corpus; `rag eval --store` scores the
    same as the folder index it was copied from; a store that cannot be reached is one line."""
    runner, store = CliRunner(), ["--corpus", str(seeded), "--store", pg_dsn]
    info = runner.invoke(main, ["info", *store])
    assert info.exit_code == 0, info.output
    assert info.output.startswith(f"index: the store at {pg_dsn} (format 2"), info.output
    assert "articles: 2, passages: 16" in info.output and f"up to date with {seeded}/" in info.output

    questions = tmp_path / "questions.jsonl"
    questions.write_text("".join((ROOT / "eval" / "queries.jsonl").read_text().splitlines(True)[:6]))
    scores = {}
    for name, where in (("folder", ["--index", str(seed_index[1])]), ("store", ["--store", pg_dsn])):
        run = runner.invoke(
            main, ["eval", str(questions), "--corpus", str(seeded), *where, "--json", "--out", str(tmp_path)]
        )
        assert run.exit_code == 0, run.output
        scores[name] = json.loads(run.output[run.output.index("{") :])["metrics"]
    assert scores["store"] == scores["folder"] and scores["store"]

    first, second = sorted(p.name for p in seeded.iterdir())
    with (seeded / first).open("a", encoding="utf-8") as f:
        f.write(EDIT)
    (seeded / "garden.txt").write_text(NEW, encoding="utf-8")
    stale = runner.invoke(main, ["info", *store])
    assert (
        "stale against" in stale.output and '1 new, 1 changed - run "rag build --store URL"' in stale.output
    )
    as_json = json.loads(runner.invoke(main, ["info", *store, "--json"]).output)
    assert (as_json["store"], as_json["new"], as_json["changed"]) == (pg_dsn, ["garden.txt"], [first])
    warned = runner.invoke(main, ["eval", str(questions), *store, "--out", str(tmp_path)])
    assert (
        f'warning: the store at {pg_dsn} is stale against {seeded}/ - run "rag build --store URL"'
        in warned.output
    )

    down = runner.invoke(
        main, ["info", "--corpus", str(seeded), "--store", "postgresql://rag:pw@127.0.0.1:1/rag"]
    )
    assert down.exit_code == 1 and down.output.startswith("index: cannot connect to PostgreSQL at")
    assert "pw" not in down.output and down.output.count("\n") == 1


def test_the_app_rebuilds_what_changed_while_it_was_down_in_the_background(pg_dsn, seeded, tmp_path):
    """At start the store serves at once; the articles are compared with it behind answers, the Library
    shows their states, and a rebuild into the store follows, waiting while another build holds the lock."""
    first, second = sorted(p.name for p in seeded.iterdir())
    with (seeded / first).open("a", encoding="utf-8") as f:
        f.write(EDIT)
    (seeded / "garden.txt").write_text(NEW, encoding="utf-8")
    assistant = Assistant(Settings(corpus_dir=seeded, index_dir=tmp_path / "unused", store=pg_dsn))
    said: list[str] = []
    assistant.ensure_index(said.append, said.append)
    assert not any("building" in line for line in said), said  # served as it is, nothing built first
    assert len(assistant.indexed_articles()) == 2
    assert _states(assistant) == {first: "changed", second: "indexed", "garden.txt": "new"}
    assert "Not indexed yet: 1 new, 1 changed, 0 removed" in library_status(assistant)

    with PgStore(pg_dsn) as other, other.build_lock():  # another process is building the store
        check = assistant.check_contents_later(said.append)
        assert check is not None
        check.join(timeout=60)
        assert assistant.checked_status is not None
        assert (assistant.checked_status.changed, assistant.checked_status.new) == ((first,), ("garden.txt",))
        deadline = time.monotonic() + 30
        while "waiting for another process" not in assistant.rebuild_state.stage:
            assert time.monotonic() < deadline, assistant.rebuild_state
            time.sleep(0.05)
        assert assistant.rebuild_state.running and not assistant.rebuild_state.error
    assistant.wait_for_rebuild()
    state = assistant.rebuild_state
    assert not state.error, state.error
    assert (
        state.report is not None and "1 added, 1 changed, 0 removed, 1 unchanged" in state.report.lines()[0]
    )
    assert _states(assistant) == {first: "indexed", second: "indexed", "garden.txt": "indexed"}
    assert "The index is up to date: 3 articles" in library_status(assistant)
    found = assistant.search("what keeps the soil of a vegetable bed moist?", k=3)
    assert found[0].chunk.path == "garden.txt"
    assert (seeded / "garden.txt").read_text(encoding="utf-8")[found[0].chunk.start : found[0].chunk.end]


def test_questions_share_a_pool_of_connections(pg_dsn, seeded, monkeypatch):
    """Four threads asking at once through a pool of two connections get what one thread gets; the
    server sees at most two connections of the app; a pool that stays busy fails in one line."""
    assistant = Assistant(Settings(corpus_dir=seeded, store=pg_dsn, pool_size=2))
    expected = {q: [p.chunk.chunk_id for p in assistant.search(q, k=5)] for q in QUESTIONS[:8]}
    got: dict[str, list[str]] = {}
    failures: list[BaseException] = []

    def ask(questions: list[str]) -> None:
        try:
            for q in questions:
                got[q] = [p.chunk.chunk_id for p in assistant.search(q, k=5)]
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=ask, args=(QUESTIONS[i:8:4] * 3,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures
    assert got == expected
    with PgStore(pg_dsn) as admin:
        database = pg_dsn.rsplit("/", 1)[1]
        row = admin.connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    assert 1 <= row[0] <= 2, row

    monkeypatch.setattr(pgpool, "WAIT_SECONDS", 0.5)
    pool = pgpool.PgPool(pg_dsn, 1)
    try:
        with pool.store(), pytest.raises(StoreError) as busy, pool.store():
            pass
        assert "all 1 connections to the store" in str(busy.value) and "--pool-size" in str(busy.value)
        with pool.store() as store:  # given back: lent again
            assert store.generation() >= 0
    finally:
        pool.close()
