"""PostgreSQL full-text search over the store, and its fusion with pgvector: the measured alternative.

docs/postgres.md ("Decision") measured it against BM25: it ranks worse (no inverse document frequency) and
is slow at scale, so the retriever keeps BM25 beside the database, built from the stored tokens
(pgindex.py). This stays as the keyword search that needs nothing beside the database, and for
eval/pg_measure.py: an OR query of the question's words (`websearch_to_tsquery`, Snowball English stems
and stopwords like keyword.py) ranked by `ts_rank` or `ts_rank_cd` over the generated `tsv` column, and
`hybrid_search`, which z-score fuses it with pgvector's ranking as the retriever fuses its two.
It owns no schema (pgstore.py) and is not what `rag search`/`rag ask` use.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..config import FUSION_DEPTH
from ..search.fuse import Fused, zscore_fusion
from .pgstore import CHUNK_COLUMNS, TS_CONFIG, Hit, PgStore, hits

RANKS = {"ts_rank_cd": "ts_rank_cd(tsv, q)", "ts_rank": "ts_rank(tsv, q)"}


def keyword_search(store: PgStore, text: str, k: int, *, rank: str = "ts_rank") -> list[Hit]:
    """The k passages sharing most with the text by PostgreSQL full-text search (any word matches)."""
    return hits(_keyword(store, text, k, rank, CHUNK_COLUMNS))


def keyword_rows(store: PgStore, text: str, k: int, *, rank: str = "ts_rank") -> list[tuple[int, float]]:
    """keyword_search's (row, score) pairs without the passages."""
    return [(int(r[0]), float(r[-1])) for r in _keyword(store, text, k, rank, "id")]


def _keyword(store: PgStore, text: str, k: int, rank: str, columns: str) -> list[tuple[Any, ...]]:
    store.ready()
    words = re.findall(r"\w+", text)
    if not words or k <= 0:
        return []
    rows = store.connection.execute(
        f"SELECT {columns}, {RANKS[rank]} AS score"
        f" FROM rag_passages, websearch_to_tsquery('{TS_CONFIG}', %s) q"
        " WHERE tsv @@ q ORDER BY score DESC, id LIMIT %s",
        (" or ".join(words), k),
    )
    return list(rows.fetchall())


def hybrid_search(
    store: PgStore,
    vector: np.ndarray,
    text: str,
    k: int,
    *,
    depth: int = FUSION_DEPTH,
    keyword: str = "ts_rank",
) -> list[Hit]:
    """Dense and keyword rankings from one snapshot, z-score fused (fuse.py) as the folder index's are;
    only the top k passages are read."""
    with store.connection.transaction():
        store.connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        fused = fused_rows(
            store.dense_rows(vector, depth), keyword_rows(store, text, depth, rank=keyword), depth
        )
        top = fused[:k]
        chunks = store.chunks([row for row, _, _ in top])
    return [Hit(row, score, chunks[row]) for row, score, _ in top]


def fused_rows(dense: list[tuple[int, float]], keyword: list[tuple[int, float]], depth: int) -> Fused:
    """Dense and keyword (row, score) lists z-score fused as the retriever fuses them: standardised over
    the top `depth` (the dense list's length when shorter), passages keyword search left out scoring 0."""
    window = min(depth, len(dense)) if dense else depth
    scored: dict[str, tuple[list[int], list[float]]] = {
        "dense": ([r for r, _ in dense], [x for _, x in dense]),
        "keyword": ([r for r, _ in keyword], [x for _, x in keyword]),
    }
    return zscore_fusion(scored, window=window, unreturned={"keyword": (max(0, window - len(keyword)), 0.0)})
