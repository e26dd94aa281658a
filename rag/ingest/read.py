"""Read articles from the corpus folder: find files, validate them, parse optional front matter.

Turns each `.txt`/`.md` file into an `Article` whose blocks come from `clean.classify`, and each
`.html`/`.htm`/`.pdf` file into one whose text is the extracted text (extract.py), written to its
copy when the article is read for a build: citations count characters of the copy.
It refuses, with a one-line error naming the file and the fix, anything that is not a readable
article (empty, whitespace only, binary, not UTF-8, too large, front matter that does not parse or
uses YAML aliases, a PDF without text or with a password, a page without article text). A title the
user corrected in the Library (titles.py) wins over the rest. It also reads each file's facts (FileFacts:
hashes and line keys), the evidence of lines that recur across articles, which clean.py takes for furniture
(index/line_facts.py counts them and keeps them in the index).
It does not decide what is boilerplate (that is clean.py) or where passages end (chunk.py).
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import time
from collections.abc import Container, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import CorpusError
from ..types import Article, Block
from . import clean
from .extract import EXTRACTED_SUFFIXES, extracted_text, text_copy_path, write_copy
from .lines import line_keys
from .titles import title_from_filename, title_override, with_title

TEXT_SUFFIXES = (".txt", ".md", ".markdown")
SUFFIXES = TEXT_SUFFIXES + EXTRACTED_SUFFIXES
MAX_ARTICLE_BYTES = 10 * 1024 * 1024
MAX_ARTICLE_LINES = 200_000  # a long book chapter has a few thousand; 10 MiB of prose ~ 50,000 lines

_FRONT_MATTER = re.compile(
    r"\A---[ \t]*(?:\r\n|\r|\n)(.*?)(?:(?<=\n)|(?<=\r))(?:---|\.\.\.)[ \t]*(?:\r\n|\r|\n|\Z)", re.S
)
MAX_FRONT_MATTER_CHARS = 16 * 1024  # titles, authors, urls, tags: a few hundred characters in practice
MAX_FRONT_MATTER_DEPTH = 8


class _FrontMatterLoader(yaml.SafeLoader):
    """yaml.SafeLoader without aliases (one 344-byte "billion laughs" expands to gigabytes) and with a
    bounded nesting depth, so front matter costs memory in proportion to its size."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "aliases (*name) are not allowed in front matter", event.start_mark
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_FRONT_MATTER_DEPTH:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested deeper than {MAX_FRONT_MATTER_DEPTH} levels",
                    self.peek_event().start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


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
            f"corpus folder {corpus_dir}/ does not exist - create it and add articles (.txt, .md, .html, .pdf)"
        )
    if not corpus_dir.is_dir():
        raise CorpusError(f"{corpus_dir} is not a folder - pass the folder that holds the articles")
    found: list[str] = []
    folders = [(os.fspath(corpus_dir), "")]
    while folders:  # os.walk's order does not matter (sorted below); its entries' types do
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError as exc:
            _unreadable(exc)
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                folders.append((entry.path, f"{prefix}{name}/"))
            elif name.lower().endswith(SUFFIXES) and (
                # a regular file by the directory's own record (no stat: 105,000 of them at 1M passages);
                # anything else (a link, an unknown type) is looked at as before
                entry.is_file(follow_symlinks=False) or _is_file(entry.path)
            ):
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


def file_stamp(path: str) -> tuple[int, int, int, int] | None:
    """(size, mtime_ns, ctime_ns, inode) of a file, None if it cannot be looked at."""
    try:
        return _stamp(os.stat(path))
    except OSError:
        return None


def _settled(before: tuple[int, int, int, int], after: os.stat_result) -> bool:
    """The file's stat did not change while it was read, and not in the SETTLED_NS before."""
    return _stamp(after) == before and time.time_ns() - max(after.st_mtime_ns, after.st_ctime_ns) > SETTLED_NS


