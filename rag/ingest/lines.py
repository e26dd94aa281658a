"""An article's text as lines: each line's span, visible text, paragraph and Markdown shape.

`page_lines` cuts the text into `Line`s (blank lines separate paragraphs; text copied with one line per
paragraph is read as such); `visible` strips Markdown marks, link targets and list markers; `normalise` is
the comparison key of a line (for titles, repeats and lines that recur across articles, `line_keys`);
`heading_like` tells a heading from a sentence. It does not decide what is furniture (clean.py).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_LINE = re.compile(r"([^\r\n]*)(\r\n|\r|\n|$)")
_NEWLINES = re.compile(r"\r\n|\r|\n")
MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)|<img\b[^>]*>", re.I)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_EMPHASIS = re.compile(r"\*\*|__|(?<![\w*])[*_](?=\S)|(?<=\S)[*_](?![\w*])")
_ONLY_LINK = re.compile(r"^(?:[-*+•]\s+|\d{1,3}[.)]\s+)?[*_]*\[[^\]]+\]\([^)]*\)[*_]*$")
_ITEM = re.compile(r"^(?:[-*+•–]\s+|\d{1,3}[.)]\s+)")
_QUOTE_START = "\"'“‘«„"
_SENTENCE_INSIDE = re.compile(r"[.!?…][\"”’)]?\s+\S")
_NOT_ALNUM = re.compile(r"[\W_]+")
_QUOTE_FOLD = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'", "‚": "'"})


@dataclass
class Line:
    start: int  # of the stripped line
    end: int
    text: str  # stripped, as written
    plain: str  # visible text: Markdown marks, link targets, list markers removed
    para: int  # index of the blank-line-separated group it belongs to
    md_level: int = 0  # 1-6 for a Markdown heading
    item: bool = False  # a list item
    image: bool = False  # holds an image and nothing else
    key: str = ""  # normalise(plain)
    linked: bool = False  # nothing but a Markdown link (or a list item of one)


def normalise(s: str) -> str:
    """Comparison key: Unicode-folded, quotes unified, only letters and digits kept."""
    s = unicodedata.normalize("NFKC", s).casefold().translate(_QUOTE_FOLD)
    return _NOT_ALNUM.sub("", s)  # keeps exactly the characters str.isalnum() accepts


def heading_like(s: str) -> bool:
    """A short line that reads like a heading: no sentence inside, no closing full stop."""
    w = s.split()
    if not 1 <= len(w) <= 14 or len(s) > 120 or not any(ch.isalpha() for ch in s):
        return False
    last = s.rstrip("\"”’')]")[-1:]  # a sentence inside quotes still ends with its full stop
    if s[0] in _QUOTE_START or last in (".", ",", ";", ":", "!", "…") or _SENTENCE_INSIDE.search(s):
        return False
    return not (s.startswith(("-", "*", "+")) or re.match(r"^\d+[.)]\s", s))


def visible(s: str) -> str:
    """A line's visible text: Markdown images, link targets, emphasis and list or quote marks removed."""
    s = re.sub(r"^(?:>\s*)+", "", s)
    s = _IMAGE.sub(lambda m: m.group(1) if m.group(0).startswith("!") else "", s)
    s = _LINK.sub(lambda m: m.group(1), s)
    s = _ITEM.sub("", _EMPHASIS.sub("", s))
    return " ".join(s.split())


_MAX_RECURRING_CHARS = 240  # longer lines are running text, never taken for furniture by recurrence


def line_keys(text: str) -> set[str]:
    """Keys of an article's short lines, for counting which lines recur across a corpus (recurring)."""
    return {
        k
        for line in _NEWLINES.split(text)
        if 0 < len(line) <= _MAX_RECURRING_CHARS and len(k := normalise(visible(line.strip()))) >= 4
    }


def page_lines(text: str, body_start: int) -> list[Line]:
    raw: list[tuple[int, str]] = []
    for m in _LINE.finditer(text, body_start):
        raw.append((m.start(1), m.group(1)))
        if not m.group(2):
            break
    while raw and not raw[-1][1].strip():  # trailing blank lines separate nothing
        raw.pop()
    nonblank = sum(1 for _, s in raw if s.strip())
    blanks = sum(1 for i in range(1, len(raw)) if not raw[i][1].strip() and raw[i - 1][1].strip())
    one_per_line = nonblank > 6 and blanks * 10 < nonblank  # copied text with single newlines
    lines: list[Line] = []
    para, blank_before = -1, True
    for pos, s in raw:
        if s.startswith("\ufeff"):  # a byte order mark: whitespace of the same length, for the offsets
            s = " " + s[1:]
        stripped = s.strip()
        if not stripped:
            blank_before = True
            continue
        if blank_before or one_per_line:
            para += 1
        lead = len(s) - len(s.lstrip())
        start = pos + lead
        ln = Line(start, start + len(stripped), stripped, visible(stripped), para)
        if heading := MD_HEADING.match(stripped):
            ln.md_level, ln.plain = len(heading.group(1)), visible(heading.group(2))
        ln.key = normalise(ln.plain)
        ln.linked = bool(_ONLY_LINK.match(stripped))
        ln.item = bool(_ITEM.match(stripped.lstrip("> ")))
        ln.image = bool(_IMAGE.search(stripped)) and not _IMAGE.sub("", stripped).strip(" *_")
        lines.append(ln)
        blank_before = False
    return lines
