"""For the PostgreSQL store's tests: made-up articles in numbered versions, and the child process that is
killed in the middle of a write (a transaction of its own, or a build into the store).

A version of an article is recognisable from any one of its passages (the version is in each chunk_id and
text), and versions have different passage counts, so a reader that saw a mix of two would notice.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from rag.index.pgstore import PgStore
from rag.index.pgwrite import ArticlePassages
from rag.types import Chunk

DIM = 64
EMBEDDER = {"name": "test-random", "dim": DIM, "fingerprint": "f" * 64, "precision": "fp32"}
CHUNKING = {"max_words": 160, "overlap_sentences": 1}


def article_version(article_id: str, version: int, seed: int = 0) -> ArticlePassages:
    """Version `version` of a made-up article: 3 + version passages, each naming the version."""
    n = 3 + version
    sentences = [f"Passage {i} of {article_id} in version {version} says nothing much. " for i in range(n)]
    text = "".join(sentences)
    chunks, start = [], 0
    for i, sentence in enumerate(sentences):
        end = start + len(sentence)
        body = text[start:end]
        chunks.append(Chunk(f"{article_id}#v{version}-{i}", article_id, f"{article_id}.txt", article_id, "",
                            start, end, body, body))  # fmt: skip
        start = end
    rng = np.random.default_rng(seed * 1000 + version)
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    facts = {"path": f"{article_id}.txt", "sha256": f"{version:064x}", "title": article_id}
    return ArticlePassages(article_id, facts, chunks, vectors)


def versions_seen(chunks: list[Chunk]) -> set[str]:
    """The versions a list of passages comes from ("v2", ...)."""
    return {c.chunk_id.split("#")[1].split("-")[0] for c in chunks}


def new_store(dsn: str) -> PgStore:
    store = PgStore(dsn)
    store.create(embedder=EMBEDDER, chunking=CHUNKING, pipeline=2)
    return store


def build_until_killed(dsn: str, corpus_dir: str, max_words: int = 160) -> None:
    """`rag build --store`'s build with the tests' hashing embedder, one article a transaction, passages of
    up to `max_words`, stopping (to be killed) inside the first write transaction, once its first article
    is written."""
    from pathlib import Path

    from rag.config import ChunkParams
    from rag.index.pgbuild import build_store

    from .conftest import HashingEmbedder

    def stop_in_the_write(fraction: float, stage: str) -> None:
        if stage.startswith("writing ") and stage != "writing the store":
            print("written", flush=True)
            time.sleep(120)

    with PgStore(dsn) as store:
        params = ChunkParams(max_words=max_words)
        build_store(
            Path(corpus_dir), store, HashingEmbedder(), params, on_progress=stop_in_the_write, batch=1
        )


if __name__ == "__main__" and sys.argv[1] == "build":
    build_until_killed(sys.argv[2], sys.argv[3], *map(int, sys.argv[4:5]))
elif __name__ == "__main__":
    # Killed by the test while its transaction is open: replaces "a" with version 2 and deletes "b".
    with PgStore(sys.argv[1]) as store, store.transaction() as tx:
        tx.replace_article(article_version("a", 2))
        tx.delete_article("b")
        print("written", flush=True)
        time.sleep(120)
