"""Segments: an index's passages kept in immutable files, a base and appended segments (formats 4 and 6).

A build that changes a few articles of a large index writes only their passages: a new segment
(seg<k>.vectors.npy, seg<k>.chunks.zlib, seg<k>.sentences.*) in the new index folder, which hard-links
every file of the previous segments instead of rewriting it. No index file is ever modified after it is
written, so the folder swap keeps every crash-safety property of a full write (a SIGKILL leaves the old
folder or the new one, each complete). rows.npy maps each passage (its row: the order a full build
writes, corpus order) to its physical row (the base's rows, then each segment's in turn), so every reader
sees the passages in the very order a full rebuild would have: search results do not depend on how the
index was written. Physical rows no passage maps to are dead (an edited or removed article's old
passages) until a merge rewrites their segment (merged_rows: the appended segments merged into one,
the base untouched) or a full write compacts them away.
It does not decide when to append, merge or compact (build.py, append.py) or own manifest.json (manifest.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..types import Chunk
from .manifest import (
    CHUNKS,
    OFFSETS,
    SENTENCE_OFFSETS,
    SENTENCE_SCALES,
    SENTENCE_SPANS,
    SENTENCE_VECTORS,
    VECTORS,
    Manifest,
)
from .passage_file import PassageFile
from .sentence_store import SentenceStore
from .storage import VectorRows


@dataclass(frozen=True)
class Layout:
    """Where each passage is stored: its physical row, and the physical row each segment starts at."""

    rows: np.ndarray  # int64 (passages,): passage i is physical row rows[i]
    starts: np.ndarray  # int64 (segments + 1,): segment s holds physical rows starts[s]:starts[s + 1]

    @classmethod
    def of(cls, manifest: Manifest, rows: np.ndarray | None) -> Layout:
        """The layout a manifest describes; `rows` is rows.npy (with segments) or None (one base: identity)."""
        counts = [s["rows"] for s in manifest.segments] if manifest.segments else [manifest.chunk_count]
        starts = np.cumsum([0, *counts], dtype=np.int64)
        if rows is None:
            rows = np.arange(manifest.chunk_count, dtype=np.int64)
        if rows.shape != (manifest.chunk_count,) or rows.dtype != np.int64:
            raise ValueError(f"rows.npy holds {rows.shape} {rows.dtype}, expected ({manifest.chunk_count},)")
        if len(rows) and (rows.min() < 0 or rows.max() >= starts[-1]):
            raise ValueError("rows.npy maps passages outside the segments, or two to one row")
        used = np.zeros(int(starts[-1]), dtype=bool)  # a mask, not np.unique: linear in the rows
        used[rows] = True
        if int(used.sum()) != len(rows):
            raise ValueError("rows.npy maps passages outside the segments, or two to one row")
        return cls(rows, starts)

    def locate(self, passages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment, row within it) of each passage."""
        physical = self.rows[np.asarray(passages, dtype=np.int64)]
        segment = np.searchsorted(self.starts, physical, side="right") - 1
        return segment, physical - self.starts[segment]

    def locate_one(self, passage: int) -> tuple[int, int]:
        physical = int(self.rows[passage])
        segment = int(np.searchsorted(self.starts, physical, side="right")) - 1
        return segment, physical - int(self.starts[segment])


class SegmentedVectors:
    """The exact vectors of a segmented index, by passage (the interface of storage.VectorRows)."""

    def __init__(self, parts: list[VectorRows], layout: Layout, dim: int) -> None:
        self._parts, self._layout = parts, layout
        self.count, self.dim = len(layout.rows), dim

    def __len__(self) -> int:
        return self.count

    def take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        segment, local = self._layout.locate(rows)
        for s in np.unique(segment).tolist():
            picked = segment == s
            out[picked] = self._parts[s].take(local[picked])
        return out

    def all(self) -> np.ndarray:
        out = np.empty((self.count, self.dim), dtype=np.float32)
        segment, local = self._layout.locate(np.arange(self.count))
        for s in np.unique(segment).tolist():  # one segment's rows in memory at a time, beside `out`
            picked = segment == s
            out[picked] = self._parts[s].all()[local[picked]]
        return out


