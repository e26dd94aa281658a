"""The PostgreSQL store as an index the retriever reads (store.IndexStore): one generation's rows, BM25 beside.

`PgIndex.load(store)` reads a snapshot of the store in one REPEATABLE READ transaction: the manifest's
facts, the articles in corpus order (by path, as discover() sorts them), each passage's row id in that
order (row i of this index is passage ids[i], as in the folder index built from the same corpus), each
passage's BM25 tokens and the store's `generation`. From the stored tokens it builds the BM25 index in this
process with keyword.py's own scoring (docs/postgres.md, "Decision"), so nothing is tokenised. Passages,
exact vectors and stored sentences are read by row id when a question reaches them (recent passages are
cached, with their sentences); dense search asks pgvector, exactly (a scan) up to EXACT_BELOW passages, so
a small collection ranks as the folder index does, and through its HNSW index above, maps ids back to rows
(passages written after the snapshot are left out) and brings its first READ_AHEAD passages with their
sentences in the same query, so a question makes one round trip for most of what it reads. `stale()` says when the store's generation has
moved on; the caller then loads the next snapshot. A passage deleted since the snapshot can no longer be
read: StoreError says to ask again.
It writes nothing (pgwrite.py) and owns no schema (pgstore.py); its reads borrow a pool's connections
(pgpool.py), or use one connection under a lock.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..config import ChunkParams
from ..errors import StoreError
from ..types import Chunk
from .keyword import KEYWORD_MANIFEST, KeywordIndex
from .manifest import ArticleRecord, EmbedderInfo, Manifest
from .pgpool import PgPool
from .pgstore import CHUNK_COLUMNS, FORMAT_VERSION, PgStore, shown_dsn
from .sentence_store import ENCODING, decode, from_bytes

CACHED_PASSAGES = 4096
# Up to this many passages dense search scans every vector (exact, as the folder index below its HNSW
# threshold); above, pgvector's HNSW index. Not the folder's 50,000: a scan in PostgreSQL costs ~1.8 us a
# passage (9 ms at 5,183, SciFact) against HNSW's ~4 ms (docs/postgres.md).
EXACT_BELOW = 10_000
# Dense search reads the passages (and stored sentences) of its first READ_AHEAD rows in the same query:
# the rerank's head and most of the fused top come from them, so a question costs one round trip for them
# instead of one per passage and one per passage's sentences (docs/postgres.md, "Figures").
READ_AHEAD = 20
ARTICLES = 'SELECT article_id, facts, passages FROM rag_articles ORDER BY path COLLATE "C"'
_ROWS = (
    "SELECT p.id, p.tokens FROM rag_passages p JOIN rag_articles a USING (article_id)"
    ' ORDER BY a.path COLLATE "C", p.ord'
)
_PASSAGE = (
    ", ".join(f"p.{c.strip()}" for c in CHUNK_COLUMNS.split(",")[1:]) + ", s.spans, s.vectors, s.scales"
)
_READ = (
    f"SELECT p.id, {_PASSAGE} FROM rag_passages p LEFT JOIN rag_sentences s ON s.passage = p.id"
    " WHERE p.id = ANY(%s)"
)
# `order` is the HNSW index's own ordering, or (exact) an expression it cannot serve: a scan, ties by id
_DENSE = (
    "WITH d AS (SELECT id, embedding <#> %(q)s AS dist FROM rag_passages ORDER BY {order} LIMIT %(k)s),"
    " r AS (SELECT id, dist, row_number() OVER (ORDER BY dist, id) AS n FROM d)"
    f" SELECT r.id, -r.dist, {_PASSAGE} FROM r LEFT JOIN rag_passages p ON p.id = r.id AND r.n <= %(read)s"
    " LEFT JOIN rag_sentences s ON s.passage = p.id ORDER BY r.n"
)
_ORDER = {False: "embedding <#> %(q)s", True: "(embedding <#> %(q)s) + 0, id"}
Stored = tuple[Chunk, tuple[bytes, bytes, bytes] | None]  # a passage and its stored sentences' bytes


def manifest_of(
    meta: dict[str, Any], articles: Sequence[tuple[Any, ...]], chunk_count: int, sentences: int | None
) -> Manifest:
    """The store's facts as a folder Manifest: rag_meta, rag_articles rows (article_id, facts, passages)
    in corpus order, the passage count and the stored sentences' count (None: not every passage has them)."""
    return Manifest(
        embedder=EmbedderInfo.from_json(meta["embedder"]),
        chunking=ChunkParams(**meta["chunking"]),
        articles={aid: ArticleRecord.from_json({**facts, "chunks": n}, aid) for aid, facts, n in articles},
        chunk_count=chunk_count,
        index_type="pgvector-hnsw-ip",
        hnsw=meta.get("hnsw"),
        keyword=KEYWORD_MANIFEST,
        pipeline=int(meta.get("pipeline", 0)),
        created="",
        sentences=None if sentences is None else {"count": sentences, "encoding": ENCODING},
        format=int(meta["format"]),
    )


