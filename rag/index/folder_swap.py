"""How a new index folder replaces the old one safely: the atomic swap, the build lock, recovery after a
build killed mid-swap, and the refusal to replace a folder that is not an index.

A build writes a hidden sibling folder (`.index.building-PID`), then swaps it in with one atomic rename(2)
exchange (Linux renameat2 RENAME_EXCHANGE; elsewhere two renames, `.index.old-PID` holding the previous
index in between), so a build killed at any moment leaves an index that loads. One build at a time holds
`.index.lock`; it puts back an index a killed fallback swap left aside and deletes what killed builds left.
It does not write or read the files inside (index_folder.py).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import BuildLockedError, ForeignFolderError, IndexLoadError
from . import storage
from .manifest import (
    CHUNKS,
    FACTS,
    GRAPH,
    KEYWORD,
    LEGACY_CHUNKS,
    NAME,
    OFFSETS,
    ROWS,
    SEGMENT_FILES,
    SEGMENT_PREFIX,
    SENTENCE_FILES,
    SLOTS,
    VECTORS,
)

_RENAME_EXCHANGE = 2


def swap_in(new: Path, index_dir: Path) -> None:
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


def left_aside(index_dir: Path) -> Path | None:
    """The newest complete index a fallback swap left aside (only while index_dir is missing)."""
    olds = [old for old in index_dir.parent.glob(f".{index_dir.name}.old-*") if (old / NAME).is_file()]
    return max(olds, key=lambda old: (old / NAME).stat().st_mtime, default=None)


def recover(index_dir: Path) -> None:
    """Put back an index left aside by a build killed between the two fallback renames."""
    if not index_dir.exists() and (aside := left_aside(index_dir)):
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
_OWN_NAMES = frozenset(
    {NAME, VECTORS, GRAPH, SLOTS, CHUNKS, LEGACY_CHUNKS, OFFSETS, KEYWORD, ROWS, FACTS, "vectors.faiss"}
    | set(SENTENCE_FILES)
)
_SEGMENT_NAME = re.compile(
    rf"{SEGMENT_PREFIX}[0-9]+\.({'|'.join(re.escape(name) for name in (*SEGMENT_FILES, LEGACY_CHUNKS))})"
)  # an appended segment's files (formats 4 and 6)
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
        foreign = [
            e.name for e in entries if e.name not in _OWN_NAMES and not _SEGMENT_NAME.fullmatch(e.name)
        ]
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
