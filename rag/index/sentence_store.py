"""Each passage's sentences, split and embedded at build time and stored beside the passage vectors.

A question used to split its top passages into sentences and embed them (the sentence rerank, the
abstention evidence and the composer all compare the question with single sentences); at 100k passages
that was most of a question's time. The build now does it once per passage: `split_passage` gives the
sentence spans (start, end, paragraph), relative to the passage text, and `sentence_text` what is
embedded; `StoredSentences` carries them to index_folder.write_index, and `SentenceStore` reads one
passage's spans and vectors by pread(2) when a question reaches it. Vectors are stored as 4-bit codes,
two a byte ("int4", from index format 7), or, in indexes of formats 3 to 6, as int8 with a float32 scale
per sentence ("int8") or float16 ("fp16"); they come back as float32 unit vectors.
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

ENCODINGS = ("int4", "int8", "fp16")
# docs/benchmarks.md (2026-12-01, format 7): int4 takes half int8's bytes (192 a sentence at 384-d, what
# brings a million passages under 3 kB each); it changed 27 of 314 answers of the three answer sets, with
# the answer figures up on some sets and splits and down on others (by one or two questions at most)
ENCODING = "int4"
# int4: each component x of a row becomes floor(x / step) clipped to -8..7, stored + 8 in a nibble, and
# reads back as (code + 0.5) * step, with step = max(2.5 standard deviations of the row, 0.8 of its largest
# component) / 7.5. Clipping the few large components instead of scaling to the largest cut the cosine
# error to a question by a fifth on SciFact's sentences (0.0055 against 0.0062 standard deviation); the
# 0.8 keeps a row with a few spikes (not what MiniLM gives) within a fifth of each spike.
INT4_CLIP = (2.5, 0.8)
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
    if encoding == "int4":
        return _int4(vectors), None
    if encoding != "int8":
        raise ValueError(f"sentence vector encoding {encoding!r} is unknown - use one of {ENCODINGS}")
    peak = np.abs(vectors).max(axis=1) if len(vectors) else np.zeros(0, np.float32)
    scales = np.where(peak > 0, peak / 127.0, 1.0).astype(np.float32)
    rows = np.clip(np.rint(vectors / scales[:, None]), -127, 127).astype(np.int8)
    return rows, scales


def _int4(vectors: np.ndarray) -> np.ndarray:
    """Rows of nibbles, two components a byte (the first in the low nibble); an odd last one pads with 0."""
    n, dim = vectors.shape
    if dim:
        sigmas, share = INT4_CLIP
        reach = np.maximum(sigmas * vectors.std(axis=1), share * np.abs(vectors).max(axis=1))[:, None]
    step = reach / 7.5 if dim else np.ones((n, 1), np.float32)
    codes = np.clip(np.floor(vectors / np.where(step > 0, step, 1.0)), -8, 7).astype(np.int16) + 8
    if dim % 2:
        codes = np.concatenate([codes, np.full((n, 1), 8, np.int16)], axis=1)
    return (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)


def decode(rows: np.ndarray, scales: np.ndarray | None, dim: int | None = None) -> np.ndarray:
    """float32 unit vectors of stored rows (renormalised: the rounding moved them off the sphere; an int4
    row's scale does not matter, so none is stored). `dim`: an int4 row's width (default: two a byte)."""
    if rows.dtype == np.uint8:  # int4
        out = np.empty((len(rows), 2 * rows.shape[1]), np.float32)
        out[:, 0::2], out[:, 1::2] = rows & 15, rows >> 4
        out = out[:, : dim or out.shape[1]] - 7.5
    else:
        out = rows.astype(np.float32)
    if scales is not None:
        out *= scales[:, None]
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1, norms)


def reencoded(rows: np.ndarray, scales: np.ndarray | None, dim: int, encoding: str) -> np.ndarray:
    """Stored rows of another encoding in `encoding` (scales: none stored, as for int4), 100,000 at a
    time: what a build that rewrites an index of an older format does instead of embedding again."""
    parts = [
        encode(
            decode(rows[a : a + 100_000], None if scales is None else scales[a : a + 100_000], dim), encoding
        )[0]
        for a in range(0, len(rows), 100_000)
    ]
    return np.concatenate(parts) if parts else encode(np.zeros((0, dim), np.float32), encoding)[0]


Encoded = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # a passage's (spans, encoded rows, scales)


def in_encoding(part: Encoded, dim: int, encoding: str = ENCODING) -> Encoded:
    """A passage's stored sentences in `encoding`: as they are, or re-encoded (int8 rows of an older index
    or store, as int4)."""
    spans, rows, scales = part
    if (rows.dtype == np.uint8) == (encoding == "int4") and (scales is not None) == (encoding == "int8"):
        return part
    return (spans, *encode(decode(rows, scales, dim), encoding))


def from_bytes(spans: bytes, rows: bytes, scales: bytes, dim: int) -> Encoded:
    """A passage's sentences as the PostgreSQL store keeps them (int32 spans; int4 rows with no scales, or
    int8 rows and float32 scales, as stores written before index format 7 hold)."""
    out = np.frombuffer(spans, "<i4").reshape(-1, 3)
    if not scales and len(rows) == len(out) * ((dim + 1) // 2):
        return out, np.frombuffer(rows, np.uint8).reshape(len(out), (dim + 1) // 2), None
    return out, np.frombuffer(rows, np.int8).reshape(-1, dim), np.frombuffer(scales, "<f4")


def _kind(encoding: str, dim: int) -> tuple[np.dtype, int]:
    """The dtype and width of an encoding's stored rows."""
    if encoding == "int4":
        return np.dtype("u1"), (dim + 1) // 2
    return (np.dtype("i1") if encoding == "int8" else np.dtype("<f2")), dim