def hash_path(path: str | Path) -> str:
    """article_sha256 of a file (its bytes' sha256, with the user's title if set), the bytes' hash
    remembered for this process while the file's stat stays the same.

    Status checks call this for every article each time the app shows the library; at a million
    passages re-reading the corpus took most of the app's start. The stamp includes the inode change
    time, which programs cannot set back (restoring an mtime with `touch -r` or `cp -p` changes it). A
    file changed in the last two seconds, or while it was read, is not remembered: a second write
    within the filesystem's timestamp granularity could leave its stat as it was (git's "racy" case).
    """
    key = os.fspath(path)
    before = _stamp(os.stat(key))
    title = title_override(Path(key))
    known = _hashes.get(key)
    if known is not None and known[0] == before:
        return with_title(known[1], title)
    with open(key, "rb") as fh:
        digest = hashlib.file_digest(fh, "sha256").hexdigest()
        after = os.fstat(fh.fileno())
    if _settled(before, after):
        _hashes[key] = (before, digest)
    else:
        _hashes.pop(key, None)
    return with_title(digest, title)


def forget_hashes(folder: Path, keep: set[str]) -> None:
    """Drop remembered hashes of files under `folder` other than `keep` (paths as hash_path got them)."""
    prefix = os.path.join(os.fspath(folder), "")
    for key in [k for k in _hashes if k.startswith(prefix) and k not in keep]:
        _hashes.pop(key, None)


def read_article(
    corpus_dir: Path,
    path: Path,
    data: bytes | None = None,
    common: Container[str] = frozenset(),
    *,
    keep_copy: bool = True,
) -> Article:
    """Read (unless `data` holds the file's bytes already), validate and classify one article file.

    `common` holds the keys of lines that recur across the corpus (index/line_facts.py). An HTML or PDF
    article's extracted text is written to its copy (text_copy_path) for citations and the viewer,
    unless keep_copy is False (a dry run).
    """
    rel = path.relative_to(corpus_dir).as_posix()
    where = f"{corpus_dir.as_posix().rstrip('/')}/{rel}"
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CorpusError(f"{where} cannot be read ({exc.strerror}) - check its permissions") from None
    text, page_title, page_source = article_text(data, rel, where)
    meta: dict[str, Any] = {}
    body_start = 0
    if page_source and keep_copy:
        write_copy(text_copy_path(corpus_dir, rel), text)
    else:
        meta, body_start = parse_front_matter(text, where)
    user_title = title_override(path)
    title = str(meta.get("title") or "").strip() or page_title
    blocks, detected_title, title_source, author = clean.classify(text, body_start, title, common)
    if body_start:
        blocks = (Block("front_matter", 0, body_start), *blocks)
    if not any(b.kind in ("paragraph", "bio") for b in blocks):
        raise CorpusError(f"{where} has no text besides headings and boilerplate - add the article's text")
    if title:
        title_source = "front_matter" if meta.get("title") else page_source
    else:
        title = detected_title or title_from_filename(rel)
        if not detected_title:
            title_source = "filename"
    if user_title:
        title, title_source = user_title, "user"
    return Article(
        article_id=str(meta.get("id") or article_id_for(rel)),
        path=rel,
        text=text,
        sha256=article_sha256(path, data),
        title=title,
        title_source=title_source,
        author=str(meta.get("author") or author or "").strip(),
        url=str(meta.get("url") or "").strip(),
        blocks=blocks,
    )


def article_text(data: bytes, rel: str, where: str) -> tuple[str, str, str]:
    """(text, title found in the page, "html" | "pdf" | "" for a text file) of an article's bytes."""
    if not rel.lower().endswith(EXTRACTED_SUFFIXES):
        return decode_article(data, where), "", ""
    text, title = extracted_text(data, rel, where)
    return text, title, "pdf" if rel.lower().endswith(".pdf") else "html"


