"""What each article file was when the index was built (articles.facts.npz): the one module that reads
or writes that file, and the survey of the corpus a build makes with it.

Before it reads any article, a build must know which files changed (their bytes' sha256) and which lines
recur across articles (clean.py takes them for a site's furniture; counting them needs every article's
line keys, read.line_keys). Reading and keying every file took most of a one-article rebuild at a million
passages. So the index keeps, per article file: its path, its stat stamp (size, mtime_ns, ctime_ns, inode;
all 0 when the file had changed within read.SETTLED_NS of being read, so that its stat vouches for nothing),
the sha256 of its bytes and of its text, and a 64-bit hash of each of its line keys; and the hashes of the
keys that recurred. `survey` reads only the files whose stat differs from the one kept, counts the recurring
keys from the hashes, and reads again an unchanged file that holds a key whose recurrence changed (its
cleaning changes). Keys are compared by hash (blake2b, 64 bits) in a build from scratch too, so both find
the same lines; two keys of one hash (odds about 1e-6 at five million keys) would count as one.
A missing, damaged or foreign facts file is no error: the survey then reads every article, as a first
build does, and the build writes the file afresh.
It does not clean (clean.py), read articles (read.py) or decide what to rebuild (plan.py).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..ingest import read
from . import storage
from .manifest import FACTS, Manifest

log = logging.getLogger(__name__)

VERSION = 1  # of the facts file's arrays; another version is not used (the survey reads every file)
_ARRAYS = ("version", "paths", "stamps", "sha", "text", "offsets", "keys", "common")


def key_hash(key: str) -> int:
    """The 64-bit hash a line key is counted and kept by."""
    return int.from_bytes(
        hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little"
    )


def key_hashes(keys: frozenset[str]) -> np.ndarray:
    """The sorted distinct hashes of an article's line keys (uint64)."""
    return np.unique(np.fromiter(map(key_hash, keys), dtype=np.uint64, count=len(keys)))


class KeySet:
    """The recurring lines, for clean.py: `key in recurring` when the key's hash recurs across articles."""

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = hashes  # sorted uint64
        self._set = set(hashes.tolist())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key_hash(key) in self._set

    def __bool__(self) -> bool:
        return bool(self._set)

    def __len__(self) -> int:
        return len(self._set)


@dataclass(frozen=True)
class Known:
    """The facts file of the previous build: row i describes paths[i]."""

    rows: dict[str, int]  # corpus-relative path -> row
    stamps: list[list[int]]  # per row: size, mtime_ns, ctime_ns, inode (all 0: not to be trusted)
    sha: np.ndarray  # (rows, 32) uint8: sha256 of the bytes
    text: np.ndarray  # (rows, 32) uint8: sha256 of the text
    offsets: np.ndarray  # (rows + 1,) int64: row i's key hashes are keys[offsets[i]:offsets[i + 1]]
    keys: np.ndarray  # uint64
    common: np.ndarray  # uint64, sorted: the hashes that recurred


def read_known(index_dir: Path, manifest: Manifest) -> Known | None:
    """The facts the index at index_dir keeps, checked against its manifest; None (after one line in the
    log when the file is there but unusable) when there are none to trust."""
    record = manifest.files.get(FACTS)
    if record is None:
        return None
    path = index_dir / FACTS
    problem = storage.check(path, record, full=True)
    try:
        if problem:
            raise ValueError(problem)
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in _ARRAYS}
        known = _known(arrays)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s is unusable (%s): every article is read again", path, exc)
        return None
    if len(known.rows) != len(manifest.articles):
        log.warning("%s does not match the manifest's articles: every article is read again", path)
        return None
    return known


def _known(a: dict[str, np.ndarray]) -> Known:
    """Known from the file's arrays; ValueError when they do not fit together."""
    if a["version"].tolist() != [VERSION]:
        raise ValueError(f"version {a['version'].tolist()}, not [{VERSION}]")
    paths = bytes(a["paths"]).decode("utf-8", "surrogateescape").split("\0") if len(a["paths"]) else []
    n = len(paths)
    offsets, keys = a["offsets"].astype(np.int64), a["keys"]
    if (
        a["stamps"].shape != (n, 4)
        or a["sha"].shape != (n, 32)
        or a["text"].shape != (n, 32)
        or offsets.shape != (n + 1,)
        or offsets[0] != 0
        or offsets[-1] != len(keys)
        or np.any(np.diff(offsets) < 0)
        or keys.dtype != np.uint64
        or a["common"].dtype != np.uint64
    ):
        raise ValueError("its arrays do not fit together")
    return Known(
        {p: i for i, p in enumerate(paths)},
        a["stamps"].tolist(),
        a["sha"],
        a["text"],
        offsets,
        keys,
        a["common"],
    )


