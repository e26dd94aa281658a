"""The extracted text of HTML and PDF articles, the copy of it citations count into, and where a
citation's file is.

An HTML or PDF article is cited into its extracted text, kept as `.text/<path>.txt` in the corpus
folder: the file a `--json` path names and the text the viewer shows, so that
`open(path, encoding="utf-8", newline="").read()[start:end]` is the cited text for every format. The
copy lives beside the article rather than in the index folder because it belongs to the article's
bytes, outlives index swaps (an unchanged article is not read again) and opens from the corpus like
any article; a lost copy is extracted again. It does not validate text files or classify lines
(read.py, clean.py).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ..errors import CorpusError

EXTRACTED_SUFFIXES = (".html", ".htm", ".pdf")
COPY_DIR = ".text"  # extracted text of HTML and PDF articles, inside the corpus folder
MAX_PAGE_BYTES = 10 * 1024 * 1024

_extracted: dict[str, tuple[str, str]] = {}  # sha256 of a page's bytes -> (text, title), this process


def extracted_text(data: bytes, rel: str, where: str) -> tuple[str, str]:
    """(text, title found in the page) of an HTML or PDF article's bytes, or a one-line CorpusError."""
    suffix = rel.rsplit(".", 1)[-1].lower()
    if not data:
        raise CorpusError(f"{where} is empty - add the article or remove the file")
    if len(data) > MAX_PAGE_BYTES:
        raise CorpusError(
            f"{where} is {len(data) / 1e6:.1f} MB; the limit is {MAX_PAGE_BYTES // 2**20} MiB - save a smaller copy"
        )
    if suffix != "pdf" and b"\x00" in data:
        raise CorpusError(f"{where} contains NUL bytes, so it is no web page - save the page again as HTML")
    key = hashlib.sha256(data).hexdigest()
    if key not in _extracted:
        if suffix == "pdf":
            if not data.startswith(b"%PDF"):
                raise CorpusError(f"{where} is not a PDF file (no %PDF header) - export it again as PDF")
            from . import pdf_text

            found = pdf_text.extract(data, where)
        else:
            from . import html_text

            found = html_text.extract(data, where)
        if len(_extracted) >= 256:
            _extracted.pop(next(iter(_extracted)))
        _extracted[key] = found
    return _extracted[key]


def text_copy_path(corpus_dir: Path, rel: str) -> Path:
    """Where the extracted text of an HTML or PDF article is kept (citations count its characters)."""
    return corpus_dir / COPY_DIR / (rel + ".txt")


def cited_path(rel: str) -> str:
    """The corpus-relative file whose characters an article's citations count: the article itself,
    or for HTML and PDF its extracted-text copy."""
    return f"{COPY_DIR}/{rel}.txt" if rel.lower().endswith(EXTRACTED_SUFFIXES) else rel


def cited_text(corpus_dir: Path, rel: str) -> str:
    """The text citations into an article count characters of, read without newline translation.

    A missing copy of an HTML or PDF article is extracted again (the same bytes give the same text)."""
    target = corpus_dir / cited_path(rel)
    if rel.lower().endswith(EXTRACTED_SUFFIXES) and not target.exists():
        text = extracted_text((corpus_dir / rel).read_bytes(), rel, f"{corpus_dir}/{rel}")[0]
        write_copy(target, text)
        return text
    with open(target, encoding="utf-8", newline="") as fh:
        return fh.read()


def write_copy(target: Path, text: str) -> None:
    """Write the copy atomically, unless it holds this text already."""
    try:
        if target.read_text(encoding="utf-8") == text:
            return
    except (OSError, UnicodeDecodeError):
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    staged.write_bytes(text.encode("utf-8"))
    os.replace(staged, target)
