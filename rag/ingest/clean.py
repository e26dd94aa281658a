"""Classify an article's lines into content (title, headings, paragraphs, author bio) and page furniture.

Rules describe kinds of furniture, never the literal strings of one file:
- a line's own shape and vocabulary (furniture.py): navigation, bylines, prompts, ads, credits, footers;
- blocks opened by a header: related links, table of contents, comments (to the end of the page),
  sources, an author box; a contents list is also recognised by repeating the later headings;
- position: what precedes the title and is not running text is the page's masthead and menus, and what
  follows the last advice paragraph and is not running text is the page's foot;
- evidence across the corpus: a line that recurs in several articles (a site's menu, newsletter box,
  footer) is furniture, unless it is a heading over text of its own;
- the title: front matter, a Markdown `# H1`, or the headline-like line just above the byline or the
  first paragraph; its repeats (image captions) are dropped.
Lines end in \\n, \\r\\n or \\r. Nothing is rewritten: every block is a [start, end) span of the
original text. It does not split sentences or size passages (chunk.py does).
"""

from __future__ import annotations

import re
from collections.abc import Container

from ..types import Block
from . import furniture
from .furniture import is_sentence, line_kind, words
from .lines import MD_HEADING, Line, heading_like, normalise, page_lines

_NAME = re.compile(r"^[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*){1,3}$")
_AUTHOR_POSTS = re.compile(r"\s*View (?:all )?(?:author )?posts?(?: by .*)?\s*$", re.I)
_BIO_VERB = re.compile(r"^\s*(?:is|was|writes|has|covers|helps|lives|works|holds|specialises|specializes)\b")
# kinds that open a block of furniture running over the lines after them
_REGION_KINDS = ("related", "toc", "comments", "references", "bio")


def classify(
    text: str, body_start: int = 0, front_title: str = "", common: Container[str] = frozenset()
) -> tuple[tuple[Block, ...], str, str, str]:
    """(blocks, title, title_source, author) for an article's text from body_start on.

    `common` holds the keys (line_keys) of lines that recur across the corpus.
    """
    lines = page_lines(text, body_start)
    kinds: list[str | None] = [None] * len(lines)
    levels = [ln.md_level for ln in lines]
    spans = [(ln.start, ln.end) for ln in lines]
    for i, ln in enumerate(lines):
        if ln.md_level:
            m = MD_HEADING.match(ln.text)
            assert m is not None
            spans[i] = (ln.start + m.start(2), ln.start + m.end(2))
        if ln.image:
            kinds[i] = "image"
        elif ln.plain:
            kinds[i] = line_kind(ln.plain)
        else:
            kinds[i] = "furniture"  # only marks, e.g. a lone "---" or "**"
    _mark_recurring(lines, kinds, common)
    _mark_regions(lines, kinds)
    _mark_contents_lists(lines, kinds)

    title, source, title_i = _find_title(lines, kinds, front_title)
    _mark_masthead(lines, kinds, title_i)
    if title_i is not None:
        kinds[title_i] = "title"
    key = normalise(title)
    for i, ln in enumerate(lines):
        if key and kinds[i] is None and ln.key == key:
            kinds[i] = "title_repeat"
    _mark_captions(lines, kinds)
    author = _mark_author_box(lines, kinds, spans)
    if not author:
        author = _byline_author(lines, kinds)
    _mark_bio_by_name(lines, kinds, author)
    _mark_page_foot(lines, kinds)
    _mark_headings(lines, kinds, levels)
    if common and None not in kinds:  # two copies of one article: the corpus evidence is no evidence
        return classify(text, body_start, front_title)
    return _blocks(lines, kinds, levels, spans), title, source, author


def _mark_recurring(lines: list[Line], kinds: list[str | None], common: Container[str]) -> None:
    """Lines found in several articles are furniture, except a heading over text of its own."""
    if not common:
        return
    keys = [ln.key for ln in lines]
    for i, ln in enumerate(lines):
        if kinds[i] is not None or keys[i] not in common:
            continue
        nxt = next((j for j in range(i + 1, len(lines)) if kinds[j] is None), None)
        if len(words(ln.plain)) >= 30:  # running text shared by two articles is quoted, not furniture
            continue  # (line_keys leaves out lines over _MAX_RECURRING_CHARS already)
        heads_text = (
            (ln.md_level or heading_like(ln.plain))
            and nxt is not None
            and keys[nxt] not in common
            and is_sentence(lines[nxt].plain)
        )
        if not heads_text:
            kinds[i] = "recurring"


def _listish(ln: Line) -> bool:
    """A line of a list of links or titles: a list item, or a short line that is no sentence."""
    return (ln.item and len(words(ln.plain)) <= 16) or (heading_like(ln.plain) and not ln.md_level)


