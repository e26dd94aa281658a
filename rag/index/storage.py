"""Index files on disk: synced writes, size + sha256 records, the checks made when loading, and reads.

Every index file is recorded as {"bytes", "sha256"} when written. Loading always checks sizes (a
truncated or half-written file is caught at once) and hashes files up to HASH_UP_TO bytes; bigger files
(vectors and passages at hundreds of thousands of passages) are hashed only on request (`rag info
--verify`), because hashing gigabytes would cost seconds on every start. Files are read with pread(2)
through a descriptor held open (OpenFile, VectorRows), and large arrays are written without a copy.
It knows files, not what an index folder holds (index_folder.py) or what the manifest says (manifest.py).
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import numpy as np

from ..errors import IndexLoadError

HASH_UP_TO = 64 << 20


def record(path: Path) -> dict[str, Any]:
    """{"bytes", "sha256"} of a file, read block-wise."""
    with path.open("rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        size = fh.tell()
    return {"bytes": size, "sha256": digest}


def check(path: Path, expected: Mapping[str, Any], *, full: bool = False, shown: Path | None = None) -> str:
    """ "" when the file matches its record, else what is wrong (missing, truncated or corrupted).

    `shown` is the name messages give the file when `path` is not it (a path through a held folder).
    """
    shown = shown or path
    try:
        size = path.stat().st_size
    except OSError:
        return f"{shown} is missing"
    if size != expected.get("bytes"):
        return f"{shown} is truncated or corrupted ({size} bytes, expected {expected.get('bytes')})"
    try:
        if (full or size <= HASH_UP_TO) and record(path)["sha256"] != expected.get("sha256"):
            return f"{shown} is truncated or corrupted (its sha256 differs from the one recorded)"
    except OSError:
        return f"{shown} is missing"
    return ""


def write_synced(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    """Write bytes, or let `data(fh)` write (large arrays go to the file without a copy in memory).

    The file must not exist: index files are written once, into a fresh folder, and may be hard-linked
    into the next index (append.py), so rewriting one in place would change a previous index too.
    """
    with path.open("xb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def link(source: Path, target: Path) -> None:
    """Hard-link a finished index file into a new folder: the bytes are shared, never copied or changed."""
    os.link(source, target)


def fsync_path(path: Path) -> None:
    """fsync a file or folder (a folder's entries are on disk only after this)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class OpenFile:
    """A file held open and read with pread(2): what is read lands in the page cache, not in this
    process's resident memory (a memory map would count every page touched), and the descriptor keeps
    reading the same file after a rebuild swaps the folder."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)

    def read(self, start: int, length: int) -> bytes:
        data = os.pread(self.fd, length, start)
        if len(data) != length:
            raise IndexLoadError(f"index file read short ({len(data)} of {length} bytes) - rebuild the index")
        return data

    def read_into(self, array: np.ndarray, start: int) -> None:
        view, done = array.reshape(-1).view(np.uint8).data, 0
        while done < len(view):
            got = os.preadv(self.fd, [view[done : done + (256 << 20)]], start + done)
            if got <= 0:
                raise IndexLoadError("index file read short - rebuild the index")
            done += got


class Rows(Protocol):
    """Exact vectors by passage row: VectorRows (one file) or segments.SegmentedVectors."""

    count: int
    dim: int

    def __len__(self) -> int: ...
    def take(self, rows: np.ndarray) -> np.ndarray: ...
    def all(self) -> np.ndarray: ...


# vectors.npy holds int8 from index format 7: each row scaled so that its largest component is 127, no
# scale stored (a row is renormalised when read, which the scale does not change); a quarter of float32's
# bytes, and a score moves by about 1e-3 (docs/benchmarks.md). Formats 5 and 6 hold float16, 3 and 4 float32.
VECTOR_DTYPE = np.dtype("i1")
_DTYPES: dict[int, np.dtype] = {
    3: np.dtype("<f4"),
    4: np.dtype("<f4"),
    5: np.dtype("<f2"),
    6: np.dtype("<f2"),
}


def vector_dtype(index_format: int) -> np.dtype:
    """What vectors.npy holds in an index of this format."""
    return _DTYPES.get(index_format, VECTOR_DTYPE)


def stored_vectors(vectors: np.ndarray) -> np.ndarray:
    """The vectors as vectors.npy stores them (int8, each row scaled to reach 127): what a build writes.
    Storing rows read back from int8 gives the same bytes, so a rebuild that reuses vectors keeps them."""
    vectors = np.asarray(vectors, dtype=np.float32)
    out = np.empty(vectors.shape, dtype=VECTOR_DTYPE)
    for start in range(0, len(vectors), 1 << 16):  # in slices: no float32 copy of a million rows
        part = vectors[start : start + (1 << 16)]
        peak = np.abs(part).max(axis=1, keepdims=True) if part.shape[1] else np.ones((len(part), 1))
        scaled = part * (127.0 / np.where(peak > 0, peak, 1.0))
        out[start : start + len(part)] = np.clip(np.rint(scaled), -127, 127)
    return out


def read_back(stored: np.ndarray) -> np.ndarray:
    """float32 unit vectors of stored rows: int8 or float16 rounding moves a unit vector off the sphere
    (int8 rows are not scaled at all), so rows are renormalised as they are read (and a question's own
    vector scores about 1)."""
    return np.asarray(stored, np.float32) if stored.dtype == np.float32 else _unit(stored.astype(np.float32))


def as_served(vectors: np.ndarray) -> np.ndarray:
    """The vectors as an index serves them once stored (encoded as vectors.npy holds them, then read
    back): what the graph and the PostgreSQL store take, so that every store ranks alike."""
    return read_back(stored_vectors(vectors))


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    rows /= np.where(norms == 0, 1, norms)
    return rows


class VectorRows:
    """The exact vectors in vectors.npy (int8; float16 in formats 5 and 6, float32 in 3 and 4), read row
    by row on demand (or all at once for builds), as float32 unit vectors."""

    def __init__(self, path: Path, count: int, dim: int, dtype: np.dtype = VECTOR_DTYPE) -> None:
        self.count, self.dim, self._dtype = count, dim, np.dtype(dtype)
        self._file = OpenFile(path)
        with open(self._file.fd, "rb", closefd=False) as fh:  # the header of the very file held open
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            self._start = fh.tell()
        if shape != (count, dim) or fortran or dtype != self._dtype:
            raise ValueError(f"vectors.npy holds {shape} {dtype}, expected ({count}, {dim}) {self._dtype}")

    def __len__(self) -> int:
        return self.count

    def take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        width = self._dtype.itemsize * self.dim
        for i, row in enumerate(rows.tolist()):
            out[i] = np.frombuffer(self._file.read(self._start + row * width, width), dtype=self._dtype)
        return _unit(out) if self._dtype != np.float32 else out

    def all(self) -> np.ndarray:
        out = np.empty((self.count, self.dim), dtype=np.float32)
        if self._dtype == np.float32:
            self._file.read_into(out, self._start)
            return out
        step, width = 1 << 16, self._dtype.itemsize * self.dim  # read in slices: no whole copy
        stored = np.empty((min(step, self.count), self.dim), dtype=self._dtype)
        for start in range(0, self.count, step):
            part = stored[: min(step, self.count - start)]
            self._file.read_into(part, self._start + start * width)
            out[start : start + len(part)] = read_back(part)
        return out


def npy_writer(array: np.ndarray) -> Callable[[BinaryIO], object]:
    """Writes an array as .npy through the file object (np.save would use tofile(), whose errors lose
    the errno, e.g. "No space left on device")."""
    array = np.ascontiguousarray(array)

    def write(fh: BinaryIO) -> None:
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
        if array.size:  # memoryview cannot cast an empty shape
            fh.write(array.data.cast("B"))

    return write


def parts_writer(parts: Sequence[bytes | memoryview]) -> Callable[[BinaryIO], object]:
    """Writes the parts one after another (no joined copy of a large file in memory)."""
    return lambda fh: fh.writelines(parts)
