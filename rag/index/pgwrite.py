"""Writes to the PostgreSQL store: what replaces one article, and the statements of a write transaction.

`ArticlePassages` is one article's facts, passages and vectors, with each passage's BM25 tokens (so a
reader never tokenises: pgindex.py builds its BM25 index from them) and its sentences (spans and encoded
vectors, as the folder index stores them: sentence_store.py). It is made from a corpus (`from_corpus`, read
and chunked by the folder build's own plan, then embedded) or from a loaded folder index (`from_index`, its
vectors, tokens and sentences copied, nothing embedded or tokenised). `Writer` runs inside
`PgStore.transaction()` (pgstore.py), which holds the writers' advisory lock and bumps the store's
generation on commit.
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

_COPY_TYPES = [
    "text",
    "text",
    "int4",
    "text",
    "text",
    "text",
    "int4",
    "int4",
    "text",
    "text",
    "vector",
    "text[]",
]
Encoded = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # a passage's sentences: spans, rows, scales


@dataclass(frozen=True)
class ArticlePassages:
    """What replaces one article in the store: its manifest facts, passages and their vectors."""

    article_id: str
    facts: dict[str, Any]  # path, sha256, title, ... (the manifest's per-article entry)
    chunks: Sequence[Chunk]
    vectors: np.ndarray = field(repr=False)
    tokens: Sequence[Sequence[str]] | None = None  # each passage's BM25 tokens; None: tokenised on write
    sentences: Sequence[Encoded] | None = field(default=None, repr=False)  # int4-encoded, per passage


def from_corpus(corpus_dir: Path, embedder: Embedder, params: ChunkParams) -> list[ArticlePassages]:
    """Every article of the corpus read and chunked by the folder build's own plan, then embedded."""
    from ..ingest.read import discover
    from .keyword import tokenize
    from .plan import plan_build  # the folder build's own reading and chunking, not a copy
    from .reuse import sentences_of
    from .storage import as_served

    plan = plan_build(corpus_dir, discover(corpus_dir), None, params, incremental=False)
    parts = [p for p in plan.parts if not isinstance(p, str)]  # with no previous index, all are chunk lists
    every = [c for part in parts for c in part]
    vectors = embedder.embed([c.embed_text for c in every]) if parts else np.zeros((0, 0))
    # the vectors the folder index serves (int8 on disk, renormalised when read), as pgbuild keeps them
    vectors = as_served(vectors) if parts else vectors
    tokens = tokenize([c.embed_text for c in every])
    stored, _, _ = sentences_of(every, lambda c: None, embedder.dim, lambda t: (embedder.embed(t), 0.0))
    spans, rows, scales = stored.spans, stored.vectors, stored.scales
    out, at = [], 0
    for (aid, facts), chunks in zip(plan.articles.items(), parts, strict=True):
        end = at + len(chunks)
        sentences = [
            (spans[a:b], rows[a:b], None if scales is None else scales[a:b])
            for a, b in zip(
                stored.offsets[at:end].tolist(), stored.offsets[at + 1 : end + 1].tolist(), strict=True
            )
        ]
        out.append(ArticlePassages(aid, facts.to_json(), chunks, vectors[at:end], tokens[at:end], sentences))
        at = end
    return out


def from_index(index: Any) -> Iterator[ArticlePassages]:
    """The articles of a loaded index folder (index_folder.LoadedIndex) with its own vectors: copies a folder
    index into the store without embedding anything again."""
    from .keyword import text_key
    from .sentence_store import in_encoding

    vectors, articles = index.all_vectors(), index.manifest.articles
    by_key = index.keyword.tokens_by_key()  # keyed by text_key(embed_text), the text BM25 indexed
    stored, dim = index.sentences, index.manifest.embedder.dim

    def as_kept(row: int) -> Encoded:  # int8 ones of an index of format 3 to 6 re-encoded
        return in_encoding(stored.encoded_passage(row), dim)

    start = 0
    chunks = list(index.chunks)
    while start < len(chunks):
        end = start
        while end < len(chunks) and chunks[end].article_id == chunks[start].article_id:
            end += 1
        aid, part = chunks[start].article_id, chunks[start:end]
        tokens = [by_key[text_key(c.embed_text)] for c in part]
        sentences = [as_kept(row) for row in range(start, end)] if stored is not None else None
        yield ArticlePassages(aid, articles[aid].to_json(), part, vectors[start:end], tokens, sentences)
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
        if item.tokens is None:
            from .keyword import tokenize

            tokens: Sequence[Sequence[str]] = tokenize([c.embed_text for c in item.chunks])
        else:
            tokens = item.tokens
        with self._conn.cursor().copy(
            "COPY rag_passages (chunk_id, article_id, ord, path, title, section, start_char, end_char,"
            " text, embed_text, embedding, tokens) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(_COPY_TYPES)
            for n, (c, v, t) in enumerate(zip(item.chunks, vectors, tokens, strict=True)):
                if c.article_id != item.article_id:
                    raise ValueError(f"passage {c.chunk_id} belongs to {c.article_id}, not {item.article_id}")
                copy.write_row(
                    (c.chunk_id, c.article_id, n, c.path, c.title, c.section, c.start, c.end, c.text,
                     c.embed_text, v, list(t))
                )  # fmt: skip
        if item.sentences is not None:
            self._write_sentences(item)

    def _write_sentences(self, item: ArticlePassages) -> None:
        """Each passage's sentences, one row per passage keyed by its row id (spans int32, int4 rows as the
        folder index stores them, and no scales, as bytes; stores written before index format 7 hold int8
        rows with float32 scales, still read)."""
        assert item.sentences is not None
        if len(item.sentences) != len(item.chunks):
            raise ValueError(
                f"{item.article_id}: sentences of {len(item.sentences)} of {len(item.chunks)} passages"
            )
        ids = self._conn.execute(
            "SELECT id FROM rag_passages WHERE article_id = %s ORDER BY ord", (item.article_id,)
        ).fetchall()
        with self._conn.cursor().copy(
            "COPY rag_sentences (passage, spans, vectors, scales) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["int8", "bytea", "bytea", "bytea"])
            for (passage,), (spans, rows, scales) in zip(ids, item.sentences, strict=True):
                if rows.dtype != np.uint8 or scales is not None:
                    raise ValueError(f"{item.article_id}: the store keeps int4 sentence vectors (no scales)")
                copy.write_row(
                    (passage, np.ascontiguousarray(spans, "<i4").tobytes(), np.ascontiguousarray(rows).tobytes(),
                     b"")
                )  # fmt: skip

    def delete_article(self, article_id: str) -> bool:
        """Remove the article and (by cascade) its passages; whether it was there."""
        cur = self._conn.execute("DELETE FROM rag_articles WHERE article_id = %s", (article_id,))
        return bool(cur.rowcount)
