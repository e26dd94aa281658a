"""The PostgreSQL store behind the retriever (pgindex.PgIndex), against the folder index on the same passages:
a folder index copied into a real PostgreSQL with pgvector (pgwrite.from_index) ranks, scores, restricts to
one article, stores sentences and answers as the folder index does; citations slice the article exactly;
a snapshot notices writes (generation) and a passage deleted under it is a one-line error.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from rag.answer.ask import ask
from rag.assistant import Assistant
from rag.cli import main
from rag.config import ChunkParams, Settings
from rag.errors import StoreError
from rag.index.build import build
from rag.index.index_folder import LoadedIndex, load_index
from rag.index.pgindex import PgIndex
from rag.index.pgstore import PgStore
from rag.index.pgwrite import from_corpus, from_index
from rag.search.retrieve import Retriever

from .conftest import ROOT

QUESTIONS = [json.loads(line)["question"] for line in (ROOT / "eval" / "queries.jsonl").open()]


def copied(dsn: str, index: LoadedIndex) -> PgStore:
    """A store holding the folder index's passages, vectors, tokens and sentences."""
    store = PgStore(dsn)
    m = index.manifest
    store.create(embedder=m.embedder.to_json(), chunking=m.chunking.to_json(), pipeline=m.pipeline)
    store.write_articles(from_index(index), batch=1)
    return store


def top(retriever: Retriever, question: str, k: int = 5, **kw) -> list[tuple[str, float]]:
    return [(p.chunk.chunk_id, p.score) for p in retriever.search(question, k, **kw)]


def test_the_store_holds_what_the_folder_index_holds_row_for_row(pg_dsn, corpus, hasher, tmp_path):
    build(corpus, tmp_path / "index", hasher, ChunkParams())
    folder = load_index(tmp_path / "index")
    with copied(pg_dsn, folder) as store:
        pg = PgIndex.load(store)
        assert list(pg.chunks) == list(folder.chunks)
        assert [pg.chunks[i] for i in range(len(folder.chunks))] == list(folder.chunks)
        assert pg.manifest.articles == folder.manifest.articles
        assert pg.manifest.embedder == folder.manifest.embedder
        rows = np.arange(len(folder.chunks))
        assert np.array_equal(pg.exact.take(rows[::-1]), folder.exact.take(rows[::-1]))
        assert pg.sentences is not None and folder.sentences is not None
        for row in rows.tolist():
            (a_spans, a_vectors), (b_spans, b_vectors) = (
                pg.sentences.passage(row),
                folder.sentences.passage(row),
            )
            assert a_spans == b_spans and np.array_equal(a_vectors, b_vectors)
        within = rows[len(rows) // 2 :]
        for q in QUESTIONS[:40]:
            for restrict in (None, within):  # BM25 from the stored tokens: the very same scores
                a, b = pg.keyword.search(q, 50, restrict), folder.keyword.search(q, 50, restrict)
                assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), q
            qv = hasher.embed([q])
            (a_scores, a_rows), (b_scores, b_rows) = pg.dense_search(qv, 8), folder.dense_search(qv, 8)
            assert np.array_equal(a_rows, b_rows) and np.allclose(a_scores, b_scores, atol=1e-6), q
        over_pg, over_folder = (Retriever(i, hasher, corpus) for i in (pg, folder))
        article = next(iter(folder.manifest.articles))
        for q in QUESTIONS[:40]:
            a, b = top(over_pg, q), top(over_folder, q)
            assert [x for x, _ in a] == [x for x, _ in b], q
            assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5), q
            assert [x for x, _ in top(over_pg, q, article=article)] == [
                x for x, _ in top(over_folder, q, article=article)
            ]


def test_a_snapshot_sees_writes_through_generation(pg_dsn, corpus, hasher, tmp_path):
    build(corpus, tmp_path / "index", hasher, ChunkParams())
    folder = load_index(tmp_path / "index")
    with copied(pg_dsn, folder) as store:
        pg = PgIndex.load(store)
        assert not pg.stale()
        gone = next(iter(folder.manifest.articles))
        row = next(i for i, c in enumerate(folder.chunks) if c.article_id == gone)
        assert store.delete_article(gone)
        assert pg.stale()
        with pytest.raises(StoreError, match="changed while this question was answered - ask again"):
            pg.chunks[row]  # noqa: B018 - read from the store, deleted since the snapshot
        with pytest.raises(StoreError, match="ask again"):
            pg.exact.take(np.array([row]))
        fresh = PgIndex.load(store)
        assert not fresh.stale() and gone not in fresh.manifest.articles
        assert all(c.article_id != gone for c in fresh.chunks)
        assert len(fresh.keyword) == len(fresh.chunks) == fresh.manifest.chunk_count
        qv = hasher.embed([QUESTIONS[0]])
        _, rows = pg.dense_search(qv, len(folder.chunks))  # the old snapshot: its own rows, none of the new
        assert set(rows[0][rows[0] >= 0].tolist()) <= set(range(len(folder.chunks)))


