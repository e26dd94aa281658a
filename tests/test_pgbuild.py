"""`rag build --store` (pgbuild.build_store) against a real PostgreSQL: the folder build's plan, only changed
articles written and only their new passages embedded, removed articles deleted, a killed build leaving the
previous state answering, a second build refused, another chunking rewriting the store whole; and the CLI
built store answering as the folder index does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.config import ChunkParams
from rag.errors import BuildLockedError
from rag.index.build import build
from rag.index.index_folder import load_index
from rag.index.pgbuild import build_store
from rag.index.pgindex import PgIndex
from rag.index.pgstore import PgStore
from rag.search.retrieve import Retriever

from .conftest import ROOT, HashingEmbedder

QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "eval" / "queries.jsonl").open()]
ADDED = "\n\nA zebra named Quillon reads every xylophone manual twice before breakfast.\n"


def rows_of(store: PgStore, article_id: str) -> list[tuple[int, str, str]]:
    """(row id, chunk_id, text) of the article's passages in the store, in order."""
    return store.connection.execute(
        "SELECT id, chunk_id, text FROM rag_passages WHERE article_id = %s ORDER BY ord", (article_id,)
    ).fetchall()


def wait_for_the_killed_session(store: PgStore) -> None:
    """Until the server has ended a killed build's session, which releases its build lock."""
    import time

    deadline = time.monotonic() + 30
    held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
    while store.connection.execute(held).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.1)


def article_of(index: PgIndex, path: str) -> str:
    return next(aid for aid, record in index.manifest.articles.items() if record.path == path)


def test_a_store_built_from_the_corpus_holds_what_the_folder_build_holds(pg_dsn, corpus, hasher, tmp_path):
    folder_report = build(corpus, tmp_path / "index", HashingEmbedder(), ChunkParams())
    folder = load_index(tmp_path / "index")
    with PgStore(pg_dsn) as store:
        report = build_store(corpus, store, hasher, ChunkParams(), batch=1)
        assert report.wrote and "is empty" in report.full_rebuild and report.transactions == 2
        assert report.added == folder_report.added and report.embedded == folder_report.embedded
        assert report.sentences == folder_report.sentences
        pg = PgIndex.load(store)
        assert list(pg.chunks) == list(folder.chunks)
        assert pg.manifest.articles == folder.manifest.articles
        assert np.array_equal(pg.exact.take(np.arange(len(pg.chunks))), folder.all_vectors())
        over_pg, over_folder = (Retriever(i, hasher, corpus) for i in (pg, folder))
        for q in QUESTIONS[:30]:
            a, b = over_pg.search(q, 5), over_folder.search(q, 5)
            assert [p.chunk.chunk_id for p in a] == [p.chunk.chunk_id for p in b], q
        hasher.calls.clear()
        again = build_store(corpus, store, hasher, ChunkParams())
        assert again.up_to_date and not again.wrote and hasher.calls == []
        assert store.generation() == pg.generation  # nothing written
        assert "index is up to date" in again.lines()[-1]


def test_one_changed_article_is_all_that_is_written_and_embedded(pg_dsn, corpus, hasher, tmp_path):
    build(corpus, tmp_path / "index", HashingEmbedder(), ChunkParams())
    with PgStore(pg_dsn) as store:
        build_store(corpus, store, hasher, ChunkParams())
        before = PgIndex.load(store)
        first, second = sorted(corpus.iterdir())
        changed, kept = article_of(before, first.name), article_of(before, second.name)
        kept_rows, old_rows = rows_of(store, kept), rows_of(store, changed)
        with first.open("a", encoding="utf-8") as f:
            f.write(ADDED)
        hasher.calls.clear()
        report = build_store(corpus, store, hasher, ChunkParams())
        folder_report = build(corpus, tmp_path / "index", HashingEmbedder(), ChunkParams())
        assert report.changed == (changed,) and report.unchanged == (kept,) and not report.full_rebuild
        assert "articles: 0 added, 1 changed, 0 removed, 1 unchanged" in report.lines()[0]
        assert report.transactions == 1 and report.embedded == folder_report.embedded
        new_rows = rows_of(store, changed)
        old_texts = {text for _, _, text in old_rows}
        fresh_texts = [text for _, _, text in new_rows if text not in old_texts]
        assert 0 < report.embedded == len(fresh_texts) < len(new_rows)
        embedded_passages = hasher.calls[0]  # the passages first, then their sentences
        assert len(embedded_passages) == report.embedded and all("Quillon" in t for t in embedded_passages)
        assert rows_of(store, kept) == kept_rows  # the other article's rows untouched: same ids
        after = PgIndex.load(store)
        assert list(after.chunks) == list(load_index(tmp_path / "index").chunks)
        hits = Retriever(after, hasher, corpus).search("zebra Quillon xylophone", 3, mode="keyword")
        assert hits[0].chunk.article_id == changed and "Quillon" in hits[0].chunk.text
        original = first.read_text(encoding="utf-8")
        assert original[hits[0].chunk.start : hits[0].chunk.end] == hits[0].chunk.text


