"""PostgreSQL + pgvector as the passage store: schema, per-article atomic writes, dense search, reads by row.

Tables, in the connection's search_path (so one database, or one schema, per collection):
    rag_meta      key -> jsonb: the schema format, the embedder (name, dim, fingerprint, precision), chunking
                  parameters, pipeline version, keyword method, HNSW parameters, and `generation`, which
                  every committed write bumps (readers that cache anything compare it)
    rag_articles  one row per article: path, sha256 and the rest of the manifest's per-article facts
    rag_passages  one row per passage: the Chunk fields (start/end are character offsets into the original
                  file, so text == article[start:end]), its vector as pgvector `vector(dim)` under an HNSW
                  index (inner product: the vectors are unit length), its BM25 tokens as the builder made
                  them (keyword.tokenize of embed_text: readers build BM25 from them, pgindex.py), and a
                  generated `tsvector` of its embed_text under a GIN index for PostgreSQL full-text search
    rag_sentences one row per passage (by its row id, deleted with it): its sentences' spans and int4
                  vectors (scales empty), as the folder index stores them (sentence_store.py); rows
                  written before index format 7 hold int8 vectors with their scales, still read
Writes go through `transaction()`: one transaction per batch of articles, each article's passages deleted
and copied in again, so a reader (MVCC) sees an article's old passages or its new ones, never a mix, and a
writer killed mid-batch leaves the previous state. Every write transaction takes one advisory
transaction lock, so two writers queue instead of interleaving; `build_lock()` is the session-level lock
a whole build holds (a second build refuses at once, like the folder index's build lock).
What replaces an article, and the statements that write it, are in pgwrite.py; what the retriever reads
(a snapshot of rows, BM25 beside) is pgindex.py; PostgreSQL full-text search is pgfulltext.py. It does not
read the corpus, embed or decide what changed (build.py, and pgbuild.py for the store).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BuildLockedError, StoreError
from ..types import Chunk
from .pgwrite import ArticlePassages, Writer

FORMAT_VERSION = 2  # 2: BM25 tokens per passage, rag_sentences
LOCK_KEY = 0x5241_4753_544F_5245  # "RAGSTORE": the advisory lock every writer takes
TS_CONFIG = "english"  # Snowball English stems and stopwords, like keyword.py's tokenizer
# pgvector defaults are m=16, ef_construction=64, ef_search=40; a search asks for at least `k` candidates.
HNSW = {"m": 16, "ef_construction": 64, "ef_search": 100}
CONNECT_TIMEOUT = 10  # seconds
MAX_EF_SEARCH = 1000  # pgvector's limit: an HNSW scan returns at most this many rows
KEYWORD_MANIFEST = {"method": "postgres-fts", "config": TS_CONFIG, "rank": "ts_rank", "text": "embed_text"}
CHUNK_COLUMNS = "id, chunk_id, article_id, path, title, section, start_char, end_char, text, embed_text"


@dataclass(frozen=True)
class Hit:
    """One search result: the passage's row id in the store, its score (higher is better), the passage."""

    row: int
    score: float
    chunk: Chunk


