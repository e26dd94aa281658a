"""What a retriever reads from an index: the one interface the index folder and the PostgreSQL store share.

`IndexStore` is exactly what rag/search/retrieve.py and rag/answer/ use of an index: the manifest's facts
(the embedder, the articles in corpus order), the passages by row, the BM25 index over the same rows,
dense search returning rows, the exact vectors of given rows and each passage's stored sentences. Rows
are 0..len(chunks)-1 in corpus order (articles by path, each article's passages in order), so every
implementation ranks, breaks ties and restricts to one article the same way.
Implementations: `index_folder.LoadedIndex` (the folder on disk) and `pgindex.PgIndex` (PostgreSQL +
pgvector). It holds no code: loading, building and searching belong to the implementations.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from ..types import Chunk
from .keyword import KeywordIndex
from .manifest import Manifest


class VectorTake(Protocol):
    """The exact passage vectors of given rows."""

    def take(self, rows: np.ndarray) -> np.ndarray:
        """float32 unit vectors, one per row, in the order given."""
        ...


class SentenceRows(Protocol):
    """Each passage's sentences as the build stored them (sentence_store.py)."""

    def passage(self, row: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """Passage `row`'s (start, end, paragraph) spans, relative to its text, and their unit vectors."""
        ...


class IndexStore(Protocol):
    """A searchable index, as the retriever sees it (see the module docstring)."""

    @property
    def manifest(self) -> Manifest: ...

    @property
    def chunks(self) -> Sequence[Chunk]: ...

    @property
    def keyword(self) -> KeywordIndex: ...

    @property
    def exact(self) -> VectorTake: ...

    @property
    def sentences(self) -> SentenceRows | None: ...

    @property
    def shown(self) -> str:
        """How messages name the index: its folder ("index/") or the store ("the store at ...")."""
        ...

    def dense_search(self, queries: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), depth), best first; rows -1 where there are fewer."""
        ...