@dataclass(frozen=True)
class StoredSentences:
    """All passages' sentences, to write: passage i's are rows offsets[i]:offsets[i + 1]."""

    offsets: np.ndarray  # int64 (passages + 1,)
    spans: np.ndarray  # int32 (sentences, 3): start, end, paragraph, relative to the passage
    vectors: np.ndarray  # encoded rows: (sentences, dim / 2) uint8 for int4, (sentences, dim) int8 or float16
    scales: np.ndarray | None  # float32 (sentences,) for int8, else None
    encoding: str

    @property
    def count(self) -> int:
        return len(self.spans)

    def stored_spans(self) -> np.ndarray:
        """The spans as sentences.spans.npy stores them: uint16 when every value fits (passages are
        bounded in characters, so nearly always; since index format 7), else int32."""
        small = not len(self.spans) or (int(self.spans.min()) >= 0 and int(self.spans.max()) < 1 << 16)
        return self.spans.astype(np.uint16) if small else self.spans

    @classmethod
    def gather(
        cls, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]], dim: int, encoding: str
    ) -> StoredSentences:
        """One passage's (spans, rows, scales) after another, in passage order."""
        counts = [len(spans) for spans, _, _ in parts]
        offsets = np.cumsum([0, *counts], dtype=np.int64)
        kind, width = _kind(encoding, dim)
        spans = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, 3), np.int32)
        rows = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, width), kind)
        scales = None
        if encoding == "int8":
            got = [p[2] for p in parts if p[2] is not None]
            scales = np.concatenate(got) if got else np.zeros(0, np.float32)
        return cls(
            offsets,
            np.ascontiguousarray(spans, dtype=np.int32).reshape(-1, 3),
            np.ascontiguousarray(rows, dtype=kind).reshape(-1, width),
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
        self,
        offsets: np.ndarray,
        spans: _NpyRows,
        vectors: _NpyRows,
        scales: _NpyRows | None,
        encoding: str,
        dim: int,
    ) -> None:
        self.offsets, self._spans, self._vectors, self._scales = offsets, spans, vectors, scales
        self.encoding, self.dim = encoding, dim

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
        try:
            spans = _NpyRows(paths["spans"], (count, 3), np.dtype("<u2"))
        except ValueError:  # int32: values past 65,535, or an index of format 3 to 6
            spans = _NpyRows(paths["spans"], (count, 3), np.dtype("<i4"))
        kind, width = _kind(encoding, dim)
        vectors = _NpyRows(paths["vectors"], (count, width), kind)
        scales = _NpyRows(paths["scales"], (count,), np.dtype("<f4")) if encoding == "int8" else None
        return cls(offsets, spans, vectors, scales, encoding, dim)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def passage(self, row: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """Passage `row`'s (start, end, paragraph) spans and their float32 unit vectors."""
        start, stop = int(self.offsets[row]), int(self.offsets[row + 1])
        spans = [(int(s), int(e), int(p)) for s, e, p in self._spans.rows(start, stop).tolist()]
        scales = self._scales.rows(start, stop) if self._scales is not None else None
        return spans, decode(self._vectors.rows(start, stop), scales, self.dim)

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
