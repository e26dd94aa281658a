"""Manage the articles in the corpus folder: list, add (upload or pasted text), retitle, remove.

Uploads may be text, Markdown, HTML or PDF. Every addition is checked the way the build checks files
(UTF-8, not empty, not binary, has text besides boilerplate; a page or PDF with extractable text)
before anything is written, file names are reduced to a safe base name (no folders,
no "..", no hidden files), an existing article is never overwritten, and files are written atomically.
Removal only deletes article files that lie inside the corpus folder. A corrected title is stored
beside the article (titles.py) and used from the next build on. It does not rebuild the index.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import CorpusError
from . import titles
from .read import SUFFIXES, discover_paths, read_article

if TYPE_CHECKING:
    from ..index.status import IndexStatus

MAX_UPLOAD_BYTES = 2 * 1024 * 1024


@dataclass(frozen=True)
class ArticleRow:
    path: str  # relative to the corpus folder
    title: str
    passages: int | None  # None when not in the index
    state: str  # "indexed" | "new" | "changed"


def safe_name(name: str, suffix: str | None = None) -> str:
    """A plain file name from anything a user typed or uploaded: no folders, no leading dots."""
    base = unicodedata.normalize("NFKC", name).replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = (suffix or "." + ext).lower()
    if ext not in SUFFIXES:
        raise CorpusError(
            f"{base!r} is not a .txt, .md, .html or .pdf file - articles must be text, Markdown, web pages or PDFs"
        )
    stem = re.sub(r"[^\w\- ]+", "", stem).strip().replace(" ", "-").strip(".-_")[:80]
    if not stem:
        raise CorpusError(f"{base!r} has no usable file name - name it with letters or digits")
    return stem + ext


def add_file(corpus_dir: Path, name: str, data: bytes) -> Path:
    """Validate an uploaded article and write it as corpus_dir/<safe name>; refuse to overwrite."""
    if len(data) > MAX_UPLOAD_BYTES:
        raise CorpusError(
            f"{name} is {len(data) / 1e6:.1f} MB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MiB - split it"
        )
    return _write_checked(corpus_dir, safe_name(name), data)


def add_text(corpus_dir: Path, title: str, text: str) -> Path:
    """Write pasted text as a Markdown article with the title in front matter."""
    title = " ".join(title.split())
    if not title:
        raise CorpusError("the article has no title - type a title")
    if not text.strip():
        raise CorpusError("the article has no text - paste its text")
    front = title.replace('"', "'")
    data = f'---\ntitle: "{front}"\n---\n{text.strip()}\n'.encode()
    if len(data) > MAX_UPLOAD_BYTES:
        raise CorpusError(
            f"the pasted article is {len(data) / 1e6:.1f} MB; articles are limited to {MAX_UPLOAD_BYTES // 2**20} MiB - split it"
        )
    return _write_checked(corpus_dir, safe_name(title, ".md"), data)


def _write_checked(corpus_dir: Path, name: str, data: bytes) -> Path:
    corpus_dir.mkdir(parents=True, exist_ok=True)
    target = corpus_dir / name
    stem = target.name[: -len(target.suffix)] if target.suffix else target.name
    clash = [corpus_dir / (stem + s) for s in SUFFIXES if (corpus_dir / (stem + s)).exists()]
    if clash and not target.exists():  # the same article id as an existing article: the build refuses it
        raise CorpusError(
            f"{clash[0].name} already has the id {stem!r} - give the new article another title or file name"
        )
    if target.exists():
        raise CorpusError(
            f"{corpus_dir}/{name} already exists - rename the new article or remove the old one first"
        )
    with tempfile.TemporaryDirectory(dir=corpus_dir, prefix=".upload-") as tmp:
        staged = Path(tmp) / name
        staged.write_bytes(data)
        read_article(Path(tmp), staged)  # the same checks as the build: raises CorpusError
        os.link(staged, target)  # fails if target appeared meanwhile: never overwrites
    return target


def remove(corpus_dir: Path, rel_path: str) -> None:
    """Delete one article file of the corpus (the index changes at the next rebuild)."""
    article_file(corpus_dir, rel_path).unlink()


def set_title(corpus_dir: Path, rel_path: str, title: str) -> None:
    """Correct an article's title ('' goes back to the title found in the article); kept across rebuilds.

    Stored in a `.titles.json` beside the article rather than in the file (see titles.py).
    """
    if len(title) > 300:
        raise CorpusError(f"the title is {len(title)} characters; the limit is 300 - shorten it")
    titles.set_title(article_file(corpus_dir, rel_path), title)


def article_file(corpus_dir: Path, rel_path: str) -> Path:
    """The resolved article file at rel_path inside the corpus, or CorpusError (no path leaves it)."""
    root = corpus_dir.resolve()
    target = (root / rel_path).resolve()
    if root not in target.parents or target.suffix.lower() not in SUFFIXES or not target.is_file():
        raise CorpusError(f"{rel_path!r} is not an article in {corpus_dir}/ - pick one from the list")
    return target


def list_articles(status: IndexStatus) -> list[ArticleRow]:
    """The corpus files with their title and passage count from the index, and whether they are indexed.

    Read from a status check (status.py), which has compared every file with the index already. Where
    the index cannot be used, every article is new; where the corpus cannot be read, CorpusError.
    """
    if status.corpus_problem:
        raise CorpusError(status.corpus_problem)
    if status.problem or status.manifest is None:
        return [ArticleRow(rel, "", None, "new") for rel in discover_paths(status.corpus_dir)]
    missing, changed = set(status.missing), set(status.changed)
    rows = [
        ArticleRow(
            record.path,
            record.title,
            record.chunks,
            "changed" if record.path in changed else "indexed",
        )
        for record in status.manifest.articles.values()
        if record.path not in missing
    ]
    rows += [ArticleRow(rel, "", None, "new") for rel in status.new]
    return sorted(rows, key=lambda r: r.path)
