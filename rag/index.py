"""The index folder on disk: write it atomically, load it with checks, lock it during builds.

Layout of index/ (format 2):
    manifest.json   format version, embedder (name, dim, fingerprint), chunking parameters, per-article
                    content hashes, counts, library versions, size + sha256 of every other file. Last written.
    vectors.faiss   FAISS inner-product index over L2-normalised float32 vectors (row i = chunk i)
    chunks.jsonl    one Chunk per line, in vector order
    keyword/        the BM25 index over the same passages (keyword.py; it verifies its own files)
A build writes a hidden sibling folder, then swaps it in with one atomic rename(2) exchange (Linux
renameat2 RENAME_EXCHANGE; elsewhere two renames with recovery), so a build killed at any moment leaves
the previous index loadable. Loading verifies every file against the manifest and says what to run.
It does not decide what to embed (build.py) or how to search (retrieve.py).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

import numpy as np

from .errors import BuildLockedError, IndexLoadError
from .keyword import KeywordIndex
from .types import Chunk

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
KEYWORD = "keyword"
_RENAME_EXCHANGE = 2


@dataclass(frozen=True)
class LoadedIndex:
    index_dir: Path
    manifest: dict[str, Any]
    vectors: Any  # faiss.Index
    chunks: tuple[Chunk, ...]
    keyword: KeywordIndex

    @property
    def model_name(self) -> str:
        return str(self.manifest["embedder"]["name"])

    def all_vectors(self) -> np.ndarray:
        n = self.vectors.ntotal
        return self.vectors.reconstruct_n(0, n) if n else np.zeros((0, self.vectors.d), np.float32)


def _run_hint(index_dir: Path) -> str:
    return f'run "rag build --index {index_dir}"' if index_dir != Path("index") else 'run "rag build"'


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest, checked for format; IndexLoadError naming the problem and the fix."""
    path = index_dir / MANIFEST
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexLoadError(f"{index_dir} is a file, not an index folder - pass a folder with --index")
    if not index_dir.is_dir():
        raise IndexLoadError(f"no index at {index_dir}/ - {_run_hint(index_dir)} to build it")
    if not path.is_file():
        raise IndexLoadError(
            f"{index_dir}/ has no {MANIFEST}, so it is not a complete index - {_run_hint(index_dir)}"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        version = int(manifest["format"])
    except (OSError, ValueError, KeyError, TypeError):
        raise IndexLoadError(f"{path} is damaged - {_run_hint(index_dir)} to rebuild the index") from None
    if version > FORMAT_VERSION:
        raise IndexLoadError(
            f"{index_dir}/ has index format {version}, this rag reads format {FORMAT_VERSION} - upgrade rag,"
            f" or {_run_hint(index_dir)} to rebuild it in format {FORMAT_VERSION}"
        )
    if version < FORMAT_VERSION:
        raise IndexLoadError(
            f"{index_dir}/ has the old index format {version} - {_run_hint(index_dir)} to rebuild it"
        )
    return manifest


def load_index(index_dir: Path) -> LoadedIndex:
    """Load and verify an index; one retry covers a build swapping it in while we read."""
    try:
        return _load_once(index_dir)
    except IndexLoadError:
        if not index_dir.exists() and (aside := _left_aside(index_dir)):
            return replace(_load_once(aside), index_dir=index_dir)
        return _load_once(index_dir)


def _left_aside(index_dir: Path) -> Path | None:
    """The newest complete index a fallback swap left aside (only while index_dir is missing)."""
    olds = [old for old in index_dir.parent.glob(f".{index_dir.name}.old-*") if (old / MANIFEST).is_file()]
    return max(olds, key=lambda old: (old / MANIFEST).stat().st_mtime, default=None)


def _load_once(index_dir: Path) -> LoadedIndex:
    import faiss

    manifest = read_manifest(index_dir)
    try:
        files, count = manifest["files"], int(manifest["counts"]["chunks"])
        manifest["embedder"]["name"]
    except (KeyError, TypeError, ValueError):
        raise IndexLoadError(f"{index_dir}/{MANIFEST} is damaged - {_run_hint(index_dir)}") from None
    blobs = {}
    for name in (VECTORS, CHUNKS):
        path = index_dir / name
        try:
            data = path.read_bytes()
        except OSError:
            raise IndexLoadError(f"{path} is missing - {_run_hint(index_dir)} to rebuild the index") from None
        expected = files.get(name, {})
        if len(data) != expected.get("bytes") or hashlib.sha256(data).hexdigest() != expected.get("sha256"):
            raise IndexLoadError(
                f"{path} is truncated or corrupted ({len(data)} bytes, manifest says {expected.get('bytes')})"
                f" - {_run_hint(index_dir)} to rebuild the index"
            )
        blobs[name] = data
    vectors = faiss.deserialize_index(np.frombuffer(blobs[VECTORS], dtype=np.uint8))
    if manifest.get("index_type") == "hnsw-ip":
        cast(Any, vectors).hnsw.efSearch = HNSW["efSearch"]  # search depth is not saved with the graph
    chunks = tuple(Chunk.from_json(json.loads(line)) for line in blobs[CHUNKS].decode("utf-8").splitlines())
    if vectors.ntotal != count or len(chunks) != count:
        raise IndexLoadError(
            f"{index_dir}/ holds {vectors.ntotal} vectors and {len(chunks)} passages but the manifest says"
            f" {count} - {_run_hint(index_dir)}"
        )
    keyword = KeywordIndex.load(index_dir / KEYWORD)
    if len(keyword) != count:
        raise IndexLoadError(
            f"{index_dir}/{KEYWORD}/ holds {len(keyword)} passages but the manifest says {count} - {_run_hint(index_dir)}"
        )
    return LoadedIndex(index_dir, manifest, vectors, chunks, keyword)


# Exact search while it is fast enough; HNSW (graph) search beyond that size.
HNSW_FROM = 200_000
HNSW = {"M": 32, "efConstruction": 200, "efSearch": 128}
INDEX_TYPES = ("auto", "flat", "hnsw")


def choose_index_type(n_vectors: int, requested: str = "auto") -> str:
    """ "flat-ip" (exact) or "hnsw-ip" (approximate, sublinear) for n vectors; `requested` overrides."""
    if requested not in INDEX_TYPES:
        raise IndexLoadError(f"index type {requested!r} is unknown - use one of {', '.join(INDEX_TYPES)}")
    if requested == "auto":
        requested = "hnsw" if n_vectors >= HNSW_FROM else "flat"
    return f"{requested}-ip"


def new_vector_index(dim: int, index_type: str) -> Any:
    """An empty FAISS index of the given type, inner product over unit vectors."""
    import faiss

    if index_type == "hnsw-ip":
        index = faiss.IndexHNSWFlat(dim, HNSW["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW["efConstruction"]
        index.hnsw.efSearch = HNSW["efSearch"]
        return index
    return faiss.IndexFlatIP(dim)


def write_index(
    index_dir: Path, vectors: np.ndarray, chunks: list[Chunk], keyword: KeywordIndex, manifest: dict[str, Any]
) -> None:
    """Write a complete index into a sibling folder, manifest last, then swap it in atomically."""
    import faiss

    if len(vectors) != len(chunks):
        raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
    tmp = index_dir.parent / f".{index_dir.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        vector_index = new_vector_index(
            int(manifest["embedder"]["dim"]), manifest.get("index_type", "flat-ip")
        )
        if len(vectors):
            vector_index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        blobs = {
            VECTORS: faiss.serialize_index(vector_index).tobytes(),
            CHUNKS: "".join(json.dumps(c.to_json(), ensure_ascii=False) + "\n" for c in chunks).encode(),
        }
        files = {}
        for name, data in blobs.items():
            _write_synced(tmp / name, data)
            files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        keyword.save(tmp / KEYWORD)
        manifest = {**manifest, "format": FORMAT_VERSION, "files": files}
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        _fsync_dir(tmp)
        _swap_in(tmp, index_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap_in(new: Path, index_dir: Path) -> None:
    """Make `new` the index folder; afterwards `new` holds the previous index (or nothing)."""
    if not index_dir.exists():
        os.rename(new, index_dir)
    elif not _rename_exchange(new, index_dir):
        old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}"
        os.rename(index_dir, old)  # a crash between these two renames is repaired by recover()
        os.rename(new, index_dir)
        os.rename(old, new)
    _fsync_dir(index_dir.parent)


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def recover(index_dir: Path) -> None:
    """Put back an index left aside by a build killed between the two fallback renames."""
    if not index_dir.exists() and (aside := _left_aside(index_dir)):
        os.rename(aside, index_dir)


def remove_leftovers(index_dir: Path) -> None:
    """Delete what killed builds left (call while holding the build lock, after recover())."""
    for tmp in index_dir.parent.glob(f".{index_dir.name}.building-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    if index_dir.is_dir():  # an index serves, so copies set aside by the fallback swap are stale
        for old in index_dir.parent.glob(f".{index_dir.name}.old-*"):
            shutil.rmtree(old, ignore_errors=True)


@contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index's build lock; a second build refuses at once with a clear message."""
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexLoadError(f"{index_dir} is a file, not an index folder - pass a folder with --index")
    index_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = index_dir.parent / f".{index_dir.name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise BuildLockedError(
                f"another build of {index_dir}/ is running (pid {holder}) - wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        recover(index_dir)
        remove_leftovers(index_dir)
        yield
    finally:
        os.close(fd)