def _mark_regions(lines: list[Line], kinds: list[str | None]) -> None:
    """Headers of related, contents, sources and author blocks take the lines after them; a comments
    header in the second half of the page takes everything after it."""
    i = 0
    while i < len(lines):
        kind = kinds[i]
        if kind not in _REGION_KINDS:
            i += 1
            continue
        j = i + 1
        if kind == "comments":
            if i >= len(lines) // 2:
                for j in range(i + 1, len(lines)):
                    if kinds[j] is None or kinds[j] in ("byline", "share", "link", "bio"):
                        kinds[j] = "comments"
                return
        elif kind == "bio":
            kinds[i] = "byline"  # "About the author": the box's header, not part of the bio
            while j < len(lines) and kinds[j] is None and not lines[j].md_level and j <= i + 2:
                kinds[j] = "bio"
                j += 1
        elif kind == "references":
            while j < len(lines) and (
                kinds[j] is None and not lines[j].md_level and not heading_like(lines[j].plain)
            ):
                kinds[j] = "references"
                j += 1
        else:
            while j < len(lines) and (kinds[j] is not None or _listish(lines[j])):
                if kinds[j] in _REGION_KINDS and kinds[j] != kind:
                    break
                if kinds[j] is None:
                    kinds[j] = kind
                j += 1
        i = j


def _mark_contents_lists(lines: list[Line], kinds: list[str | None]) -> None:
    """A run of two or more different short lines that each repeat a later line is a table of contents."""
    keys = [ln.key for ln in lines]
    later: dict[str, int] = {k: n for n, k in enumerate(keys)}  # last position of each key
    i = 0
    while i < len(lines):
        j = i
        while (
            j < len(lines)
            and kinds[j] is None
            and _listish(lines[j])
            and keys[j]
            and later[keys[j]] > j
            and not lines[j].md_level
        ):
            j += 1
        if len(set(keys[i:j])) >= 2:  # distinct entries: a title and its repeat are no contents list
            for k in range(i, j):
                kinds[k] = "toc"
        i = max(j, i + 1)


def _find_title(lines: list[Line], kinds: list[str | None], front_title: str) -> tuple[str, str, int | None]:
    """(title, source, index of the title line or None)."""
    if front_title:
        key = normalise(front_title)
        at = next((i for i, ln in enumerate(lines[:40]) if ln.key == key), None)
        return front_title, "front_matter", at
    h1 = [i for i, ln in enumerate(lines) if ln.md_level == 1 and kinds[i] is None]
    if h1:
        return lines[h1[0]].plain, "markdown", h1[0]
    # the headline: the last headline-like line above the byline, or without a byline the first one
    # above the first paragraph (the last there may be the first section's heading)
    listed = {ln.key for ln, k in zip(lines, kinds, strict=True) if k == "toc"}
    candidates: list[int] = []
    by_byline = False
    for i, ln in enumerate(lines[:60]):
        kind = kinds[i]
        if kind == "byline" or (kind is None and is_sentence(ln.plain)):
            by_byline = kind == "byline"
            break
        headline = kind is None and heading_like(ln.plain) and len(words(ln.plain)) >= 3 and not ln.item
        if headline and ln.key not in listed and _title_shape(ln.plain):
            candidates.append(i)
    if not candidates:
        return "", "", None
    pick = candidates[-1] if by_byline else candidates[0]
    key = lines[pick].key  # a headline printed twice: the first is the title
    pick = next(c for c in candidates if lines[c].key == key)
    return lines[pick].plain, "detected", pick


def _title_shape(s: str) -> bool:
    """Headline-like: Title Case, or a sentence-case line of four words or more that is not a list item."""
    long = [w for w in re.findall(r"[^\W\d_][\w'’]*", s) if len(w) > 3]
    title_case = bool(long) and sum(w[0].isupper() for w in long) >= 0.75 * len(long)
    return title_case or (s[:1].isupper() and len(s.split()) >= 4)


def _mark_masthead(lines: list[Line], kinds: list[str | None], title_i: int | None) -> None:
    """Above the title, anything that is not running text is masthead, menu or breadcrumb."""
    if title_i is None:
        return
    for i in range(title_i):
        if kinds[i] is None and not is_sentence(lines[i].plain):
            kinds[i] = "nav"


