"""The PostgreSQL store against a real PostgreSQL with pgvector (started from the `postgres` extra's wheel):
the seed corpus round trip with exact citations and the folder index's dense top-5, atomic article
replacement under a concurrent reader, writers serialised by the advisory lock, a killed writer, bad input.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from rag.config import ChunkParams
from rag.errors import BuildLockedError, StoreError
from rag.index import pglocal
from rag.index.index_folder import load_index
from rag.index.pgfulltext import hybrid_search, keyword_search
from rag.index.pgstore import PgStore
from rag.index.pgwrite import from_corpus

from .conftest import ROOT, SEED_FILES
from .pg_support import CHUNKING, EMBEDDER, article_version, new_store, versions_seen


def test_seed_corpus_round_trip_cites_exactly_and_ranks_like_the_folder_index(
    pg_dsn, real_embedder, seed_index
):
    corpus_dir, index_dir = seed_index
    articles = from_corpus(corpus_dir, real_embedder, ChunkParams())
    with PgStore(pg_dsn) as store:
        store.create(
            embedder={"name": real_embedder.name, "dim": real_embedder.dim,
                      "fingerprint": real_embedder.fingerprint, "precision": "fp32"},
            chunking=ChunkParams().to_json(), pipeline=2,
        )  # fmt: skip
        assert store.write_articles(articles, batch=1) == len(SEED_FILES)
        folder = load_index(index_dir)
        assert store.count() == len(folder.chunks)
        assert store.articles() == folder.manifest.to_json()["articles"]
        for item in articles:
            stored = store.article_chunks(item.article_id)
            assert stored == list(item.chunks)
            original = (corpus_dir / item.facts["path"]).read_bytes().decode("utf-8")
            assert all(c.text == original[c.start : c.end] for c in stored)
        manifest = store.manifest()
        assert manifest["embedder"]["fingerprint"] == real_embedder.fingerprint
        assert manifest["counts"] == folder.manifest.to_json()["counts"]
        queries = [json.loads(line)["question"] for line in (ROOT / "eval" / "queries.jsonl").open()][:20]
        vectors = real_embedder.embed(queries)
        _, rows = folder.dense_search(vectors, 5)
        for q, v, top in zip(queries, vectors, rows, strict=True):
            want = [folder.chunks[int(r)].chunk_id for r in top]
            assert [h.chunk.chunk_id for h in store.dense_search(v, 5)] == want, q
        hits = keyword_search(store, "clingy space desire", 5)
        assert hits and all(h.score > 0 for h in hits)
        assert len(hybrid_search(store, vectors[0], queries[0], 5)) == 5


def test_a_reader_sees_an_article_whole_while_it_is_replaced(pg_dsn):
    with new_store(pg_dsn) as writer, PgStore(pg_dsn) as reader:
        writer.write_articles([article_version("a", 1), article_version("b", 1)])
        stop, seen, errors = threading.Event(), [], []

        def read() -> None:
            try:
                while not stop.is_set():
                    chunks = reader.article_chunks("a")
                    seen.append((len(chunks), versions_seen(chunks)))
                    hits = keyword_search(reader, "passage version", 50)
                    seen.append((len([h for h in hits if h.chunk.article_id == "a"]),
                                 versions_seen([h.chunk for h in hits if h.chunk.article_id == "a"])))  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        thread = threading.Thread(target=read)
        thread.start()
        for n in range(40):
            writer.write_articles([article_version("a", 2 + n % 3)])
        stop.set()
        thread.join()
    assert not errors
    assert len(seen) > 10
    for count, versions in seen:
        assert len(versions) == 1, versions
        assert count == 3 + int(next(iter(versions))[1:])


def test_two_writers_queue_on_the_advisory_lock(pg_dsn):
    with new_store(pg_dsn) as first, new_store(pg_dsn) as second:
        first.write_articles([article_version("a", 1)])
        generation = first.generation()
        holding, release, done = threading.Event(), threading.Event(), threading.Event()

        def slow_writer() -> None:
            with first.transaction() as tx:
                tx.replace_article(article_version("a", 2))
                holding.set()
                release.wait(30)

        def other_writer() -> None:
            second.write_articles([article_version("a", 3), article_version("b", 3)])
            done.set()

        a = threading.Thread(target=slow_writer)
        a.start()
        assert holding.wait(30)
        b = threading.Thread(target=other_writer)
        b.start()
        with PgStore(pg_dsn) as watcher:
            for _ in range(100):  # the second writer is waiting for the advisory lock, not done
                waiting = watcher._conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()[0]
                if waiting:
                    break
                time.sleep(0.05)
            assert waiting == 1 and not done.is_set()
            assert versions_seen(watcher.article_chunks("a")) == {"v1"}  # nothing of either is visible
            release.set()
            a.join()
            b.join()
            assert versions_seen(watcher.article_chunks("a")) == {"v3"}
            assert versions_seen(watcher.article_chunks("b")) == {"v3"}
            assert watcher.generation() == generation + 2


def test_a_second_build_refuses_at_once(pg_dsn):
    refused = pytest.raises(BuildLockedError, match="another build of the store .* is running")
    with (
        new_store(pg_dsn) as first,
        new_store(pg_dsn) as second,
        first.build_lock(),
        refused,
        second.build_lock(),
    ):
        pass
    with new_store(pg_dsn) as third, third.build_lock():
        pass  # released when the first build ended


def test_a_writer_killed_mid_transaction_leaves_the_previous_state(pg_dsn):
    with new_store(pg_dsn) as store:
        store.write_articles([article_version("a", 1), article_version("b", 1)])
        before = store.manifest()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.pg_support", pg_dsn],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout is not None and child.stdout.readline().strip() == "written"
            assert versions_seen(store.article_chunks("a")) == {"v1"}  # not committed: not visible
            child.send_signal(signal.SIGKILL)
            child.wait(30)
        finally:
            child.kill()
        assert versions_seen(store.article_chunks("a")) == {"v1"}
        assert versions_seen(store.article_chunks("b")) == {"v1"}
        assert store.manifest() == before
        store._conn.execute("SET lock_timeout = '20s'")  # the server ended the dead writer's transaction
        store.write_articles([article_version("a", 4)])
        assert versions_seen(store.article_chunks("a")) == {"v4"}


def test_delete_article_and_generation(pg_dsn):
    with new_store(pg_dsn) as store:
        store.write_articles([article_version("a", 1), article_version("b", 1)])
        generation = store.generation()
        assert store.delete_article("a") and not store.delete_article("a")
        assert store.article_chunks("a") == [] and set(store.articles()) == {"b"}
        assert store.count() == 4 and store.generation() == generation + 2


def test_dense_search_matches_brute_force(pg_dsn):
    items = [article_version(f"art{i}", i % 4, seed=i) for i in range(30)]
    with new_store(pg_dsn) as store:
        with store.bulk_load():  # the HNSW index is built once at the end
            store.write_articles(items, batch=7)
        indexes = store._conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'rag_passages'")
        assert "rag_passages_hnsw" in {name for (name,) in indexes.fetchall()}
        chunks = [c for item in items for c in item.chunks]
        vectors = np.concatenate([item.vectors for item in items])
        rng = np.random.default_rng(1)
        for q in rng.normal(size=(10, vectors.shape[1])).astype(np.float32):
            q /= np.linalg.norm(q)
            exact = np.argsort(-(vectors @ q), kind="stable")[:10]
            hits = store.dense_search(q, 10)
            assert [h.chunk.chunk_id for h in hits] == [chunks[i].chunk_id for i in exact]
            assert np.allclose([h.score for h in hits], (vectors @ q)[exact], atol=1e-5)
            assert np.allclose(store.vectors([h.row for h in hits]), vectors[exact])


def test_bad_connection_strings_are_one_line_errors(pg_server):
    for dsn in ("postgresql://reader:s3cret@127.0.0.1:1/rag", "not a connection string",
                f"postgresql://postgres@{pg_server.dsn().split('@')[1].split('/')[0]}/no_such_db"):  # fmt: skip
        with pytest.raises(StoreError) as caught:
            PgStore(dsn)
        message = str(caught.value)
        assert "\n" not in message and "s3cret" not in message
        assert (
            message.startswith("cannot connect to PostgreSQL at ")
            and "check the connection string" in message
        )


def test_an_empty_store_and_another_model_are_refused(pg_dsn):
    with PgStore(pg_dsn) as store:
        with pytest.raises(StoreError, match="is empty - build it first"):
            store.dense_search(np.ones(4, np.float32), 3)
        store.create(embedder=EMBEDDER, chunking=CHUNKING, pipeline=2)
        other = {**EMBEDDER, "name": "other-model", "fingerprint": "0" * 64}
        with pytest.raises(StoreError, match="holds passages of test-random .* this build uses other-model"):
            store.create(embedder=other, chunking=CHUNKING, pipeline=2)


def test_the_local_server_is_gone_after_stop():
    server = pglocal.start()
    with PgStore(server.dsn()) as store:
        assert store._conn.execute("SELECT 1").fetchone()[0] == 1
    pglocal.stop(server)
    assert not server.base_dir.exists()
    with pytest.raises(StoreError):
        PgStore(server.dsn())
