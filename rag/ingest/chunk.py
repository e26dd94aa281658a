"""Cut a cleaned article into passages: whole sentences, within one section, with overlap.

A passage never crosses a heading or a dropped block (a "Related:" line, a repeated title), so its
text is always one contiguous span of the original file: `original[start:end] == chunk.text`.
Sentences come from sentencex (character offsets); a sentence longer than the passage size is cut at
word boundaries. Passages are bounded in characters too (CHARS_PER_WORD per word of the passage size):
a run of text without whitespace (a pasted data blob, a 10 MB "word") is cut after a punctuation mark
where there is one, else at the cap. Packing costs time linear in the article's size. The author bio becomes passages of its own, in the section "About the author".
It does not read files (read.py) or decide what is boilerplate (clean.py).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from itertools import accumulate

import sentencex

from ..config import ChunkParams
from ..types import Article, Block, Chunk

BIO_SECTION = "About the author"
# A passage spans at most max_words * CHARS_PER_WORD characters. English prose runs about 6 per word
# (the seed corpus at most 6.9), so only text without spaces between its "words" ever meets the cap.
CHARS_PER_WORD = 12
SENTENCEX_WINDOW = 1 << 16  # longest stretch of a block split into sentences at once (see sentence_spans)
_WS = re.compile(r"\s+")
_CUT_AFTER = re.compile(r"[^\w\s]")  # a long token is cut after punctuation: a URL's "/", a "-", a "."


def chunk_article(article: Article, params: ChunkParams) -> list[Chunk]:
    """The passages of one article, in reading order."""
    chunks: list[Chunk] = []
    for section, sentences in _segments(article):
        for start, end in _pack(sentences, article.text, params):
            text = article.text[start:end]
            chunks.append(
                Chunk(
                    chunk_id=f"{article.article_id}#{len(chunks)}",
                    article_id=article.article_id,
                    path=article.path,
                    title=article.title,
                    section=section,
                    start=start,
                    end=end,
                    text=text,
                    embed_text=embed_text(article, section, text, params),
                )
            )
    return chunks


def embed_text(article: Article, section: str, text: str, params: ChunkParams) -> str:
    """What the embedder sees: the passage with whitespace normalised, prefixed by title and section."""
    body = _WS.sub(" ", text).strip()
    if params.prefix == "none":
        return body
    title = article.title if article.title_source != "filename" else ""  # a file name is no content
    head = " > ".join(part for part in (title, section) if part)
    return f"{head}\n{body}" if head else body


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Sentence spans inside text[start:end], without surrounding whitespace.

    sentencex is given at most SENTENCEX_WINDOW characters at once: its answer holds a dict and a copy
    of the text per sentence (~700 bytes a sentence), 2 GB for 10 MiB of one-word lines in one block.
    """
    spans = []
    while start < end:
        stop = end if end - start <= SENTENCEX_WINDOW else _window_end(text, start)
        for b in sentencex.get_sentence_boundaries("en", text[start:stop]):
            s, e = start + b["start_index"], start + b["end_index"]
            piece = text[s:e]
            lead = len(piece) - len(piece.lstrip())
            trail = len(piece) - len(piece.rstrip())
            if e - trail > s + lead:
                spans.append((s + lead, e - trail))
        start = stop
    return spans


def _window_end(text: str, start: int) -> int:
    """Where a window of a very long block ends: after its last line break, else after its last
    whitespace, in the window's second half; else at its full size."""
    half, stop = start + SENTENCEX_WINDOW // 2, start + SENTENCEX_WINDOW
    for sep in ("\n", " "):
        at = text.rfind(sep, half, stop)
        if at >= 0:
            return at + 1
    return stop


