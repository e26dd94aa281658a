"""Classify an article's lines into content (headings, paragraphs, author bio) and web boilerplate.

Rules describe classes of noise, never the literal strings of one file:
- the title: front matter, a Markdown `# H1`, or a first line that is title-like and repeats or is Title Case;
- title repeats anywhere (image captions on web pages often repeat the title) and, in a block of
  title-like lines that holds such a repeat, the other captions;
- link lines ("Related: ...", "Read more: ..."), pager lines ("Pages: 1 2", "Next »"), Markdown images;
- an author box at the end (a name line followed by a paragraph that starts with that name), which is kept
  as the article's bio, not mixed into the advice passages.
Nothing is rewritten: every block is a [start, end) span of the original text, so offsets stay exact.
It does not split sentences or size passages (chunk.py does).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from .types import Block

_LINK = re.compile(
    r"^(?:related(?: posts?| articles?)?|read more|read also|also read|see also|recommended|read next"
    r"|you (?:may|might) also like|more from [\w ]{1,30}|suggested reading)\s*[:\-–—]\s*\S",
    re.I,
)
_SOCIAL = re.compile(r"^(?:share (?:this|on)\b|tweet\b|pin it\b|advertisement$|click to share\b)", re.I)
_PAGER = re.compile(
    r"^(?:pages?\s*:?\s*(?:\d+[\s,|]*)+|page\s+\d+\s+(?:of|/)\s*\d+"
    r"|(?:[«‹<]\s*)?(?:previous|prev|next)(?:\s+page)?(?:\s*[»›>])?)$",
    re.I,
)
_IMAGE = re.compile(r"^(?:!\[[^\]]*\]\([^)]*\)|\[!\[.*\]\(.*\)|<img\b[^>]*>)$", re.I)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_QUOTE_START = "\"'“‘«„"
_SENTENCE_INSIDE = re.compile(r"[.!?…][\"”’)]?\s+\S")
_NAME = re.compile(r"^[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){1,3}$")
_AUTHOR_POSTS = re.compile(r"\s*View (?:all )?(?:author )?posts?(?: by .*)?\s*$", re.I)
_QUOTE_FOLD = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})


@dataclass(frozen=True)
class _Line:
    start: int  # of the stripped content
    end: int
    text: str  # stripped
    para: int  # index of the blank-line-separated group it belongs to


def normalise(s: str) -> str:
    """Comparison key: Unicode-folded, quotes unified, only letters and digits kept."""
    s = unicodedata.normalize("NFKC", s).casefold().translate(_QUOTE_FOLD)
    return "".join(ch for ch in s if ch.isalnum())


def heading_like(s: str) -> bool:
    """A short line that reads like a heading: no sentence inside, no closing full stop."""
    words = s.split()
    if not 1 <= len(words) <= 14 or len(s) > 120 or not any(ch.isalpha() for ch in s):
        return False
    last = s.rstrip("\"”’')]")[-1:]  # a sentence inside quotes still ends with its full stop
    if s[0] in _QUOTE_START or last in (".", ",", ";", ":", "!", "…") or _SENTENCE_INSIDE.search(s):
        return False
    return not (s.startswith(("-", "*", "+")) or re.match(r"^\d+[.)]\s", s))


def _title_case(s: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_][\w'’]*", s) if len(w) > 3]
    return bool(words) and sum(w[0].isupper() for w in words) >= 0.75 * len(words)


def _lines(text: str, body_start: int) -> list[_Line]:
    lines, para, pos, blank_before = [], -1, body_start, True
    for raw in text[body_start:].split("\n"):
        stripped = raw.strip()
        if stripped:
            if blank_before:
                para += 1
            lead = len(raw) - len(raw.lstrip())
            start = pos + lead
            lines.append(_Line(start, start + len(stripped), stripped, para))
        blank_before = not stripped
        pos += len(raw) + 1
    return lines


def classify(
    text: str, body_start: int = 0, front_title: str = ""
) -> tuple[tuple[Block, ...], str, str, str]:
    """(blocks, title, title_source, author) for an article's text from body_start on."""
    lines = _lines(text, body_start)
    kinds: list[str | None] = [None] * len(lines)
    levels = [0] * len(lines)
    spans = [(ln.start, ln.end) for ln in lines]

    for i, ln in enumerate(lines):
        if _LINK.match(ln.text) or _SOCIAL.match(ln.text):
            kinds[i] = "link"
        elif _PAGER.match(ln.text):
            kinds[i] = "pager"
        elif _IMAGE.match(ln.text):
            kinds[i] = "image"
        elif m := _MD_HEADING.match(ln.text):
            kinds[i], levels[i] = "heading", len(m.group(1))
            spans[i] = (ln.start + m.start(2), ln.start + m.end(2))

    title, source = front_title, "front_matter" if front_title else ""
    if not title and lines:
        first = lines[0]
        if kinds[0] == "heading" and levels[0] == 1:
            title, source, kinds[0] = text[spans[0][0] : spans[0][1]], "markdown", "title"
        elif kinds[0] is None and heading_like(first.text):
            repeats = sum(normalise(ln.text) == normalise(first.text) for ln in lines)
            alone = len(lines) == 1 or lines[1].para != first.para or repeats > 1
            if alone and (repeats > 1 or _title_case(first.text)):
                title, source, kinds[0] = first.text, "detected", "title"

    key = normalise(title)
    for i, ln in enumerate(lines):
        if key and kinds[i] != "title" and normalise(ln.text) == key:
            kinds[i] = "title_repeat"
    _mark_captions(lines, kinds)
    author = _mark_author_box(lines, kinds, spans)
    _mark_headings(lines, kinds, levels)
    return _blocks(lines, kinds, levels, spans), title, source, author


