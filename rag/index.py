"""The index folder on disk: write it atomically, load it with checks, lock it during builds.

Layout of index/ (format 3):
    manifest.json       format version, embedder (name, dim, fingerprint, precision), chunking parameters,
                        per-article content hashes, counts, index type, library versions, size + sha256 of
                        every other file. Written last.
    vectors.npy         the passages' L2-normalised float32 vectors (row i = chunk i), read row by row
                        with pread: the exact scores, and the vectors the next build reuses
    vectors.hnsw.faiss  only for the "hnsw-ip" type: an HNSW graph over 8-bit scalar-quantised vectors
                        (about 650 bytes per passage in memory instead of 1.5 kB); its candidates are
                        re-scored exactly from vectors.npy. The exact "flat-ip" type searches vectors.npy.
    vectors.slots.npy   only for "hnsw-ip": the row of each graph node, -1 for a passage that is gone.
                        A rebuild adds new passages to the previous graph and marks removed ones -1
                        instead of building the graph again; past MAX_DEAD of dead nodes it is rebuilt.
    chunks.jsonl        one Chunk per line, in vector order, read (pread) and parsed on demand
    chunks.offsets.npy  where each line starts (int64, n + 1 entries)
    keyword/            the BM25 index over the same passages (keyword.py; it checks its own files)
A build writes a hidden sibling folder, then swaps it in with one atomic rename(2) exchange (Linux
renameat2 RENAME_EXCHANGE; elsewhere two renames with recovery), so a build killed at any moment leaves
the previous index loadable. Loading checks every file's size, hashes the small ones (storage.py), and
says what to run. It does not decide what to embed (build.py) or how to search (retrieve.py).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import shutil
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, cast, overload

import numpy as np

from . import storage
from .config import INDEX_TYPES
from .errors import BuildLockedError, ForeignFolderError, IndexLoadError
from .keyword import KeywordIndex
from .types import Chunk

FORMAT_VERSION = 3
MANIFEST = "manifest.json"
VECTORS = "vectors.npy"
GRAPH = "vectors.hnsw.faiss"
SLOTS = "vectors.slots.npy"
MAX_DEAD = 0.2  # share of dead graph nodes above which a build makes a fresh graph
CHUNKS = "chunks.jsonl"
OFFSETS = "chunks.offsets.npy"
KEYWORD = "keyword"
_RENAME_EXCHANGE = 2


class _OpenFile:
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


class VectorRows:
    """The exact float32 vectors in vectors.npy, read row by row on demand (or all at once for builds)."""

    def __init__(self, path: Path, count: int, dim: int) -> None:
        self.count, self.dim = count, dim
        self._file = _OpenFile(path)
        with open(self._file.fd, "rb", closefd=False) as fh:  # the header of the very file held open
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            self._start = fh.tell()
        if shape != (count, dim) or fortran or dtype != np.dtype("<f4"):
            raise ValueError(f"vectors.npy holds {shape} {dtype}, expected ({count}, {dim}) float32")

    def __len__(self) -> int:
        return self.count

    def take(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        width = 4 * self.dim
        for i, row in enumerate(rows.tolist()):
            out[i] = np.frombuffer(self._file.read(self._start + row * width, width), dtype=np.float32)
        return out

    def all(self) -> np.ndarray:
        out = np.empty((self.count, self.dim), dtype=np.float32)
        self._file.read_into(out, self._start)
        return out


class ChunkStore(Sequence[Chunk]):
    """The passages of an index, read from chunks.jsonl and parsed when asked for."""

    def __init__(self, file: _OpenFile | None, offsets: np.ndarray) -> None:
        self._file, self._offsets = file, offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, i: int) -> Chunk: ...
    @overload
    def __getitem__(self, i: slice) -> list[Chunk]: ...
    def __getitem__(self, i: int | slice) -> Chunk | list[Chunk]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self) or self._file is None:
            raise IndexError(i)
        start, end = int(self._offsets[i]), int(self._offsets[i + 1])
        return Chunk.from_json(json.loads(self._file.read(start, end - start)))

    def __iter__(self) -> Iterator[Chunk]:
        if self._file is None:
            return iter(())
        data = self._file.read(0, int(self._offsets[-1]))  # one read for a whole pass (builds)
        return (Chunk.from_json(json.loads(line)) for line in data.splitlines())


@dataclass(frozen=True)
class LoadedIndex:
    index_dir: Path
    manifest: dict[str, Any]
    vectors: Any  # faiss.Index to search: exact over all vectors, or the HNSW graph
    chunks: ChunkStore
    keyword: KeywordIndex
    exact: VectorRows  # the exact vectors (vectors.npy), read on demand
    slots: np.ndarray | None = None  # HNSW only: the row of each graph node, -1 where it is dead

    @property
    def model_name(self) -> str:
        return str(self.manifest["embedder"]["name"])

    def all_vectors(self) -> np.ndarray:
        return self.exact.all()

    def dense_search(self, queries: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (len(queries), depth), best first; rows -1 where there are fewer.

        HNSW candidates (HNSW["refine"] of them at least) are re-scored with the exact vectors, so scores
        are exact inner products and the quantisation only decides which rows are candidates.
        """
        import faiss

        # One thread: threads cost a single query more than they give (10-40x on this VM). The setting
        # is per calling thread, so it is made here, in whichever thread serves the question.
        faiss.omp_set_num_threads(1)
        if self.manifest.get("index_type") != "hnsw-ip":
            return cast(tuple[np.ndarray, np.ndarray], self.vectors.search(queries, depth))
        assert self.slots is not None
        live = max(len(self.exact), 1)  # every row has exactly one live node (checked on load)
        wanted = min(max(depth, HNSW["refine"]), len(self.exact))
        fetched = min(int(wanted * len(self.slots) / live) + 1, len(self.slots))  # room for dead nodes
        _, nodes = self.vectors.search(queries, fetched)
        scores = np.full((len(queries), depth), -np.inf, dtype=np.float32)
        rows = np.full((len(queries), depth), -1, dtype=np.int64)
        for qi, found in enumerate(nodes):
            found = np.sort(self.slots[found[found >= 0]])
            found = found[found >= 0]  # sorted rows: the reads of vectors.npy go forward
            exact = self.exact.take(found) @ queries[qi]
            order = np.argsort(-exact, kind="stable")[:depth]
            scores[qi, : len(order)] = exact[order]
            rows[qi, : len(order)] = found[order]
        return scores, rows


