"""Article titles that do not come from the article itself: one the user corrected in the Library,
and the last resort, the file name made readable.

A corrected title is kept in a `.titles.json` beside the article (one per folder, keyed by file
name) rather than in the file: HTML and PDF files cannot take front matter, and the article's bytes
stay as the user saved them. It counts in the article's fingerprint (ingest.article_sha256), so a
corrected title makes the article "changed" and the next build re-indexes it. It does not find titles
in articles (clean.py, html_text.py, pdf_text.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

TITLES_FILE = ".titles.json"


def title_override(path: Path) -> str:
    """The title a user set for this article in the Library, or ''."""
    titles = _titles(path.parent)
    return titles.get(path.name, "")


def folder_titles(folder: Path) -> dict[str, str]:
    """The titles users set for the articles of one folder (file name -> title): for a caller that looks
    up many articles, one look at the folder's sidecar instead of one per article."""
    return _titles(folder)


_titles_cache: dict[str, tuple[tuple[int, int, int, int], dict[str, str]]] = {}


def _titles(folder: Path) -> dict[str, str]:
    sidecar = os.path.join(os.fspath(folder), TITLES_FILE)
    try:
        stamp = _stamp(os.stat(sidecar))
    except OSError:
        return {}
    known = _titles_cache.get(sidecar)
    if known is not None and known[0] == stamp:
        return known[1]
    try:
        with open(sidecar, encoding="utf-8") as fh:
            loaded = json.load(fh)
    except (OSError, ValueError):
        loaded = {}
    titles = {str(k): " ".join(str(v).split()) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    _titles_cache[sidecar] = (stamp, titles)
    return titles


def set_title(path: Path, title: str) -> None:
    """Store a user's title for an article ('' removes it); the next build uses it."""
    titles = dict(_titles(path.parent))
    title = " ".join(title.split())
    if title:
        titles[path.name] = title
    else:
        titles.pop(path.name, None)
    sidecar = path.parent / TITLES_FILE
    staged = path.parent / f"{TITLES_FILE}.{os.getpid()}.tmp"
    staged.write_text(
        json.dumps(titles, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    os.replace(staged, sidecar)


def with_title(digest: str, title: str) -> str:
    """A file digest combined with the user's title (the digest itself when there is none)."""
    return hashlib.sha256(f"{digest}\0title:{title}".encode()).hexdigest() if title else digest


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def title_from_filename(rel: str) -> str:
    """A readable title from a file name: separators to spaces, numbering and hash-like parts dropped
    ("000_724d5b54972ab479.txt" has none left, so it stays as it is)."""
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    parts = [p for p in re.split(r"[\s_.-]+", stem) if p]
    readable = [p for p in parts if not re.fullmatch(r"\d+|[0-9a-f]{6,}", p, re.I)]
    if not readable:
        return " ".join(parts) or stem
    text = " ".join(readable)
    return text[:1].upper() + text[1:]