def shown_dsn(dsn: str) -> str:
    """The connection string without its password, for messages."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn))


def connect(dsn: str) -> Any:
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=True, connect_timeout=CONNECT_TIMEOUT)
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()) or exc.__class__.__name__
        raise StoreError(
            f"cannot connect to PostgreSQL at {shown_dsn(dsn)} ({reason}) - check the connection string"
            " (postgresql://user:password@host:port/database) and that the server is running"
        ) from None


def hits(rows: list[tuple[Any, ...]]) -> list[Hit]:
    """Hits of rows selected as (CHUNK_COLUMNS..., score)."""
    return [Hit(int(r[0]), float(r[-1]), _chunk(r)) for r in rows]


def _chunk(row: Sequence[Any]) -> Chunk:
    _, chunk_id, article_id, path, title, section, start, end, text, embed_text = row[:10]
    return Chunk(chunk_id, article_id, path, title, section, start, end, text, embed_text)


class PgStore:
    """One connection to a store; use one per thread (the app holds a pool of them, pgpool.py)."""

    def __init__(self, dsn: str, connection: Any = None) -> None:
        """Connect to dsn, or use `connection` (a pool's, autocommit: pgpool.py)."""
        self.dsn = dsn
        self._conn = connect(dsn) if connection is None else connection
        self._ef_search = 0
        self._vector_ready = False

    def close(self) -> None:
        self._conn.close()

    @property
    def connection(self) -> Any:
        """The psycopg connection (autocommit), for readers of the tables (pgindex.py)."""
        return self._conn

    def __enter__(self) -> PgStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- schema and manifest facts -----------------------------------------------------------------
    def create(self, *, embedder: dict[str, Any], chunking: dict[str, Any], pipeline: int) -> None:
        """Make the tables for vectors of embedder["dim"] (or check the existing ones match the embedder)."""
        import psycopg

        dim = int(embedder["dim"])
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            try:
                self._conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            except psycopg.Error as exc:
                raise StoreError(
                    f"PostgreSQL at {shown_dsn(self.dsn)} cannot enable pgvector ({exc.diag.message_primary})"
                    " - install the pgvector extension on the server (CREATE EXTENSION vector)"
                ) from None
            held_format = self.meta().get("format", FORMAT_VERSION)  # before the tables below exist
            if held_format != FORMAT_VERSION:
                raise StoreError(
                    f"the store at {shown_dsn(self.dsn)} is format {held_format}; this rag writes format"
                    f" {FORMAT_VERSION} - rebuild it from scratch (reset)"
                )
            self._conn.execute(_SCHEMA.format(dim=dim, ts=TS_CONFIG))
            self._conn.execute(_HNSW_INDEX.format(**HNSW))
            held = self.meta()
            if held.get("embedder") and held["embedder"]["fingerprint"] != embedder["fingerprint"]:
                raise StoreError(
                    f"the store at {shown_dsn(self.dsn)} holds passages of {held['embedder']['name']}"
                    f" ({held['embedder']['dim']}-d) but this build uses {embedder['name']} ({dim}-d)"
                    " - rebuild it from scratch (reset)"
                )
            facts = {
                "format": FORMAT_VERSION,
                "embedder": embedder,
                "chunking": chunking,
                "pipeline": pipeline,
            }
            facts |= {"keyword": KEYWORD_MANIFEST, "hnsw": HNSW}
            for key, value in facts.items():
                self._put_meta(key, value)
            self._conn.execute("INSERT INTO rag_meta VALUES ('generation', '0') ON CONFLICT (key) DO NOTHING")
        self._register_vector()

    def reset(self) -> None:
        """Drop the store's tables (a full rebuild starts from nothing)."""
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            self._conn.execute("DROP TABLE IF EXISTS rag_sentences, rag_passages, rag_articles, rag_meta")

    def _put_meta(self, key: str, value: Any) -> None:
        from psycopg.types.json import Jsonb

        self._conn.execute(
            "INSERT INTO rag_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, Jsonb(value)),
        )

    def _register_vector(self) -> None:
        if not self._vector_ready:
            from pgvector.psycopg import register_vector

            register_vector(self._conn)
            self._vector_ready = True

    def ready(self) -> None:
        """The vector type known to this connection; StoreError if the store was never created."""
        if self._vector_ready:
            return
        found = self._conn.execute("SELECT to_regclass('rag_passages') IS NOT NULL").fetchone()
        if not found or not found[0]:
            raise StoreError(f"the store at {shown_dsn(self.dsn)} is empty - build it first")
        self._register_vector()

    def meta(self) -> dict[str, Any]:
        """The rag_meta table as a dict ({} before create())."""
        if not self._conn.execute("SELECT to_regclass('rag_meta') IS NOT NULL").fetchone()[0]:
            return {}
        return dict(self._conn.execute("SELECT key, value FROM rag_meta").fetchall())

    def articles(self) -> dict[str, dict[str, Any]]:
        """article_id -> its manifest facts (path, sha256, title, ..., chunks)."""
        self.ready()
        rows = self._conn.execute("SELECT article_id, facts, passages FROM rag_articles ORDER BY article_id")
        return {aid: {**facts, "chunks": n} for aid, facts, n in rows.fetchall()}

    def manifest(self) -> dict[str, Any]:
        """The folder manifest's facts, from the tables (format, embedder, chunking, articles, counts)."""
        meta, articles = self.meta(), self.articles()
        counts = {"articles": len(articles), "chunks": sum(a["chunks"] for a in articles.values())}
        return {**meta, "articles": articles, "counts": counts, "index_type": "pgvector-hnsw-ip"}

    def generation(self) -> int:
        """Bumped by every committed write: a reader holding derived state compares it."""
        row = self._conn.execute("SELECT value FROM rag_meta WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def count(self) -> int:
        self.ready()
        return int(self._conn.execute("SELECT count(*) FROM rag_passages").fetchone()[0])

    # ---- writes ------------------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Writer]:
        """One write transaction holding the writers' advisory lock; committed at the end of the block."""
        self.ready()
        with self._conn.transaction():
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            yield Writer(self._conn)
            self._conn.execute(
                "UPDATE rag_meta SET value = to_jsonb(value::text::bigint + 1) WHERE key = 'generation'"
            )

    def write_articles(self, items: Iterable[ArticlePassages], *, batch: int = 64) -> int:
        """Replace each article's passages, `batch` articles per transaction; the number of transactions."""
        transactions, pending = 0, []
        for item in items:
            pending.append(item)
            if len(pending) == batch:
                transactions += self._write_batch(pending)
                pending = []
        return transactions + (self._write_batch(pending) if pending else 0)

    def _write_batch(self, items: list[ArticlePassages]) -> int:
        with self.transaction() as tx:
            for item in items:
                tx.replace_article(item)
        return 1

    def delete_article(self, article_id: str) -> bool:
        """Remove one article and its passages; whether it was there."""
        with self.transaction() as tx:
            return tx.delete_article(article_id)

    @contextmanager
    def bulk_load(self, maintenance_mem: str = "1GB") -> Iterator[None]:
        """For loading a whole collection: the HNSW index is dropped, and built once over all rows at the
        end (pgvector builds a graph far faster than it inserts rows one by one into it). Searches
        meanwhile are exact scans: correct, slower."""
        self.ready()
        self._conn.execute("DROP INDEX IF EXISTS rag_passages_hnsw")
        try:
            yield
        finally:
            self._conn.execute(f"SET maintenance_work_mem = '{maintenance_mem}'")
            self._conn.execute(_HNSW_INDEX.format(**HNSW))

    @contextmanager
    def build_lock(self) -> Iterator[None]:
        """Hold the store's build lock for a whole build; a second build refuses at once."""
        got = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY + 1,)).fetchone()[0]
        if not got:
            holder = self._conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND (classid::bigint << 32 | objid::bigint) = %s",
                (LOCK_KEY + 1,),
            ).fetchone()
            raise BuildLockedError(
                f"another build of the store at {shown_dsn(self.dsn)} is running (server pid"
                f" {holder[0] if holder else '?'}) - wait for it to finish"
            )
        try:
            yield
        finally:
            self._conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY + 1,))

    # ---- reads -------------------------------------------------------------------------------------
    def set_ef_search(self, k: int) -> None:
        """pgvector's HNSW search depth for this connection's next queries (at least k), set once per value."""
        wanted = min(max(k, HNSW["ef_search"]), MAX_EF_SEARCH)
        if wanted != self._ef_search:
            self._conn.execute(f"SET hnsw.ef_search = {int(wanted)}")
            self._ef_search = wanted

    def dense_search(self, vector: np.ndarray, k: int) -> list[Hit]:
        """The k passages of highest inner product with the unit vector (pgvector HNSW; at most 1000)."""
        return self._hits(self._dense(vector, k, CHUNK_COLUMNS))

    def dense_rows(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """dense_search's (row, score) pairs without the passages: for fusion, which reads only the top.
        (The retriever's exact scan of a small store is pgindex.PgIndex.dense_search's own query.)"""
        return [(int(r[0]), float(r[-1])) for r in self._dense(vector, k, "id")]

    def _dense(self, vector: np.ndarray, k: int, columns: str) -> list[tuple[Any, ...]]:
        self.ready()
        query = {"q": np.asarray(vector, dtype=np.float32).reshape(-1), "k": k}
        select = f"SELECT {columns}, -(embedding <#> %(q)s) AS score FROM rag_passages ORDER BY embedding <#> %(q)s"
        self.set_ef_search(k)
        return list(self._conn.execute(select + " LIMIT %(k)s", query).fetchall())

    @staticmethod
    def _hits(rows: list[tuple[Any, ...]]) -> list[Hit]:
        return hits(rows)

    def chunks(self, rows: Sequence[int]) -> dict[int, Chunk]:
        """The passages of the given rows (rows no longer in the store are left out)."""
        self.ready()
        found = self._conn.execute(
            f"SELECT {CHUNK_COLUMNS} FROM rag_passages WHERE id = ANY(%s)", (list(map(int, rows)),)
        )
        return {int(r[0]): _chunk(r) for r in found.fetchall()}

    def article_chunks(self, article_id: str) -> list[Chunk]:
        """One article's passages in order."""
        self.ready()
        rows = self._conn.execute(
            f"SELECT {CHUNK_COLUMNS} FROM rag_passages WHERE article_id = %s ORDER BY ord", (article_id,)
        ).fetchall()
        return [_chunk(r) for r in rows]

    def vectors(self, rows: Sequence[int]) -> np.ndarray:
        """The stored vectors of the given passage rows, in that order (missing rows are left out)."""
        self.ready()
        found = dict(
            self._conn.execute(
                "SELECT id, embedding FROM rag_passages WHERE id = ANY(%s)", (list(map(int, rows)),)
            ).fetchall()
        )
        return np.array([found[r].to_numpy() for r in rows if r in found], dtype=np.float32).reshape(
            -1, self.dim()
        )

    def dim(self) -> int:
        """The vector dimension the store was created for."""
        return int(self.meta()["embedder"]["dim"])


_SCHEMA = """
CREATE TABLE IF NOT EXISTS rag_meta (key text PRIMARY KEY, value jsonb NOT NULL);
CREATE TABLE IF NOT EXISTS rag_articles (
    article_id text PRIMARY KEY,
    path text NOT NULL,
    sha256 text NOT NULL,
    facts jsonb NOT NULL,
    passages integer NOT NULL
);
CREATE TABLE IF NOT EXISTS rag_passages (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chunk_id text NOT NULL UNIQUE,
    article_id text NOT NULL REFERENCES rag_articles ON DELETE CASCADE,
    ord integer NOT NULL,
    path text NOT NULL,
    title text NOT NULL,
    section text NOT NULL,
    start_char integer NOT NULL,
    end_char integer NOT NULL,
    text text NOT NULL,
    embed_text text NOT NULL,
    embedding vector({dim}) NOT NULL,
    tokens text[] NOT NULL DEFAULT '{{}}',
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('{ts}', embed_text)) STORED
);
CREATE TABLE IF NOT EXISTS rag_sentences (
    passage bigint PRIMARY KEY REFERENCES rag_passages ON DELETE CASCADE,
    spans bytea NOT NULL,
    vectors bytea NOT NULL,
    scales bytea NOT NULL
);
-- vectors kept in the row, uncompressed: an exact scan read them out of line (TOAST) 3x slower
ALTER TABLE rag_passages ALTER COLUMN embedding SET STORAGE PLAIN;
CREATE INDEX IF NOT EXISTS rag_passages_article ON rag_passages (article_id, ord);
CREATE INDEX IF NOT EXISTS rag_passages_tsv ON rag_passages USING gin (tsv);
"""
_HNSW_INDEX = """CREATE INDEX IF NOT EXISTS rag_passages_hnsw ON rag_passages
    USING hnsw (embedding vector_ip_ops) WITH (m = {m}, ef_construction = {ef_construction})"""