def _run_hint(index_dir: Path) -> str:
    return f'run "rag build --index {index_dir}"' if index_dir != Path("index") else 'run "rag build"'


def read_manifest(index_dir: Path, *, root: Path | None = None) -> dict[str, Any]:
    """The manifest, checked for format; IndexLoadError naming the problem and the fix.

    `root` is where to read it from when that is not index_dir itself (a held folder, see _held).
    """
    path = index_dir / MANIFEST
    if root is None:
        _check_folder(index_dir)
    try:
        text = ((root or index_dir) / MANIFEST).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise IndexLoadError(
            f"{index_dir}/ has no {MANIFEST}, so it is not a complete index - {_run_hint(index_dir)}"
        ) from None
    except (OSError, ValueError):
        raise IndexLoadError(f"{path} is damaged - {_run_hint(index_dir)} to rebuild the index") from None
    try:
        manifest = json.loads(text)
        version = int(manifest["format"])
    except (ValueError, KeyError, TypeError):
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


def _check_folder(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise IndexLoadError(f"{index_dir} is a file, not an index folder - pass a folder with --index")
    if not index_dir.is_dir():
        raise IndexLoadError(f"no index at {index_dir}/ - {_run_hint(index_dir)} to build it")


_FD_DIR = Path("/proc/self/fd")  # Linux: a held descriptor as a folder path
LOAD_ATTEMPTS = 5  # loads in a row that may each be overtaken by a build swapping a new index in


class _Swapped(IndexLoadError):
    """A build swapped another index in while this load read the previous one: load again."""


def load_index(index_dir: Path, *, verify: bool = False) -> LoadedIndex:
    """Load and check an index: every file from one build, even while builds swap new ones in.

    Sizes are always checked and small files hashed; `verify` hashes every file (`rag info --verify`).
    A load overtaken by a swap is made again (up to LOAD_ATTEMPTS); any other failure once more.
    """
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            return _load_once(index_dir, verify)
        except _Swapped:
            if attempt == LOAD_ATTEMPTS:
                raise
        except IndexLoadError:
            if not index_dir.exists() and (aside := _left_aside(index_dir)):
                return replace(_load_once(aside, verify), index_dir=index_dir)
            if attempt > 1:
                raise
    raise AssertionError("unreachable")


def _left_aside(index_dir: Path) -> Path | None:
    """The newest complete index a fallback swap left aside (only while index_dir is missing)."""
    olds = [old for old in index_dir.parent.glob(f".{index_dir.name}.old-*") if (old / MANIFEST).is_file()]
    return max(olds, key=lambda old: (old / MANIFEST).stat().st_mtime, default=None)


@contextmanager
def _held(index_dir: Path) -> Iterator[Path]:
    """The index folder opened once; yields the path to read its files through.

    On Linux that is /proc/self/fd/N/: every name resolves in the folder held open, so a build swapping
    another folder in (and deleting this one) cannot hand a later read a file of another build; a
    read of a file deleted meanwhile fails, and the load is made again. Elsewhere it is index_dir
    itself, and a load during which the folder was replaced is refused (and made again) at the end.
    Messages name index_dir, never the /proc path.
    """
    _check_folder(index_dir)
    try:
        fd = os.open(index_dir, os.O_RDONLY | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):  # gone since the check: a fallback swap
        raise _Swapped(f"no index at {index_dir}/ - {_run_hint(index_dir)} to build it") from None
    except OSError as exc:
        raise IndexLoadError(
            f"{index_dir}/ cannot be read ({exc.strerror}) - check its permissions"
        ) from None
    try:
        held = os.fstat(fd)
        through = _FD_DIR / str(fd)
        root = through if through.is_dir() and os.stat(through).st_ino == held.st_ino else index_dir
        try:
            yield root
        except IndexLoadError as exc:
            if not _same_folder(index_dir, held):
                raise _Swapped(str(exc)) from None
            raise
        if root == index_dir and not _same_folder(index_dir, held):
            raise _Swapped(f"{index_dir}/ was replaced by a build while it was read - load it again")
    finally:
        os.close(fd)


def _same_folder(index_dir: Path, held: os.stat_result) -> bool:
    try:
        now = os.stat(index_dir)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino)