def _mark_captions(lines: list[Line], kinds: list[str | None]) -> None:
    """Title-like lines sharing a block with a title repeat or an image are captions, as are later
    repeats of a title-like line of four words or more."""
    noisy_paras = {ln.para for ln, k in zip(lines, kinds, strict=True) if k in ("title_repeat", "image")}
    seen: set[str] = set()
    for i, ln in enumerate(lines):
        if kinds[i] is not None or not heading_like(ln.plain) or ln.md_level:
            continue
        key = ln.key
        if ln.para in noisy_paras or (key in seen and len(ln.plain.split()) >= 4):
            kinds[i] = "caption"
        seen.add(key)
    for i, ln in enumerate(lines):  # a short unpunctuated line right under an image is its caption
        if i and kinds[i] is None and kinds[i - 1] == "image" and not is_sentence(ln.plain):
            kinds[i] = "caption"


def _mark_author_box(lines: list[Line], kinds: list[str | None], spans: list[tuple[int, int]]) -> str:
    """Find 'Name' + 'Name is a ...' at the end; mark them byline + bio; return the name."""
    content = [i for i, k in enumerate(kinds) if k is None]
    if len(content) < 3:
        return ""
    name_i, bio_i = content[-2], content[-1]
    name, bio = lines[name_i].plain, lines[bio_i].text
    same_para = lines[name_i].para == lines[bio_i].para
    if same_para or not _NAME.match(name) or not bio.startswith(name.split()[0]):
        return ""
    kinds[name_i], kinds[bio_i] = "byline", "bio"
    m = _AUTHOR_POSTS.search(bio)
    if m:  # "View Author posts" is the box's link, not part of the bio
        start, _ = spans[bio_i]
        spans[bio_i] = (start, start + len(bio[: m.start()].rstrip()))
    return name


def _byline_author(lines: list[Line], kinds: list[str | None]) -> str:
    for ln, kind in zip(lines, kinds, strict=True):
        if kind == "byline" and (m := furniture.AUTHOR.search(ln.plain)):
            return m.group(1).rstrip(".,")
    return ""


def _mark_bio_by_name(lines: list[Line], kinds: list[str | None], author: str) -> None:
    """In the second half of the page, a paragraph that starts with the author's name and a verb such
    as 'is' or 'writes' is the author box."""
    if not author:
        return
    for i in range(len(lines) // 2, len(lines)):
        plain = lines[i].plain
        if kinds[i] is None and plain.startswith(author) and _BIO_VERB.match(plain[len(author) :]):
            kinds[i] = "bio"


def _mark_page_foot(lines: list[Line], kinds: list[str | None]) -> None:
    """The page's foot starts at the first furniture line after the last paragraph of running text;
    from there on, what is not running text is furniture too. Lines between the last paragraph and that
    point (a closing list of tips without full stops) stay, unless they are bare links."""
    last = max((i for i, k in enumerate(kinds) if k is None and is_sentence(lines[i].plain)), default=-1)
    if last < 0:
        return
    foot = next((i for i in range(last + 1, len(lines)) if kinds[i] is not None), len(lines))
    for i in range(last + 1, len(lines)):
        if kinds[i] is None and not lines[i].md_level and (i > foot or lines[i].linked):
            kinds[i] = "furniture"


def _mark_headings(lines: list[Line], kinds: list[str | None], levels: list[int]) -> None:
    """A Markdown heading, or a title-like line alone in its block, with content after it, is a heading."""
    # The loop only changes kinds[i], so the lines after i keep their kinds: where the last content
    # line is can be found once (asking at every line was quadratic: 10 MiB of short lines took minutes).
    last_content = max((i for i, k in enumerate(kinds) if k in (None, "bio")), default=-1)
    for i, ln in enumerate(lines):
        if kinds[i] is not None or not (ln.md_level or heading_like(ln.plain)) or ln.item:
            continue
        alone = (i == 0 or lines[i - 1].para != ln.para) and (
            i + 1 == len(lines) or lines[i + 1].para != ln.para
        )
        content_after = last_content > i
        if (alone or ln.md_level) and content_after:
            kinds[i], levels[i] = "heading", ln.md_level or 2
        elif ln.md_level:
            kinds[i] = "furniture"  # a heading with nothing under it


def _blocks(
    lines: list[Line], kinds: list[str | None], levels: list[int], spans: list[tuple[int, int]]
) -> tuple[Block, ...]:
    """Merge consecutive content lines of one paragraph into one paragraph block."""
    out: list[Block] = []
    for i, ln in enumerate(lines):
        kind = kinds[i] or "paragraph"
        start, end = spans[i]
        prev = out[-1] if out else None
        if kind == "paragraph" and prev and prev.kind == "paragraph" and lines[i - 1].para == ln.para:
            out[-1] = Block("paragraph", prev.start, end)
        elif kind == "bio" and prev and prev.kind == "bio" and lines[i - 1].para == ln.para:
            out[-1] = Block("bio", prev.start, end)
        else:
            out.append(Block(kind, start, end, levels[i] if kind == "heading" else 0))
    return tuple(out)
