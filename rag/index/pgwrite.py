"""Writes to the PostgreSQL store: what replaces one article, and the statements of a write transaction.

`ArticlePassages` is one article's facts, passages and vectors, made from a corpus (`from_corpus`, read and
chunked by the folder build's own plan, then embedded) or from a loaded folder index (`from_index`, its
vectors copied, nothing embedded). `Writer` runs inside `PgStore.transaction()` (pgstore.py), which holds
the writers' advisory lock and bumps the store's generation on commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import ChunkParams
from ..types import Chunk
from .embed import Embedder

_COPY_TYPES = ["text", "text", "int4", "text", "text", "text", "int4", "int4", "text", "text", "vector"]


@dataclass(frozen=True)
class ArticlePassages:
    """What replaces one article in the store: its manifest facts, passages and their vectors."""

    article_id: str
    facts: dict[str, Any]  # path, sha256, title, ... (the manifest's per-article entry)
    chunks: Sequence[Chunk]
    vectors: np.ndarray = field(repr=False)


def from_corpus(corpus_dir: Path, embedder: Embedder, params: ChunkParams) -> list[ArticlePassages]:
    """Every article of the corpus read and chunked by the folder build's own plan, then embedded."""
    from ..ingest.read import discover
    from .plan import plan_build  # the folder build's own reading and chunking, not a copy

    plan = plan_build(corpus_dir, discover(corpus_dir), None, params, incremental=False)
    parts = [p for p in plan.parts if not isinstance(p, str)]  # with no previous index, all are chunk lists
    vectors = embedder.embed([c.embed_text for part in parts for c in part]) if parts else np.zeros((0, 0))
    out, at = [], 0
    for (aid, facts), chunks in zip(plan.articles.items(), parts, strict=True):
        out.append(ArticlePassages(aid, facts.to_json(), chunks, vectors[at : at + len(chunks)]))
        at += len(chunks)
    return out


def from_index(index: Any) -> Iterator[ArticlePassages]:
    """The articles of a loaded index folder (index_folder.LoadedIndex) with its own vectors: copies a folder
    index into the store without embedding anything again."""
    vectors, articles = index.all_vectors(), index.manifest.articles
    start = 0
    chunks = list(index.chunks)
    while start < len(chunks):
        end = start
        while end < len(chunks) and chunks[end].article_id == chunks[start].article_id:
            end += 1
        aid = chunks[start].article_id
        yield ArticlePassages(aid, articles[aid].to_json(), chunks[start:end], vectors[start:end])
        start = end


class Writer:
    """The statements of one write transaction (made by PgStore.transaction())."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    def replace_article(self, item: ArticlePassages) -> None:
        """Put the article's passages in place of the ones it had (if any)."""
        from psycopg.types.json import Jsonb

        if len(item.chunks) != len(item.vectors):
            raise ValueError(
                f"{item.article_id}: {len(item.vectors)} vectors for {len(item.chunks)} passages"
            )
        facts = {k: v for k, v in item.facts.items() if k != "chunks"}
        self._conn.execute("DELETE FROM rag_passages WHERE article_id = %s", (item.article_id,))
        self._conn.execute(
            "INSERT INTO rag_articles (article_id, path, sha256, facts, passages) VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (article_id) DO UPDATE SET path = EXCLUDED.path, sha256 = EXCLUDED.sha256,"
            " facts = EXCLUDED.facts, passages = EXCLUDED.passages",
            (item.article_id, facts["path"], facts["sha256"], Jsonb(facts), len(item.chunks)),
        )
        vectors = np.asarray(item.vectors, dtype=np.float32)
        with self._conn.cursor().copy(
            "COPY rag_passages (chunk_id, article_id, ord, path, title, section, start_char, end_char,"
            " text, embed_text, embedding) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_COPY_TYPES)
            for n, (c, v) in enumerate(zip(item.chunks, vectors, strict=True)):
                if c.article_id != item.article_id:
                    raise ValueError(f"passage {c.chunk_id} belongs to {c.article_id}, not {item.article_id}")
                copy.write_row(
                    (c.chunk_id, c.article_id, n, c.path, c.title, c.section, c.start, c.end, c.text,
                     c.embed_text, v)
                )  # fmt: skip

    def delete_article(self, article_id: str) -> bool:
        """Remove the article and (by cascade) its passages; whether it was there."""
        cur = self._conn.execute("DELETE FROM rag_articles WHERE article_id = %s", (article_id,))
        return bool(cur.rowcount)