def _load_once(index_dir: Path, verify: bool = False) -> LoadedIndex:
    with _held(index_dir) as root:
        return _load_from(index_dir, root, verify)


def _load_from(index_dir: Path, root: Path, verify: bool) -> LoadedIndex:
    """Load the index whose files are read through `root` (see _held); messages name index_dir."""
    import faiss

    manifest = read_manifest(index_dir, root=root)
    try:
        files, count = manifest["files"], int(manifest["counts"]["chunks"])
        dim, index_type = int(manifest["embedder"]["dim"]), manifest.get("index_type", "flat-ip")
    except (KeyError, TypeError, ValueError):
        raise IndexLoadError(f"{index_dir}/{MANIFEST} is damaged - {_run_hint(index_dir)}") from None
    names = [VECTORS, CHUNKS, OFFSETS] + ([GRAPH, SLOTS] if index_type == "hnsw-ip" else [])
    for name in names:
        problem = storage.check(root / name, files.get(name, {}), full=verify, shown=index_dir / name)
        if problem:
            raise IndexLoadError(f"{problem} - {_run_hint(index_dir)} to rebuild the index")
    damaged = f"{index_dir}/ holds files that disagree with its manifest - {_run_hint(index_dir)}"
    try:
        exact = VectorRows(root / VECTORS, count, dim)
        offsets = np.load(root / OFFSETS)
        chunk_file = _OpenFile(root / CHUNKS)
        size = os.fstat(chunk_file.fd).st_size
        slots = None
        if index_type == "hnsw-ip":
            vectors = faiss.read_index(str(root / GRAPH))
            slots = np.load(root / SLOTS)
    except (OSError, ValueError, RuntimeError) as exc:  # faiss raises RuntimeError
        raise IndexLoadError(f"{damaged} ({exc.__class__.__name__})") from None
    if offsets.shape != (count + 1,) or (count and (offsets[0] != 0 or offsets[-1] != size)):
        raise IndexLoadError(damaged)
    if slots is not None:
        cast(Any, vectors).hnsw.efSearch = HNSW["efSearch"]  # search depth is not saved with the graph
        live = np.sort(slots[slots >= 0])
        if slots.shape != (vectors.ntotal,) or not np.array_equal(live, np.arange(count)):
            raise IndexLoadError(damaged)
    else:
        vectors = faiss.IndexFlatIP(dim)
        if count:
            vectors.add(exact.all())
        if vectors.ntotal != count:
            raise IndexLoadError(damaged)
    if vectors.d != dim:
        raise IndexLoadError(damaged)
    keyword = KeywordIndex.load(root / KEYWORD, verify=verify, shown_dir=index_dir / KEYWORD)
    if len(keyword) != count:
        raise IndexLoadError(
            f"{index_dir}/{KEYWORD}/ holds {len(keyword)} passages but the manifest says {count} - {_run_hint(index_dir)}"
        )
    chunks = ChunkStore(chunk_file if size else None, offsets)
    return LoadedIndex(index_dir, manifest, vectors, chunks, keyword, exact, slots)