class SegmentedSentences:
    """The stored sentences of a segmented index, by passage (the interface of SentenceStore)."""

    def __init__(self, parts: list[SentenceStore], layout: Layout) -> None:
        self._parts, self._layout = parts, layout
        segment, local = layout.locate(np.arange(len(layout.rows)))
        counts = np.zeros(len(layout.rows), dtype=np.int64)
        for s, part in enumerate(parts):
            picked = segment == s
            counts[picked] = np.diff(part.offsets)[local[picked]]
        self.offsets = np.cumsum([0, *counts.tolist()], dtype=np.int64)  # by passage, as SentenceStore's

    @property
    def encoding(self) -> str:
        return self._parts[0].encoding

    def __len__(self) -> int:
        return len(self._layout.rows)

    def passage(self, row: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        segment, local = self._layout.locate_one(row)
        return self._parts[segment].passage(local)

    def encoded_passage(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        segment, local = self._layout.locate_one(row)
        return self._parts[segment].encoded_passage(local)

    def encoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """All (spans, encoded rows, scales) in passage order: what a full build reuses."""
        segment, local = self._layout.locate(np.arange(len(self._layout.rows)))
        spans = np.zeros((int(self.offsets[-1]), 3), np.int32)
        vectors: np.ndarray | None = None
        scales = np.zeros(int(self.offsets[-1]), np.float32) if self.encoding == "int8" else None
        for s, part in enumerate(self._parts):
            picked = np.flatnonzero(segment == s)
            if not len(picked):
                continue
            part_spans, part_rows, part_scales = part.encoded()
            if vectors is None:
                vectors = np.zeros((int(self.offsets[-1]), part_rows.shape[1]), part_rows.dtype)
            source = ranges(part.offsets[local[picked]], part.offsets[local[picked] + 1])
            target = ranges(self.offsets[picked], self.offsets[picked + 1])
            spans[target], vectors[target] = part_spans[source], part_rows[source]
            if scales is not None and part_scales is not None:
                scales[target] = part_scales[source]
        if vectors is None:
            vectors = self._parts[0].encoded()[1][:0]
        return spans, vectors, scales


def merged_rows(rows: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Every physical row from `start` on merged into one segment there: (`rows` renumbered, the old
    physical rows the merged segment holds, in order). Rows no passage uses drop out (the merged
    segments' dead rows); rows before `start` (the base's) keep their numbers, dead or not."""
    moved = rows >= start
    kept = np.sort(rows[moved])
    out = rows.copy()
    out[moved] = start + np.searchsorted(kept, rows[moved])
    return out, kept


def ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """The concatenation of arange(start, stop) for each pair."""
    lengths = stops - starts
    within = np.arange(int(lengths.sum()), dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + within


class ChunkStore(Sequence[Chunk]):
    """The passages of an index, read from its segments' passage files and parsed when asked for."""

    def __init__(self, files: Sequence[PassageFile], layout: Layout | None = None) -> None:
        self._files, self._layout = files, layout
        self._count = len(layout.rows) if layout is not None else len(files[0])

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        segment, local = self._layout.locate_one(i) if self._layout is not None else (0, i)
        return self._files[segment].get(local)

    def __iter__(self):  # type: ignore[no-untyped-def]
        if self._layout is None:
            return iter(self._files[0])  # one read for a whole pass (builds)
        return (self[i] for i in range(len(self)))


def segment_paths(root: Path, prefix: str, chunks_file: str = CHUNKS) -> dict[str, Path]:
    """The paths of one segment's files, by role (`chunks_file`: Manifest.chunks_file)."""
    return {
        "vectors": root / (prefix + VECTORS),
        "chunks": root / (prefix + chunks_file),
        "offsets": root / (prefix + OFFSETS),
        "sentence_offsets": root / (prefix + SENTENCE_OFFSETS),
        "spans": root / (prefix + SENTENCE_SPANS),
        "sentence_vectors": root / (prefix + SENTENCE_VECTORS),
        "scales": root / (prefix + SENTENCE_SCALES),
    }
