"""Index files on disk: synced writes, size + sha256 records, and the checks made when loading.

Every index file is recorded as {"bytes", "sha256"} when written. Loading always checks sizes (a
truncated or half-written file is caught at once) and hashes files up to HASH_UP_TO bytes; bigger files
(vectors and passages at hundreds of thousands of passages) are hashed only on request (`rag info
--verify`), because hashing gigabytes would cost seconds on every start.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

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
    """Write bytes, or let `data(fh)` write (large arrays go to the file without a copy in memory)."""
    with path.open("wb") as fh:
        if callable(data):
            data(fh)
        else:
            fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def fsync_path(path: Path) -> None:
    """fsync a file or folder (a folder's entries are on disk only after this)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