def _mark_captions(lines: list[_Line], kinds: list[str | None]) -> None:
    """Title-like lines sharing a block with a title repeat or an image are captions, as are later
    repeats of a title-like line of four words or more."""
    noisy_paras = {ln.para for ln, k in zip(lines, kinds, strict=True) if k in ("title_repeat", "image")}
    seen: set[str] = set()
    for i, ln in enumerate(lines):
        if kinds[i] is not None or not heading_like(ln.text):
            continue
        key = normalise(ln.text)
        if ln.para in noisy_paras or (key in seen and len(ln.text.split()) >= 4):
            kinds[i] = "caption"
        seen.add(key)


def _mark_author_box(lines: list[_Line], kinds: list[str | None], spans: list[tuple[int, int]]) -> str:
    """Find 'Name' + 'Name is a ...' at the end; mark them byline + bio; return the name."""
    content = [i for i, k in enumerate(kinds) if k is None]
    if len(content) < 3:
        return ""
    name_i, bio_i = content[-2], content[-1]
    name, bio = lines[name_i].text, lines[bio_i].text
    same_para = lines[name_i].para == lines[bio_i].para
    if same_para or not _NAME.match(name) or not bio.startswith(name.split()[0]):
        return ""
    kinds[name_i], kinds[bio_i] = "byline", "bio"
    m = _AUTHOR_POSTS.search(bio)
    if m:  # "View Author posts" is the box's link, not part of the bio
        start, _ = spans[bio_i]
        spans[bio_i] = (start, start + len(bio[: m.start()].rstrip()))
    return name


def _mark_headings(lines: list[_Line], kinds: list[str | None], levels: list[int]) -> None:
    """A title-like line alone in its block, with content after it, is a heading."""
    # The loop only changes kinds[i], so the lines after i keep their kinds: where the last content
    # line is can be found once (asking at every line was quadratic: 10 MiB of short lines took minutes).
    last_content = max((i for i, k in enumerate(kinds) if k in (None, "bio")), default=-1)
    for i, ln in enumerate(lines):
        if kinds[i] is not None or not heading_like(ln.text):
            continue
        alone = (i == 0 or lines[i - 1].para != ln.para) and (
            i + 1 == len(lines) or lines[i + 1].para != ln.para
        )
        content_after = last_content > i
        if alone and content_after:
            kinds[i], levels[i] = "heading", 2


def _blocks(
    lines: list[_Line], kinds: list[str | None], levels: list[int], spans: list[tuple[int, int]]
) -> tuple[Block, ...]:
    """Merge consecutive content lines of one paragraph into one paragraph block."""
    out: list[Block] = []
    for i, ln in enumerate(lines):
        kind = kinds[i] or "paragraph"
        start, end = spans[i]
        prev = out[-1] if out else None
        if kind == "paragraph" and prev and prev.kind == "paragraph" and lines[i - 1].para == ln.para:
            out[-1] = Block("paragraph", prev.start, end)
        else:
            out.append(Block(kind, start, end, levels[i] if kind == "heading" else 0))
    return tuple(out)
