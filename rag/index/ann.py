"""The approximate nearest-neighbour graph (HNSW): when an index uses it, its parameters, and how it is
built, grown by a rebuild, read back and searched.

An "hnsw-ip" index keeps an HNSW graph over 4-bit scalar-quantised vectors (about 460 bytes per passage
in memory; 8-bit before index format 7) beside the exact vectors; a search takes the graph's candidates and
re-scores them exactly, so scores are exact inner products. Each graph node has a slot: the row of its
passage, or -1 once that passage is gone. A rebuild adds the new passages to the previous graph and marks
removed ones dead instead of building the graph again; past MAX_DEAD of dead nodes it builds a fresh one.
It does not read or write the index folder (index_folder.py) or the exact vectors (storage.VectorRows).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from ..config import INDEX_TYPES
from ..errors import IndexLoadError
from .storage import Rows

# Exact search while it is fast enough; HNSW (graph) search beyond that size.
HNSW_FROM = 50_000  # exact search costs ~6.5 ms at 100k passages (here), HNSW + re-scoring ~1-2 ms
# Measured at 1M passages (real MiniLM vectors + random filler, 300 SciFact queries): recall@10 against exact
# search 0.990 at efSearch 256 and 0.993 at 512 with the top 50 re-scored exactly, p50 1.3-2.8 ms; without
# re-scoring 8-bit codes top out at 0.983-0.987. efConstruction 80 or 200 gained nothing on real queries
# at 100k and costs 1.7x / 5.3x the build time (1M at 40: 450 s on a loaded machine).
# Index format 7: the graph keeps 4-bit codes ("sq4", 192 bytes a passage at 384-d, not sq8's 384): they only
# choose the candidates, which are re-scored from vectors.npy (docs/benchmarks.md, 2026-12-01).
HNSW: dict[str, Any] = {"M": 32, "efConstruction": 40, "efSearch": 512, "refine": 50, "storage": "sq4"}
GRAPH_PARAMS = ("M", "efConstruction", "storage")  # what a graph is built with; the rest is search-time
MAX_DEAD = 0.2  # share of dead graph nodes above which a build makes a fresh graph


def choose_index_type(n_vectors: int, requested: str = "auto") -> str:
    """ "flat-ip" (exact) or "hnsw-ip" (approximate, sublinear) for n vectors; `requested` overrides."""
    if requested not in INDEX_TYPES:
        raise IndexLoadError(f"index type {requested!r} is unknown - use one of {', '.join(INDEX_TYPES)}")
    if requested == "auto":
        requested = "hnsw" if n_vectors >= HNSW_FROM else "flat"
    return f"{requested}-ip"


@dataclass(frozen=True)
class Graph:
    """An HNSW graph and the row of each of its nodes (-1 where the passage is gone)."""

    index: Any  # faiss.IndexHNSWSQ
    slots: np.ndarray
    params: Mapping[str, Any] | None = None  # what it was built with (the manifest's "hnsw")


def hnsw_index(vectors: np.ndarray) -> Any:
    """An HNSW graph over scalar-quantised copies of the vectors (HNSW["storage"]; inner product), built
    on all cores."""
    import faiss

    kind = {"sq8": faiss.ScalarQuantizer.QT_8bit, "sq4": faiss.ScalarQuantizer.QT_4bit}[HNSW["storage"]]
    index = cast(Any, faiss).IndexHNSWSQ(vectors.shape[1], kind, HNSW["M"], faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW["efConstruction"]
    index.hnsw.efSearch = HNSW["efSearch"]
    if len(vectors):
        with _all_cores():
            index.train(vectors)
            index.add(vectors)
    return index


def read_graph(path: Path, mapped: bool = True) -> Any:
    """A graph written by faiss.serialize_index, set up to search (the search depth is not saved with it).

    `mapped`: memory-mapped rather than read (FAISS's IO_FLAG_MMAP_IFC; the same results, 0.3 s instead
    of 1.1-3.9 s for the 656 MB graph of a million passages, and pages shared between processes). A
    mapped graph cannot grow: adding to it aborts the process, so a build that extends it reads it
    with mapped=False. Index files are never rewritten in place (a build writes a fresh folder), so the
    mapping stays valid after a swap."""
    import faiss

    index = faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC if mapped else 0)
    cast(Any, index).hnsw.efSearch = HNSW["efSearch"]
    return index


@contextmanager
def _all_cores() -> Iterator[None]:
    """FAISS on every core for a build step (this thread may have been set to 1 for queries)."""
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(threads)


def grow(vectors: np.ndarray, previous: Graph | None, previous_rows: np.ndarray | None) -> Graph:
    """The graph for these vectors: the previous graph extended with the new rows where it can be.

    `previous_rows` holds each new row's row in the previous index, or -1. The previous graph is
    extended in place (build() loaded it for itself, nobody searches it).
    """
    if previous is not None and previous_rows is not None:
        grown = extend(previous, previous_rows, lambda rows: vectors[rows])
        if grown is not None:
            return grown
    return Graph(hnsw_index(vectors), np.arange(len(vectors), dtype=np.int64))


def extension(previous: Graph, previous_rows: np.ndarray) -> tuple[np.ndarray, list[int]] | None:
    """(each node's new row or -1, the rows that need a node) for extending the previous graph, or None
    when a fresh graph is due (other parameters, or over MAX_DEAD dead nodes). Changes nothing."""
    if any((previous.params or {}).get(name) != HNSW[name] for name in GRAPH_PARAMS):
        return None
    live = previous.slots >= 0
    # every row has at most one live node (none: a row of the tail, searched exactly; see search)
    size = max(int(previous.slots.max(initial=-1)), int(previous_rows.max(initial=-1))) + 1
    slot_of_row = np.full(max(size, 1), -1, dtype=np.int64)  # never empty: rows of -1 look at [0]
    slot_of_row[previous.slots[live]] = np.flatnonzero(live)
    slots = np.full(len(previous.slots), -1, dtype=np.int64)
    # Each row takes its old row's node; of rows sharing one (a text found twice), the first does. With
    # array operations: a loop over the rows took 0.2 s at 300,000.
    slot = np.where(previous_rows >= 0, slot_of_row[np.maximum(previous_rows, 0)], -1)
    candidates = np.flatnonzero(slot >= 0)
    taken, first = np.unique(slot[candidates], return_index=True)
    slots[taken] = candidates[first]
    has_node = np.zeros(len(previous_rows), dtype=bool)
    has_node[candidates[first]] = True
    fresh = np.flatnonzero(~has_node).tolist()
    dead = (len(slots) - len(previous_rows) + len(fresh)) / max(len(slots) + len(fresh), 1)
    return None if dead > MAX_DEAD else (slots, fresh)


def extend(
    previous: Graph, previous_rows: np.ndarray, take: Callable[[np.ndarray], np.ndarray]
) -> Graph | None:
    """The previous graph extended in place with the rows it lacks (`take(rows)` gives their vectors),
    or None, untouched, when a fresh graph is due (see extension)."""
    planned = extension(previous, previous_rows)
    if planned is None:
        return None
    slots, fresh = planned
    if fresh:
        with _all_cores():
            previous.index.add(take(np.asarray(fresh, dtype=np.int64)))
    return Graph(previous.index, np.concatenate([slots, np.asarray(fresh, dtype=np.int64)]))


def search(
    graph: Any,
    slots: np.ndarray,
    exact: Rows,
    queries: np.ndarray,
    depth: int,
    tail: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows), each (len(queries), depth), best first; rows -1 where there are fewer.

    The graph's candidates (HNSW["refine"] of them at least) are re-scored with the exact vectors, so
    scores are exact inner products and the quantisation only decides which rows are candidates.
    `tail` (rows, their vectors): rows appended since the graph was written, which have no node; every
    one of them is a candidate.
    """
    tail_rows, tail_vectors = tail if tail is not None else (np.zeros(0, np.int64), None)
    live = max(len(exact) - len(tail_rows), 1)  # the other rows have exactly one live node (checked on load)
    wanted = min(max(depth, HNSW["refine"]), live)
    fetched = min(int(wanted * len(slots) / live) + 1, len(slots))  # room for dead nodes
    _, nodes = graph.search(queries, fetched)
    scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
    rows = np.full((len(queries), depth), -1, dtype=np.int64)
    for qi, found in enumerate(nodes):
        found = np.sort(slots[found[found >= 0]])
        found = found[found >= 0]  # sorted rows: the reads of vectors.npy go forward
        scores_found = exact.take(found) @ queries[qi]
        if tail_vectors is not None and len(tail_rows):
            found = np.concatenate([found, tail_rows])
            scores_found = np.concatenate([scores_found, tail_vectors @ queries[qi]])
        order = np.argsort(-scores_found, kind="stable")[:depth]
        scores[qi, : len(order)] = scores_found[order]
        rows[qi, : len(order)] = found[order]
    return scores, rows