def test_a_removed_article_leaves_no_rows(pg_dsn, corpus, hasher):
    with PgStore(pg_dsn) as store:
        build_store(corpus, store, hasher, ChunkParams())
        first, second = sorted(corpus.iterdir())
        gone = article_of(PgIndex.load(store), first.name)
        first.unlink()
        report = build_store(corpus, store, hasher, ChunkParams())
        assert report.removed == (gone,) and report.embedded == 0 and report.transactions == 1
        pg = PgIndex.load(store)
        assert pg.sentences is not None
        assert report.sentences == sum(len(pg.sentences.passage(r)[0]) for r in range(len(pg.chunks))) > 0
        assert rows_of(store, gone) == [] and gone not in store.articles()
        count = store.connection.execute("SELECT count(*) FROM rag_sentences").fetchone()[0]
        assert count == store.count() == len(PgIndex.load(store).chunks)


def test_a_renamed_article_embeds_nothing(pg_dsn, corpus, hasher):
    with PgStore(pg_dsn) as store:
        build_store(corpus, store, hasher, ChunkParams())
        first = sorted(corpus.iterdir())[0]
        first.rename(corpus / "renamed.txt")
        hasher.calls.clear()
        report = build_store(corpus, store, hasher, ChunkParams())
        assert len(report.renamed) == 1 and report.embedded == 0 and hasher.calls == []
        assert {r.path for r in PgIndex.load(store).manifest.articles.values()} >= {"renamed.txt"}


def test_another_chunking_rewrites_the_store_in_one_transaction(pg_dsn, corpus, hasher):
    with PgStore(pg_dsn) as store:
        build_store(corpus, store, hasher, ChunkParams())
        generation = store.generation()
        smaller = ChunkParams(max_words=60)
        report = build_store(corpus, store, hasher, smaller)
        assert report.full_rebuild.startswith("chunking changed (max_words 160 -> 60")
        assert report.transactions == 1 and store.generation() == generation + 1
        pg = PgIndex.load(store)
        assert pg.manifest.chunking == smaller and all(len(c.text.split()) <= 80 for c in pg.chunks)
        assert build_store(corpus, store, hasher, smaller).up_to_date
        other = HashingEmbedder(dim=32, name="other-hashing")
        report = build_store(corpus, store, other, smaller)
        assert report.full_rebuild == "model changed (test-hashing -> other-hashing)"
        assert report.embedded == report.passages == len(PgIndex.load(store).chunks)
        assert store.dim() == 32 and PgIndex.load(store).manifest.embedder.name == "other-hashing"