class PgIndex:
    """One snapshot of a PostgreSQL store, searchable by row (see the module docstring)."""

    def __init__(
        self,
        store: PgStore,
        manifest: Manifest,
        ids: np.ndarray,
        keyword: KeywordIndex,
        generation: int,
        sentences: bool,
        pool: PgPool | None = None,
    ) -> None:
        self.store, self.manifest, self.ids, self.keyword = store, manifest, ids, keyword
        self.pool = pool  # reads borrow its connections; None: `store`'s one connection, under `lock`
        self.generation = generation
        self.row_of = {int(i): row for row, i in enumerate(ids.tolist())}
        self.lock = threading.Lock()  # the cache; and without a pool, one statement at a time
        self.chunks = PgPassages(self)
        self.exact = PgVectors(self)
        self.sentences: PgSentences | None = PgSentences(self) if sentences else None
        self.exact_search = len(ids) < EXACT_BELOW
        self._cache: OrderedDict[int, Stored] = OrderedDict()  # row -> passage, sentences (recently read)

    @classmethod
    def load(cls, store: PgStore, pool: PgPool | None = None) -> PgIndex:
        """The store as it is now: articles, row ids, tokens and generation from one snapshot (read
        through `store`; later reads through `pool` when given)."""
        conn = store.connection
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            meta = store.meta()
            if "embedder" not in meta:
                raise StoreError(f"the store at {shown_dsn(store.dsn)} is empty - build it first")
            if meta.get("format") != FORMAT_VERSION:
                raise StoreError(
                    f"the store at {shown_dsn(store.dsn)} is format {meta.get('format')}; this rag reads format"
                    f" {FORMAT_VERSION} - rebuild it from scratch (reset)"
                )
            articles = conn.execute(ARTICLES).fetchall()
            rows = conn.execute(_ROWS).fetchall()
            with_sentences = conn.execute("SELECT count(*) FROM rag_sentences").fetchone()[0]
            generation = int(meta.get("generation", 0))
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        tokens = [r[1] for r in rows]
        stored = bool(rows) and with_sentences == len(rows)
        manifest = manifest_of(meta, articles, len(ids), int(with_sentences) if stored else None)
        k1, b = float(KEYWORD_MANIFEST["k1"]), float(KEYWORD_MANIFEST["b"])  # type: ignore[arg-type]
        keyword = KeywordIndex.from_tokens(tokens, k1=k1, b=b)
        return cls(store, manifest, ids, keyword, generation, stored, pool)

    @property
    def shown(self) -> str:
        return f"the store at {shown_dsn(self.store.dsn)}"

    @contextmanager
    def session(self) -> Iterator[PgStore]:
        """A connection for one read: the pool's, or the snapshot's own under its lock."""
        if self.pool is None:
            with self.lock:
                yield self.store
        else:
            with self.pool.store() as store:
                yield store

    def stale(self) -> bool:
        """Whether the store has been written since this snapshot."""
        with self.session() as store:
            return store.generation() != self.generation

    def dense_search(self, queries: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), depth), best first; rows -1 where there are fewer.
        The first READ_AHEAD rows' passages and sentences come in the same query and are cached."""
        scores = np.zeros((len(queries), depth), np.float32)
        rows = np.full((len(queries), depth), -1, np.int64)
        sql = _DENSE.format(order=_ORDER[self.exact_search])
        for i, q in enumerate(queries):
            args = {"q": np.asarray(q, dtype=np.float32).reshape(-1), "k": depth, "read": READ_AHEAD}
            found = self.fetch(sql, args, ef_search=0 if self.exact_search else depth)
            kept = [(self.row_of[r[0]], float(r[1]), r) for r in found if r[0] in self.row_of][:depth]
            self.remember([(row, r[2:]) for row, _, r in kept if r[2] is not None])
            if kept:
                rows[i, : len(kept)] = [r for r, _, _ in kept]
                scores[i, : len(kept)] = [s for _, s, _ in kept]
        return scores, rows

    def fetch(self, sql: str, args: Any, *, ef_search: int = 0) -> list[tuple[Any, ...]]:
        """The rows of one read query on a connection of the pool (or the snapshot's own, under its
        lock); with `ef_search`, pgvector's HNSW search depth set for it first."""
        with self.session() as store:
            store.ready()
            if ef_search:
                store.set_ef_search(ef_search)
            return list(store.connection.execute(sql, args).fetchall())

    def remember(self, read: Sequence[tuple[int, Sequence[Any]]]) -> dict[int, Stored]:
        """Cache passages read as (row, _PASSAGE's columns); what was read, by row."""
        out = {}
        for row, r in read:
            out[row] = (Chunk(*r[:9]), None if r[9] is None else (r[9], r[10], r[11]))
        with self.lock:
            for row, stored in out.items():
                self._cache[row] = stored
                self._cache.move_to_end(row)
            while len(self._cache) > CACHED_PASSAGES:
                self._cache.popitem(last=False)
        return out

    def cached(self, row: int) -> Stored | None:
        with self.lock:
            found = self._cache.get(row)
            if found is not None:
                self._cache.move_to_end(row)
            return found

    def gone(self) -> StoreError:
        return StoreError(f"{self.shown} changed while this question was answered - ask again")