# Exact search while it is fast enough; HNSW (graph) search beyond that size.
HNSW_FROM = 50_000  # exact search costs ~6.5 ms at 100k passages (here), HNSW + re-scoring ~1-2 ms
# Measured at 1M passages (real MiniLM vectors + random filler, 300 SciFact queries): recall@10 against exact
# search 0.990 at efSearch 256 and 0.993 at 512 with the top 50 re-scored exactly, p50 1.3-2.8 ms; without
# re-scoring 8-bit codes top out at 0.983-0.987. efConstruction 80 or 200 gained nothing on real queries
# at 100k and costs 1.7x / 5.3x the build time (1M at 40: 450 s on a loaded machine).
HNSW: dict[str, Any] = {"M": 32, "efConstruction": 40, "efSearch": 512, "refine": 50, "storage": "sq8"}
GRAPH_PARAMS = ("M", "efConstruction", "storage")  # what a graph is built with; the rest is search-time


def choose_index_type(n_vectors: int, requested: str = "auto") -> str:
    """ "flat-ip" (exact) or "hnsw-ip" (approximate, sublinear) for n vectors; `requested` overrides."""
    if requested not in INDEX_TYPES:
        raise IndexLoadError(f"index type {requested!r} is unknown - use one of {', '.join(INDEX_TYPES)}")
    if requested == "auto":
        requested = "hnsw" if n_vectors >= HNSW_FROM else "flat"
    return f"{requested}-ip"


def hnsw_index(vectors: np.ndarray) -> Any:
    """An HNSW graph over 8-bit scalar-quantised copies of the vectors (inner product), built on all cores."""
    import faiss

    index = cast(Any, faiss).IndexHNSWSQ(
        vectors.shape[1], faiss.ScalarQuantizer.QT_8bit, HNSW["M"], faiss.METRIC_INNER_PRODUCT
    )
    index.hnsw.efConstruction = HNSW["efConstruction"]
    index.hnsw.efSearch = HNSW["efSearch"]
    if len(vectors):
        with _all_cores():
            index.train(vectors)
            index.add(vectors)
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