def _build_in_a_child(pg_dsn: str, corpus: Path, *max_words: str) -> subprocess.Popen[str]:
    """A build into the store in another process (tests/pg_support.py), which prints "written" once a
    transaction is under way; `max_words`: another chunking, so that it rewrites the store."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.pg_support", "build", pg_dsn, str(corpus), *max_words],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )


def test_a_rewrite_killed_mid_write_leaves_the_previous_collection(pg_dsn, corpus, hasher):
    """Another chunking rewrites the store in one transaction (tables dropped and made again): killed
    inside it, the server rolls all of it back."""
    with PgStore(pg_dsn) as store:
        build_store(corpus, store, hasher, ChunkParams())
        chunks, meta = list(PgIndex.load(store).chunks), store.meta()
        child = _build_in_a_child(pg_dsn, corpus, "60")
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "written"
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            child.kill()
        store.connection.execute("SET lock_timeout = '20s'")  # until the server has ended the dead session
        assert store.meta() == meta and list(PgIndex.load(store).chunks) == chunks
        wait_for_the_killed_session(store)
        assert build_store(corpus, store, hasher, ChunkParams(max_words=60)).full_rebuild


def test_a_build_killed_mid_write_leaves_the_previous_state_answering(pg_dsn, corpus, hasher):
    with PgStore(pg_dsn) as store:
        build_store(corpus, store, hasher, ChunkParams())
        before = PgIndex.load(store)
        chunks, facts = list(before.chunks), store.articles()
        for path in corpus.iterdir():
            with path.open("a", encoding="utf-8") as f:
                f.write(ADDED)
        child = _build_in_a_child(pg_dsn, corpus)
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "written"
            with pytest.raises(BuildLockedError, match=r"another build .* is running \(server pid \d+\)"):
                build_store(corpus, store, hasher, ChunkParams())
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            child.kill()
        assert store.articles() == facts and not before.stale()
        still = PgIndex.load(store)
        assert list(still.chunks) == chunks
        hits = Retriever(still, hasher, corpus).search("zebra Quillon xylophone", 3, mode="keyword")
        assert all("Quillon" not in p.chunk.text for p in hits)
        wait_for_the_killed_session(store)
        report = build_store(corpus, store, hasher, ChunkParams())
        assert len(report.changed) == 2 and report.wrote


@pytest.mark.slow
def test_rag_build_store_then_ask_answers_like_the_folder_index(pg_dsn, seed_index, tmp_path, monkeypatch):
    """The CLI end to end with the real model: `rag build --store`, then `rag ask --store` gives the folder
    index's answers; a second build while one holds the store's lock is refused in one line."""
    corpus_dir, _ = seed_index  # built once with the real model: the question model is exported
    runner = CliRunner()
    folders = ["--corpus", str(corpus_dir), "--index", str(tmp_path / "index")]
    warm = ["--corpus", str(corpus_dir), "--index", str(tmp_path / "warm"), "--precision", "fp32"]
    assert runner.invoke(main, ["build", *warm]).exit_code == 0  # exports the question model: both
    for store in (["--store", pg_dsn], []):  # builds below embed through it
        built = runner.invoke(main, ["build", *folders, *store, "--precision", "fp32", "--json"])
        assert built.exit_code == 0, built.output
        assert json.loads(built.output)["wrote"] and json.loads(built.output)["store"] == (
            "the store at " + pg_dsn if store else ""
        )
    for q in QUESTIONS[:3]:
        from_folder = runner.invoke(main, ["ask", "--json", q, *folders])
        from_store = runner.invoke(main, ["ask", "--json", q, *folders, "--store", pg_dsn])
        assert from_folder.exit_code == from_store.exit_code == 0, from_store.output
        a, b = json.loads(from_folder.output), json.loads(from_store.output)
        a.pop("seconds"), b.pop("seconds")
        assert a == b
    monkeypatch.setenv("RAG_STORE", pg_dsn)
    again = runner.invoke(main, ["build", *folders, "--precision", "fp32"])
    assert again.exit_code == 0 and "index is up to date" in again.output, again.output
    with PgStore(pg_dsn) as holder, holder.build_lock():
        refused = runner.invoke(main, ["build", *folders, "--precision", "fp32"])
    assert refused.exit_code == 1 and refused.output.count("\n") == 1
    assert (
        refused.output.startswith("Error: another build of the store at ") and "server pid" in refused.output
    )


def test_dry_run_writes_nothing(pg_dsn, corpus, hasher):
    with PgStore(pg_dsn) as store:
        report = build_store(corpus, store, hasher, ChunkParams(), dry_run=True)
        assert report.dry_run and not report.wrote and report.embedded == report.passages > 0
        assert store.meta() == {}
        build_store(corpus, store, hasher, ChunkParams())
        Path(sorted(corpus.iterdir())[0]).write_text("A new text about nothing in particular.\n", "utf-8")
        generation = store.generation()
        report = build_store(corpus, store, hasher, ChunkParams(), dry_run=True)
        assert len(report.changed) == 1 and report.embedded == 1 and store.generation() == generation


def test_the_apps_rebuild_writes_the_store_and_serves_the_new_article(pg_dsn, seed_index, tmp_path):
    """The app with a store: an empty store is built at start (ensure_index), and the background rebuild
    (Assistant.build) writes a new article, answered from the store without a restart."""
    import shutil
    from dataclasses import replace

    from rag.assistant import Assistant
    from rag.config import Settings

    shutil.copytree(seed_index[0], tmp_path / "corpus")
    settings = replace(Settings(), corpus_dir=tmp_path / "corpus", store=pg_dsn, precision="fp32")
    assistant = Assistant(settings)
    said: list[str] = []
    assistant.ensure_index(said.append, said.append)  # the app's start: an empty store is built
    assert said[0].endswith("is empty - building") and "2 added" in said[2], said
    assistant.RECHECK_SECONDS = 0.0
    assert not any("Zanzibarian" in p.chunk.text for p in assistant.search("Zanzibarian kite", k=3))
    (tmp_path / "corpus" / "kites.md").write_text(
        "# Kites\n\nA Zanzibarian kite needs steady wind. It flies highest at dusk.\n", encoding="utf-8"
    )
    assert assistant.start_rebuild()
    assistant.wait_for_rebuild()
    state = assistant.rebuild_state
    assert state.error == "" and state.report is not None and len(state.report.added) == 1
    assert state.report.transactions == 1 and state.report.embedded == 1
    hits = assistant.search("Zanzibarian kite", k=3, mode="keyword")
    assert hits and "Zanzibarian" in hits[0].chunk.text