@dataclass
class Survey:
    """The corpus's files as a build finds them (row i is files[i]): each one's facts, from the index
    where its stat is the one kept (`trusted`), else read; and the lines that recur across them."""

    corpus_dir: Path
    files: list[Path]
    rels: list[str]  # corpus-relative POSIX paths
    stamps: np.ndarray
    sha: np.ndarray
    text: np.ndarray
    offsets: np.ndarray
    keys: np.ndarray
    unreadable: np.ndarray  # bool: read.file_facts found nothing (the build reads it, and says why)
    trusted: np.ndarray  # bool: facts from the index, the file not read
    common: KeySet
    reread: frozenset[int]  # trusted rows holding a key whose recurrence changed since the last build
    read_files: int  # files read for their facts

    def sha256(self, i: int) -> str | None:
        """The hex sha256 of file i's bytes (without the user's title); None when it could not be read."""
        return None if self.unreadable[i] else self.sha[i].tobytes().hex()

    def recurring(self, i: int, kept: str | None) -> str:
        """read.shared_digest of file i: `kept` (the previous manifest's, for the same bytes) when none of
        its lines changed recurrence, else from its keys (read again if they came from the index)."""
        if kept is not None and self.trusted[i] and i not in self.reread:
            return kept
        found = read.file_facts(self.corpus_dir, self.files[i])
        return read.shared_digest(found.keys, self.common) if found is not None else ""

    def dumps(self) -> bytes:
        """The bytes of the facts file that describes these files."""
        out = io.BytesIO()
        paths = "\0".join(self.rels).encode("utf-8", "surrogateescape")
        np.savez(
            out,
            version=np.array([VERSION], np.int64),
            paths=np.frombuffer(paths, np.uint8),
            stamps=self.stamps,
            sha=self.sha,
            text=self.text,
            offsets=self.offsets,
            keys=self.keys,
            common=self.common.hashes,
        )
        return out.getvalue()


def survey(corpus_dir: Path, files: list[Path], known: Known | None) -> Survey:
    """The facts of `files`: from `known` for each file whose stat matches the one kept, else read."""
    n = len(files)
    stamps = np.zeros((n, 4), np.int64)
    sha = np.zeros((n, 32), np.uint8)
    text = np.zeros((n, 32), np.uint8)
    unreadable = np.zeros(n, bool)
    trusted = np.zeros(n, bool)
    parts: list[np.ndarray] = []
    kept_at, kept_rows = [], []
    rels = _relative(corpus_dir, files)
    for i, (path, rel) in enumerate(zip(files, rels, strict=True)):
        row = known.rows.get(rel) if known is not None else None
        if row is not None and known is not None:
            stamp = read.file_stamp(os.fspath(path))
            if stamp is not None and any(stamp) and known.stamps[row] == list(stamp):
                kept_at.append(i)
                kept_rows.append(row)
                parts.append(known.keys[known.offsets[row] : known.offsets[row + 1]])
                continue
        found = read.file_facts(corpus_dir, path)
        if found is None:
            unreadable[i] = True
            parts.append(np.zeros(0, np.uint64))
            continue
        if found.settled:
            stamps[i] = found.stamp
        sha[i] = np.frombuffer(bytes.fromhex(found.sha256), np.uint8)
        text[i] = np.frombuffer(bytes.fromhex(found.text_sha256), np.uint8)
        parts.append(key_hashes(found.keys))
    if known is not None and kept_at:
        at, rows = np.array(kept_at), np.array(kept_rows)
        stamps[at] = np.array([known.stamps[r] for r in kept_rows], np.int64)
        sha[at], text[at], trusted[at] = known.sha[rows], known.text[rows], True
    keys = np.concatenate([np.zeros(0, np.uint64), *parts])
    offsets = np.cumsum([0, *map(len, parts)], dtype=np.int64)
    common = _recurring(text, unreadable, offsets, keys)
    reread: frozenset[int] = frozenset()
    if known is not None and kept_at:
        flipped = np.setxor1d(common, known.common)
        if len(flipped):
            owner = np.repeat(np.arange(n), np.diff(offsets))
            hit = np.isin(keys, flipped) & trusted[owner]
            reread = frozenset(np.unique(owner[hit]).tolist())
    return Survey(
        corpus_dir,
        files,
        rels,
        stamps,
        sha,
        text,
        offsets,
        keys,
        unreadable,
        trusted,
        KeySet(common),
        reread,
        n - len(kept_at),
    )


def _relative(corpus_dir: Path, files: list[Path]) -> list[str]:
    """Each file's corpus-relative POSIX path (discover() made them as corpus_dir / rel)."""
    prefix = os.path.join(os.fspath(corpus_dir), "")
    out = []
    for path in files:
        name = os.fspath(path)
        out.append(
            name[len(prefix) :] if name.startswith(prefix) else path.relative_to(corpus_dir).as_posix()
        )
    return out


def _recurring(text: np.ndarray, unreadable: np.ndarray, offsets: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """The sorted key hashes found in two or more articles, each text counted once (two copies of one
    article are no evidence of furniture) and unreadable files not at all."""
    n = len(text)
    if not len(keys):
        return np.zeros(0, np.uint64)
    _, first = np.unique(np.ascontiguousarray(text).view(np.dtype((np.void, 32))).ravel(), return_index=True)
    counted = np.zeros(n, bool)
    counted[first] = True
    counted &= ~unreadable
    owner = np.repeat(np.arange(n), np.diff(offsets))
    hashes, counts = np.unique(keys[counted[owner]], return_counts=True)
    return hashes[counts >= 2].astype(np.uint64)