def write_index(
    index_dir: Path,
    vectors: np.ndarray,
    chunks: Sequence[Chunk],
    keyword: KeywordIndex,
    manifest: dict[str, Any],
    *,
    previous: LoadedIndex | None = None,
    previous_rows: np.ndarray | None = None,
) -> None:
    """Write a complete index into a sibling folder, manifest last, then swap it in atomically.

    For an HNSW index, `previous` (an index of the same model, loaded for this build: its graph is
    extended in place) and `previous_rows` (each new row's row in it, or -1) let the previous graph
    grow instead of being built again.
    """
    import faiss

    if len(vectors) != len(chunks):
        raise ValueError(f"{len(vectors)} vectors for {len(chunks)} chunks")
    tmp = index_dir.parent / f".{index_dir.name}.building-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        files = {}

        def put(name: str, data: bytes | Callable[[BinaryIO], object]) -> None:
            _write_synced(tmp / name, data)
            files[name] = storage.record(tmp / name)

        put(VECTORS, _npy_writer(vectors))
        lines = [json.dumps(c.to_json(), ensure_ascii=False).encode() + b"\n" for c in chunks]
        put(CHUNKS, _writer(lines))
        offsets = np.cumsum([0, *map(len, lines)], dtype=np.int64)
        del lines
        put(OFFSETS, _npy_writer(offsets))
        if manifest.get("index_type") == "hnsw-ip":
            graph, slots = _graph(vectors, previous, previous_rows)
            serialized = faiss.serialize_index(graph)
            del graph
            put(GRAPH, _writer([serialized.data]))
            del serialized
            put(SLOTS, _npy_writer(slots))
        keyword.save(tmp / KEYWORD)
        manifest = {**manifest, "format": FORMAT_VERSION, "files": files}
        _write_synced(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
        storage.fsync_path(tmp)
        refuse_foreign(index_dir)  # checked again: a file saved into it during the build would be lost
        _swap_in(tmp, index_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _graph(
    vectors: np.ndarray, previous: LoadedIndex | None, previous_rows: np.ndarray | None
) -> tuple[Any, np.ndarray]:
    """The HNSW graph and its slots: the previous graph extended with the new rows where it can be."""
    usable = (
        previous is not None
        and previous_rows is not None
        and previous.slots is not None
        and all(previous.manifest.get("hnsw", {}).get(name) == HNSW[name] for name in GRAPH_PARAMS)
    )
    if usable:
        assert previous is not None and previous_rows is not None and previous.slots is not None
        slot_of_row = np.full(len(previous.exact), -1, dtype=np.int64)
        live = previous.slots >= 0
        slot_of_row[previous.slots[live]] = np.flatnonzero(live)
        slots = np.full(len(previous.slots), -1, dtype=np.int64)
        claimed = np.zeros(len(previous.slots), dtype=bool)
        fresh = []
        for row, old_row in enumerate(previous_rows.tolist()):
            slot = slot_of_row[old_row] if old_row >= 0 else -1
            if slot >= 0 and not claimed[slot]:
                slots[slot], claimed[slot] = row, True
            else:
                fresh.append(row)
        dead = (len(slots) - len(vectors) + len(fresh)) / max(len(slots) + len(fresh), 1)
        if dead <= MAX_DEAD:
            graph = previous.vectors  # extended in place: build() loaded it for itself, nobody searches it
            if fresh:
                with _all_cores():
                    graph.add(vectors[fresh])
            return graph, np.concatenate([slots, np.asarray(fresh, dtype=np.int64)])
    return hnsw_index(vectors), np.arange(len(vectors), dtype=np.int64)


def _npy_writer(array: np.ndarray) -> Callable[[BinaryIO], object]:
    """Writes an array as .npy through the file object (np.save would use tofile(), whose errors lose
    the errno, e.g. "No space left on device")."""
    array = np.ascontiguousarray(array)

    def write(fh: BinaryIO) -> None:
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
        if array.size:  # memoryview cannot cast an empty shape
            fh.write(array.data.cast("B"))

    return write


def _writer(parts: Sequence[bytes | memoryview]) -> Callable[[BinaryIO], object]:
    """Writes the parts one after another (no joined copy of a large file in memory)."""
    return lambda fh: fh.writelines(parts)


def _write_synced(path: Path, data: bytes | Callable[[BinaryIO], object]) -> None:
    storage.write_synced(path, data)  # one name for the fault tests to instrument


def _swap_in(new: Path, index_dir: Path) -> None:
    """Make `new` the index folder; afterwards `new` holds the previous index (or nothing)."""
    if not index_dir.exists():
        os.rename(new, index_dir)
    elif not _rename_exchange(new, index_dir):
        old = index_dir.parent / f".{index_dir.name}.old-{os.getpid()}"
        os.rename(index_dir, old)  # a crash between these two renames is repaired by recover()
        os.rename(new, index_dir)
        os.rename(old, new)
    storage.fsync_path(index_dir.parent)


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


# Every name an index of any format writes at its top level, and the kinds of file its keyword/ holds.
_OWN_NAMES = frozenset({MANIFEST, VECTORS, GRAPH, SLOTS, CHUNKS, OFFSETS, KEYWORD, "vectors.faiss"})
_KEYWORD_SUFFIXES = (".json", ".npy", ".npz")


def refuse_foreign(index_dir: Path) -> None:
    """Raise ForeignFolderError unless index_dir is missing, empty, or holds only what an index holds.

    A build swaps a new folder in and deletes the old one whole, so it may only ever replace a folder
    that is recognisably one of its own indexes: `--index notes` must never delete notes/todo.txt.
    """
    if not index_dir.is_dir():
        return
    try:
        entries = list(os.scandir(index_dir))
        foreign = [e.name for e in entries if e.name not in _OWN_NAMES]
        keyword_dir = index_dir / KEYWORD
        if keyword_dir.is_dir() and not keyword_dir.is_symlink():
            foreign += [
                f"{KEYWORD}/{e.name}"
                for e in os.scandir(keyword_dir)
                if not (e.is_file(follow_symlinks=False) and e.name.endswith(_KEYWORD_SUFFIXES))
            ]
        elif keyword_dir.exists() or keyword_dir.is_symlink():
            foreign.append(KEYWORD)
    except OSError as exc:
        raise ForeignFolderError(
            f"cannot read {index_dir}/ ({exc.strerror}) - a build replaces its index folder, so it must be readable"
        ) from None
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise ForeignFolderError(
            f"{index_dir}/ is not an index folder (it holds {shown}) - a build replaces the whole folder,"
            " so pass a new or empty folder with --index (or RAG_INDEX)"
        )