def _segments(article: Article) -> Iterator[tuple[str, list[tuple[int, int]]]]:
    """(section breadcrumb, sentence spans) for each run of paragraphs with nothing dropped between."""
    stack: list[tuple[int, str]] = []
    run: list[tuple[int, int]] = []

    def section() -> str:
        return " > ".join(name for _, name in stack)

    for block in article.blocks:
        if block.kind == "paragraph":
            run.extend(sentence_spans(article.text, block.start, block.end))
            continue
        if run:
            yield section(), run
            run = []
        if block.kind == "heading":
            stack = [(lvl, name) for lvl, name in stack if lvl < block.level]
            stack.append((block.level, _heading_text(article, block)))
        elif block.kind == "bio":
            yield BIO_SECTION, sentence_spans(article.text, block.start, block.end)
    if run:
        yield section(), run


def _heading_text(article: Article, block: Block) -> str:
    return _WS.sub(" ", article.span(block)).strip()


def max_chars(params: ChunkParams) -> int:
    """The most characters one passage spans."""
    return params.max_words * CHARS_PER_WORD


def _pack(sentences: list[tuple[int, int]], text: str, params: ChunkParams) -> Iterator[tuple[int, int]]:
    """Greedy packing of whole sentences up to max_words (and max_chars), stepping back
    `overlap_sentences` each time."""
    max_words, cap = params.max_words, max_chars(params)
    units = [piece for s in sentences for piece in _split_long(s, text, max_words, cap)]
    before = list(accumulate((len(text[s:e].split()) for s, e in units), initial=0))  # words before unit k

    def fits(i: int, j: int, words: int = max_words) -> bool:  # units i..j (inclusive) as one passage
        return before[j + 1] - before[i] <= words and units[j][1] - units[i][0] <= cap

    i, n = 0, len(units)
    while i < n:
        j = i + 1
        while j < n and fits(i, j):
            j += 1
        rest = before[n] - before[j]
        if j < n and rest <= max_words // 4 and fits(i, n - 1, max_words * 5 // 4):
            j = n  # absorb a short tail instead of leaving a scrap passage
        yield units[i][0], units[j - 1][1]
        if j >= n:
            break
        i = max(j - params.overlap_sentences, i + 1)
        if not fits(i, j):
            i = j  # overlap only when it leaves room for a new sentence, else a passage repeats another


def _split_long(span: tuple[int, int], text: str, max_words: int, cap: int) -> list[tuple[int, int]]:
    """A sentence longer than max_words or cap characters, cut at word boundaries into pieces of at
    most max_words words and cap characters (a single longer token is cut itself, see _cut_token)."""
    start, end = span
    if end - start <= cap and len(text[start:end].split()) <= max_words:
        return [span]
    pieces: list[tuple[int, int]] = []
    first, last, count = -1, -1, 0
    for m in re.finditer(r"\S+", text[start:end]):
        for s, e in _cut_token(text, m.start() + start, m.end() + start, cap):
            if first >= 0 and (count == max_words or e - first > cap):
                pieces.append((first, last))
                first = -1
            if first < 0:
                first, count = s, 0
            last, count = e, count + 1
    pieces.append((first, last))
    return pieces


def _cut_token(text: str, start: int, end: int, cap: int) -> Iterator[tuple[int, int]]:
    """[start, end) in pieces of at most cap characters: each cut after the last punctuation mark in
    the second half of its piece, else at the cap (moved back off combining marks, so a letter keeps
    its accents)."""
    while end - start > cap:
        window = text[start + cap // 2 : start + cap]
        marks = [m.end() for m in _CUT_AFTER.finditer(window)]
        cut = start + cap // 2 + marks[-1] if marks else start + cap
        while not marks and cut > start + 1 and _joins_previous(text[cut]):
            cut -= 1
        yield start, cut
        start = cut
    yield start, end


def _joins_previous(ch: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a joiner, a variation selector."""
    return (
        unicodedata.category(ch) in ("Mn", "Mc", "Me") or ch in "\u200c\u200d" or 0xFE00 <= ord(ch) <= 0xFE0F
    )