def test_a_store_written_from_the_corpus_has_tokens_and_sentences(pg_dsn, corpus, hasher, tmp_path):
    build(corpus, tmp_path / "index", hasher, ChunkParams())
    folder = load_index(tmp_path / "index")
    with PgStore(pg_dsn) as store:
        store.create(
            embedder={"name": hasher.name, "dim": hasher.dim, "fingerprint": hasher.fingerprint},
            chunking=ChunkParams().to_json(),
            pipeline=folder.manifest.pipeline,
        )
        store.write_articles(from_corpus(corpus, hasher, ChunkParams()))
        pg = PgIndex.load(store)
        assert list(pg.chunks) == list(folder.chunks)
        assert pg.sentences is not None and folder.sentences is not None
        for row in range(len(folder.chunks)):
            assert pg.sentences.passage(row)[0] == folder.sentences.passage(row)[0]
        for q in QUESTIONS[:20]:
            a, b = pg.keyword.search(q, 50), folder.keyword.search(q, 50)
            assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]), q


def test_the_retriever_over_the_store_answers_as_over_the_folder_index(pg_dsn, real_embedder, seed_index):
    """All committed questions: identical top-5 passages (exact dense search below the folder index's HNSW
    threshold, BM25 from the stored tokens), identical answers, citations that slice the article."""
    corpus_dir, index_dir = seed_index
    folder = load_index(index_dir)
    with copied(pg_dsn, folder) as store:
        over_folder = Retriever.over(folder, corpus_dir)
        over_pg = Retriever.over(PgIndex.load(store), corpus_dir)
        differ = []
        for q in QUESTIONS:
            a, b = top(over_pg, q), top(over_folder, q)
            if [x for x, _ in a] != [x for x, _ in b] or not np.allclose(
                [s for _, s in a], [s for _, s in b]
            ):
                differ.append((q, a, b))
            for p in over_pg.search(q, 5):
                original = (corpus_dir / p.chunk.path).read_bytes().decode("utf-8")
                assert original[p.chunk.start : p.chunk.end] == p.chunk.text
        assert not differ, (
            f"top 5 identical for {len(QUESTIONS) - len(differ)} of {len(QUESTIONS)}: {differ[:3]}"
        )
        for q in QUESTIONS[:30]:
            a, b = ask(over_pg, q).answer, ask(over_folder, q).answer
            assert a.sentences == b.sentences and a.abstained == b.abstained, q
            assert [(s.passage.chunk.chunk_id, s.quotes) for s in a.sources] == [
                (s.passage.chunk.chunk_id, s.quotes) for s in b.sources
            ], q
            for source in a.sources:
                original = (corpus_dir / source.passage.chunk.path).read_bytes().decode("utf-8")
                assert all(original[x:y] in source.passage.chunk.text for x, y in source.quotes)


def test_rag_search_and_ask_read_the_store_it_is_given(pg_dsn, seed_index, monkeypatch):
    """`--store` / RAG_STORE through the CLI: the same output as from the folder; a write to the store is
    served without a restart; `rag build` writes the store (only the article deleted from it); a store that cannot be reached is one line."""
    corpus_dir, index_dir = seed_index
    with copied(pg_dsn, load_index(index_dir)) as store:
        runner, folders = CliRunner(), ["--corpus", str(corpus_dir), "--index", str(index_dir)]
        for command in (["search", "--json"], ["ask", "--json"]):
            for q in QUESTIONS[:3]:
                from_folder = runner.invoke(main, [*command, q, *folders])
                from_store = runner.invoke(main, [*command, q, *folders, "--store", pg_dsn])
                assert from_folder.exit_code == from_store.exit_code == 0, from_store.output
                a, b = json.loads(from_folder.output), json.loads(from_store.output)
                if command[0] == "ask":  # all but each run's timing
                    a.pop("seconds"), b.pop("seconds")
                assert a == b
        assistant = Assistant(Settings(corpus_dir=corpus_dir, store=pg_dsn))
        assistant.RECHECK_SECONDS = 0.0
        gone = next(iter(assistant.indexed_articles()))
        assert any(p.chunk.article_id == gone for p in assistant.search(QUESTIONS[0], k=20))
        assert store.delete_article(gone)
        assert gone not in assistant.indexed_articles()  # the next question sees the new generation
        assert all(p.chunk.article_id != gone for p in assistant.search(QUESTIONS[0], k=20))
        monkeypatch.setenv("RAG_STORE", pg_dsn)
        built = runner.invoke(main, ["build", *folders])  # into the store: the deleted article comes back
        assert built.exit_code == 0 and "1 added, 0 changed, 0 removed, 1 unchanged" in built.output
        assert gone in assistant.indexed_articles()  # served at once, without a restart
    monkeypatch.delenv("RAG_STORE")
    unreachable = runner.invoke(
        main, ["search", "x", *folders, "--store", "postgresql://rag:pw@127.0.0.1:1/rag"]
    )
    assert unreachable.exit_code == 1 and unreachable.output.startswith("Error: cannot connect to PostgreSQL")
    assert "pw" not in unreachable.output and unreachable.output.count("\n") == 1