@dataclass(frozen=True)
class FileFacts:
    """What the build needs of an article file before deciding to read it: its bytes' sha256 (without
    the user's title), the sha256 of its text and the keys of its lines (line_keys), and the stat stamp
    they were read under; `settled` is False when the file changed in the last SETTLED_NS or while it
    was read (its stat then does not vouch for its bytes: see hash_path)."""

    stamp: tuple[int, int, int, int]
    settled: bool
    sha256: str
    text_sha256: str
    keys: frozenset[str]


_facts: dict[str, FileFacts] = {}  # path -> the facts read under its current stat


def file_facts(corpus_dir: Path, path: Path) -> FileFacts | None:
    """The FileFacts of an article file, remembered for this process while its stat stays the same (a
    rebuild in the app reads only what changed); None if unreadable (the build reports it when it
    reads the article)."""
    key = os.fspath(path)
    try:
        stamp = _stamp(os.stat(key))
        known = _facts.get(key)
        if known is not None and known.stamp == stamp:
            return known
        with open(key, "rb") as fh:
            data = fh.read()
            after = os.fstat(fh.fileno())
        text = _text_for_keys(corpus_dir, path, data)
    except (OSError, UnicodeDecodeError, CorpusError):
        return None
    settled = _settled(stamp, after)
    encoded = text.encode()
    sha = file_sha256(data)
    text_sha = sha if encoded == data else file_sha256(encoded)  # a text file's text is its bytes
    found = FileFacts(stamp, settled, sha, text_sha, frozenset(line_keys(text)))
    if len(_facts) >= 100_000:
        _facts.clear()
    _facts[key] = found
    return found


def shared_digest(keys: Iterable[str], common: Container[str]) -> str:
    """A digest of which of an article's line keys recur across the corpus ('' for none): when it
    changes, the article is cleaned again although its bytes did not change."""
    shared = sorted(k for k in keys if k in common)
    return hashlib.sha256("\n".join(shared).encode()).hexdigest()[:16] if shared else ""


def _text_for_keys(corpus_dir: Path, path: Path, data: bytes) -> str:
    rel = path.relative_to(corpus_dir).as_posix()
    copy = text_copy_path(corpus_dir, rel)
    if rel.lower().endswith(EXTRACTED_SUFFIXES) and _newer(copy, path):
        return copy.read_text(encoding="utf-8")  # extracting every page again costs seconds
    return article_text(data, rel, rel)[0]


def _newer(copy: Path, source: Path) -> bool:
    try:
        return copy.stat().st_mtime_ns > source.stat().st_mtime_ns
    except OSError:
        return False


def article_sha256(path: Path, data: bytes) -> str:
    """An article's fingerprint: the sha256 of its bytes, and of the user's title when one is set, so
    that correcting a title makes the article 'changed' and the next build re-indexes it."""
    return with_title(file_sha256(data), title_override(path))


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
    lines = max(data.count(b"\n"), data.count(b"\r"))
    if lines > MAX_ARTICLE_LINES:  # cleaning costs per line: millions of lines would take minutes and GBs
        raise CorpusError(
            f"{where} has {lines:,} lines; the limit is {MAX_ARTICLE_LINES:,} - split it into several articles"
        )
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
    if len(m.group(1)) > MAX_FRONT_MATTER_CHARS:
        raise CorpusError(
            f"{where}: front matter is {len(m.group(1))} characters; the limit is {MAX_FRONT_MATTER_CHARS}"
            " - keep only title, author, url and the like between the --- lines"
        )
    try:
        meta = yaml.load(m.group(1), Loader=_FrontMatterLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "YAML error"
        raise CorpusError(
            f"{where}: front matter does not parse{line} ({problem}) - fix the YAML between the --- lines"
        ) from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise CorpusError(
            f"{where}: front matter is not a set of 'key: value' lines - e.g. 'title: My title'"
        )
    return meta, m.end()
