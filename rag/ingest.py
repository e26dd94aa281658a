"""Read articles from the corpus folder: find files, validate them, parse optional front matter.

Turns each `.txt`/`.md` file into an `Article` whose blocks come from `clean.classify`. It refuses,
with a one-line error naming the file and the fix, anything that is not a readable UTF-8 article
(empty, whitespace only, binary, not UTF-8, too large, front matter that does not parse). It does not
decide what is boilerplate (that is clean.py) or where passages end (chunk.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import time
from pathlib import Path
from typing import Any

import yaml

from . import clean
from .errors import CorpusError
from .types import Article, Block

SUFFIXES = (".txt", ".md", ".markdown")
MAX_ARTICLE_BYTES = 10 * 1024 * 1024

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)


def discover(corpus_dir: Path) -> list[Path]:
    """Article files under corpus_dir (recursive, hidden files skipped), sorted by relative path."""
    return [corpus_dir / rel for rel in discover_paths(corpus_dir)]


def discover_paths(corpus_dir: Path) -> list[str]:
    """discover() as corpus-relative POSIX paths: the same files, without a Path object per file.

    Like Path.rglob it does not descend into symlinked folders or unreadable ones, and it keeps
    symlinks to files; hidden folders are not entered at all.
    """
    if not corpus_dir.exists():
        raise CorpusError(
            f"corpus folder {corpus_dir}/ does not exist - create it and add .txt or .md articles"
        )
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir} is not a folder - pass the folder that holds the articles")
    root = os.fspath(corpus_dir)
    found = []
    for folder, dirs, names in os.walk(root, onerror=_unreadable):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel_dir = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if rel_dir == "." else rel_dir + "/"
        for name in names:
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            if _is_file(os.path.join(folder, name)):
                found.append(prefix + name)
    return sorted(found)


def _unreadable(exc: OSError) -> None:
    """os.walk's onerror: a folder that cannot be listed fails discovery instead of vanishing (its
    articles would otherwise be dropped from the index as if removed)."""
    raise CorpusError(
        f"{exc.filename}/ cannot be read ({exc.strerror}) - fix its permissions, or move it out of the corpus"
    ) from None


def _is_file(path: str) -> bool:
    """Path.is_file(): False for what is missing or a broken or looping link, an error for the rest
    (a file that cannot be looked at must fail the build, not vanish from the corpus)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.EBADF, errno.ELOOP):
            return False
        raise


def article_id_for(rel_path: str) -> str:
    """Stable id of an article: its corpus-relative path without the suffix."""
    return rel_path.rsplit(".", 1)[0] if "." in rel_path.rsplit("/", 1)[-1] else rel_path


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_hashes: dict[str, tuple[tuple[int, int, int, int], str]] = {}  # path -> (stat stamp, sha256)
SETTLED_NS = 2_000_000_000  # a file untouched for this long is trusted by its stat (see hash_path)


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def hash_path(path: str | Path) -> str:
    """sha256 of a file's bytes, remembered for this process while its stat stays the same.

    Status checks call this for every article each time the app shows the library; at a million
    passages re-reading the corpus took most of the app's start. The stamp includes the inode change
    time, which programs cannot set back (restoring an mtime with `touch -r` or `cp -p` changes it). A
    file changed in the last two seconds, or while it was read, is not remembered: a second write
    within the filesystem's timestamp granularity could leave its stat as it was (git's "racy" case).
    """
    key = os.fspath(path)
    before = _stamp(os.stat(key))
    known = _hashes.get(key)
    if known is not None and known[0] == before:
        return known[1]
    with open(key, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        after = os.fstat(fh.fileno())
    if _stamp(after) == before and time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) > SETTLED_NS:
        _hashes[key] = (before, digest)
    else:
        _hashes.pop(key, None)
    return digest


def forget_hashes(folder: Path, keep: set[str]) -> None:
    """Drop remembered hashes of files under `folder` other than `keep` (paths as hash_path got them)."""
    prefix = os.path.join(os.fspath(folder), "")
    for key in [k for k in _hashes if k.startswith(prefix) and k not in keep]:
        _hashes.pop(key, None)


def read_article(corpus_dir: Path, path: Path, data: bytes | None = None) -> Article:
    """Read (unless `data` holds the file's bytes already), validate and classify one article file."""
    rel = path.relative_to(corpus_dir).as_posix()
    where = f"{corpus_dir.as_posix().rstrip('/')}/{rel}"
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{where} cannot be read ({exc.strerror}) - check its permissions") from None
    text = decode_article(data, where)
    meta, body_start = parse_front_matter(text, where)
    title = str(meta.get("title") or "").strip()
    blocks, detected_title, title_source, author = clean.classify(text, body_start, front_title=title)
    if body_start:
        blocks = (Block("front_matter", 0, body_start), *blocks)
    if not any(b.kind in ("paragraph", "bio") for b in blocks):
        raise CorpusError(f"{where} has no text besides headings and boilerplate - add the article's text")
    if not title:
        title = detected_title or _title_from_filename(rel)
        if not detected_title:
            title_source = "filename"
    return Article(
        article_id=str(meta.get("id") or article_id_for(rel)),
        path=rel,
        text=text,
        sha256=file_sha256(data),
        title=title,
        title_source=title_source,
        author=str(meta.get("author") or author or "").strip(),
        url=str(meta.get("url") or "").strip(),
        blocks=blocks,
    )


def decode_article(data: bytes, where: str) -> str:
    """UTF-8 text of an article file, or a one-line CorpusError saying what is wrong with it."""
    if not data:
        raise CorpusError(f"{where} is empty - add the article's text or remove the file")
    if len(data) > MAX_ARTICLE_BYTES:
        raise CorpusError(
            f"{where} is {len(data) / 1e6:.1f} MB; the limit is {MAX_ARTICLE_BYTES // 2**20} MiB"
            " - split it into several articles"
        )
    if b"\x00" in data:
        raise CorpusError(f"{where} contains NUL bytes, so it looks binary - save the article as plain text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{where} is not valid UTF-8 (byte {exc.start}) - re-save it as UTF-8 text"
        ) from None
    if not text.strip():
        raise CorpusError(f"{where} holds only whitespace - add the article's text or remove the file")
    return text


def parse_front_matter(text: str, where: str) -> tuple[dict[str, Any], int]:
    """(metadata, offset where the body starts); ({}, 0) when the file has no front matter."""
    offset = 1 if text.startswith("\ufeff") else 0
    m = _FRONT_MATTER.match(text, offset)
    if not m:
        return {}, 0
    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark is not None else ""
        raise CorpusError(
            f"{where}: front matter does not parse{line} - fix the YAML between the --- lines"
        ) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CorpusError(
            f"{where}: front matter is not a set of 'key: value' lines - e.g. 'title: My title'"
        )
    return meta, m.end()


def _title_from_filename(rel: str) -> str:
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    return re.sub(r"[_-]+", " ", stem).strip() or stem