class PgPassages(Sequence[Chunk]):
    """The snapshot's passages by row, read from the store when asked for (recent ones cached)."""

    def __init__(self, index: PgIndex) -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index.ids)

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return self.read(range(*i.indices(len(self))))
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        found = self._index.cached(i)
        return found[0] if found is not None else self.read([i])[0]

    def read(self, rows: Sequence[int]) -> list[Chunk]:
        """The passages of these rows, in that order, in one query (with their sentences, cached)."""
        index = self._index
        ids = [int(index.ids[r]) for r in rows]
        read = index.remember([(index.row_of[r[0]], r[1:]) for r in index.fetch(_READ, (ids,))])
        if len(read) < len(set(rows)):
            raise index.gone()
        return [read[r][0] for r in rows]

    def __iter__(self) -> Iterator[Chunk]:
        for start in range(0, len(self), 1000):
            yield from self.read(range(start, min(start + 1000, len(self))))


class PgVectors:
    """The snapshot's exact passage vectors, by row."""

    def __init__(self, index: PgIndex) -> None:
        self._index = index

    def take(self, rows: np.ndarray) -> np.ndarray:
        ids = [int(self._index.ids[r]) for r in np.asarray(rows).tolist()]
        with self._index.session() as store:
            vectors = store.vectors(ids)
        if len(vectors) != len(ids):
            raise self._index.gone()
        return vectors


class PgSentences:
    """The snapshot's stored sentences (rag_sentences), by row: the interface of SentenceStore."""

    def __init__(self, index: PgIndex) -> None:
        self._index = index
        self._dim = index.manifest.embedder.dim

    def passage(self, row: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """Passage `row`'s (start, end, paragraph) spans and their float32 unit vectors."""
        cached = self._index.cached(row)
        found: Any = cached[1] if cached is not None else None
        if found is None:
            query = "SELECT spans, vectors, scales FROM rag_sentences WHERE passage = %s"
            found = next(iter(self._index.fetch(query, (int(self._index.ids[row]),))), None)
        if found is None:
            raise self._index.gone()
        spans, rows, scales = from_bytes(found[0], found[1], found[2], self._dim)
        return [(int(s), int(e), int(p)) for s, e, p in spans.tolist()], decode(rows, scales, self._dim)
