"""Each passage's sentences, split and embedded at build time and stored beside the passage vectors.

A question used to split its top passages into sentences and embed them (the sentence rerank, the
abstention evidence and the composer all compare the question with single sentences); at 100k passages
that was most of a question's time. The build now does it once per passage: `split_passage` gives the
sentence spans (start, end, paragraph), relative to the passage text, and `sentence_text` what is
embedded; `StoredSentences` carries them to index_folder.write_index, and `SentenceStore` reads one
passage's spans and vectors by pread(2) when a question reaches it. Vectors are stored as int8 with a
float32 scale per sentence ("int8") or as float16 ("fp16"), and come back as float32 unit vectors.
It does not decide what to embed (build.py) or score sentences against a question (sentences.py).
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ingest.chunk import sentence_spans
from .storage import OpenFile

ENCODINGS = ("int8", "fp16")
ENCODING = "int8"  # docs/benchmarks.md: the same answers as fp16 at half the bytes
_WS = re.compile(r"\s+")


def split_passage(text: str) -> list[tuple[int, int, int]]:
    """(start, end, paragraph) of each sentence of a passage, offsets relative to its text."""
    out: list[tuple[int, int, int]] = []
    paragraph, last_end = 0, 0
    for s, e in sentence_spans(text, 0, len(text)):
        if "\n\n" in text[last_end:s] or "\n \n" in text[last_end:s]:
            paragraph += 1 if out else 0
        out.append((s, e, paragraph))
        last_end = e
    return out


def sentence_text(text: str, start: int, end: int) -> str:
    """A sentence as shown and embedded: whitespace collapsed."""
    return _WS.sub(" ", text[start:end]).strip()


def encode(vectors: np.ndarray, encoding: str) -> tuple[np.ndarray, np.ndarray | None]:
    """(stored rows, per-row scales or None) of float32 unit vectors."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if encoding == "fp16":
        return vectors.astype(np.float16), None
    if encoding != "int8":
        raise ValueError(f"sentence vector encoding {encoding!r} is unknown - use one of {ENCODINGS}")
    peak = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    rows = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return rows, scales


def decode(rows: np.ndarray, scales: np.ndarray | None) -> np.ndarray:
    """float32 unit vectors of stored rows (renormalised: the rounding moved them off the sphere)."""
    out = rows.astype(np.float32)
    if scales is not None:
        out *= scales[:, None]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


@dataclass(frozen=True)
class StoredSentences:
    """All passages' sentences, to write: passage i's are rows offsets[i]:offsets[i + 1]."""

    offsets: np.ndarray  # int64 (passages + 1,)
    spans: np.ndarray  # int32 (sentences, 3): start, end, paragraph, relative to the passage
    vectors: np.ndarray  # (sentences, dim), encoded rows (int8 or float16)
    scales: np.ndarray | None  # float32 (sentences,) for int8, else None
    encoding: str

    @property
    def count(self) -> int:
        return len(self.spans)

    @classmethod
    def gather(
        cls, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], dim: int, encoding: str
    ) -> StoredSentences:
        """One passage's (spans, rows, scales) after another, in passage order."""
        counts = [len(spans) for spans, _, _ in parts]
        offsets = np.cumsum([0, *counts], dtype=np.int64)
        kind = np.int8 if encoding == "int8" else np.float16
        spans = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3), np.int32)
        rows = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, dim), kind)
        scales = None
        if encoding == "int8":
            got = [p[2] for p in parts if p[2] is not None]
            scales = np.concatenate(got) if got else np.zeros(0, np.float32)
        return cls(
            offsets,
            np.ascontiguousarray(spans, dtype=np.int32).reshape(-1, 3),
            np.ascontiguousarray(rows, dtype=kind).reshape(-1, dim),
            None if scales is None else np.ascontiguousarray(scales, dtype=np.float32),
            encoding,
        )


class _NpyRows:
    """Rows of a 2-d (or 1-d) .npy file, read by pread through a descriptor held open.

    The header is compared byte for byte with the one storage.npy_writer writes for the expected shape
    and type: numpy's header reader parses it with the ast module, which on this Python can fail with a
    SystemError while other threads parse too (loads during swaps, tests/test_load_race.py).
    """

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self._file = OpenFile(path)
        header = io.BytesIO()
        fields = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
        np.lib.format.write_array_header_1_0(header, fields)
        expected = header.getvalue()
        if os.pread(self._file.fd, len(expected), 0) != expected:
            raise ValueError(f"{path.name} is not the {shape} {dtype} array the manifest describes")
        self._start = len(expected)
        self.dtype, self.width = dtype, int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
        self.shape = shape

    def rows(self, start: int, stop: int) -> np.ndarray:
        size = self.dtype.itemsize * self.width
        data = self._file.read(self._start + start * size, (stop - start) * size) if stop > start else b""
        return np.frombuffer(data, dtype=self.dtype).reshape((stop - start, *self.shape[1:]))

    def all(self) -> np.ndarray:
        out = np.empty(self.shape, dtype=self.dtype)
        if out.size:
            self._file.read_into(out, self._start)
        return out


class SentenceStore:
    """The stored sentences of an index: offsets in memory, spans and vectors read per passage."""

    def __init__(
        self, offsets: np.ndarray, spans: _NpyRows, vectors: _NpyRows, scales: _NpyRows | None
    ) -> None:
        self.offsets, self._spans, self._vectors, self._scales = offsets, spans, vectors, scales

    @classmethod
    def open(
        cls, paths: dict[str, Path], passages: int, count: int, dim: int, encoding: str
    ) -> SentenceStore:
        """Open the files (keys "offsets", "spans", "vectors", "scales"); ValueError when they disagree."""
        offsets = _NpyRows(paths["offsets"], (passages + 1,), np.dtype("<i8")).all()
        if offsets[0] != 0 or offsets[-1] != count:
            raise ValueError("sentence offsets disagree with the manifest")
        if passages and np.any(np.diff(offsets) < 0):
            raise ValueError("sentence offsets go backwards")
        spans = _NpyRows(paths["spans"], (count, 3), np.dtype("<i4"))
        kind = np.dtype("i1") if encoding == "int8" else np.dtype("<f2")
        vectors = _NpyRows(paths["vectors"], (count, dim), kind)
        scales = _NpyRows(paths["scales"], (count,), np.dtype("<f4")) if encoding == "int8" else None
        return cls(offsets, spans, vectors, scales)

    @property
    def encoding(self) -> str:
        return "int8" if self._scales is not None else "fp16"

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def passage(self, row: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """Passage `row`'s (start, end, paragraph) spans and their float32 unit vectors."""
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        spans = [(int(s), int(e), int(p)) for s, e, p in self._spans.rows(start, stop).tolist()]
        scales = self._scales.rows(start, stop) if self._scales is not None else None
        return spans, decode(self._vectors.rows(start, stop), scales)

    def encoded_passage(self, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Passage `row`'s (spans, encoded rows, scales), as stored: what an appending build reuses."""
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        scales = self._scales.rows(start, stop) if self._scales is not None else None
        return self._spans.rows(start, stop), self._vectors.rows(start, stop), scales

    def encoded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """All (spans, encoded rows, scales), as stored: what a build reuses."""
        return (
            self._spans.all(),
            self._vectors.all(),
            self._scales.all() if self._scales is not None else None,
        )
