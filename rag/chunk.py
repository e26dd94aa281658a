"""Cut a cleaned article into passages: whole sentences, within one section, with overlap.

A passage never crosses a heading or a dropped block (a "Related:" line, a repeated title), so its
text is always one contiguous span of the original file: `original[start:end] == chunk.text`.
Sentences come from sentencex (character offsets); a sentence longer than the passage size is cut at
word boundaries. The author bio becomes passages of its own, in the section "About the author".
It does not read files (ingest.py) or decide what is boilerplate (clean.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import sentencex

from .config import ChunkParams
from .types import Article, Block, Chunk

BIO_SECTION = "About the author"
_WS = re.compile(r"\s+")


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
    """Sentence spans inside text[start:end], without surrounding whitespace."""
    spans = []
    for b in sentencex.get_sentence_boundaries("en", text[start:end]):
        s, e = start + b["start_index"], start + b["end_index"]
        piece = text[s:e]
        lead = len(piece) - len(piece.lstrip())
        trail = len(piece) - len(piece.rstrip())
        if e - trail > s + lead:
            spans.append((s + lead, e - trail))
    return spans


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


def _pack(sentences: list[tuple[int, int]], text: str, params: ChunkParams) -> Iterator[tuple[int, int]]:
    """Greedy packing of whole sentences up to max_words, stepping back `overlap_sentences` each time."""
    units = [piece for s in sentences for piece in _split_long(s, text, params.max_words)]
    words = [len(text[s:e].split()) for s, e in units]
    i, n = 0, len(units)
    while i < n:
        j, total = i + 1, words[i]
        while j < n and total + words[j] <= params.max_words:
            total += words[j]
            j += 1
        rest = sum(words[j:])
        if j < n and rest <= params.max_words // 4 and total + rest <= params.max_words * 5 // 4:
            j = n  # absorb a short tail instead of leaving a scrap passage
        yield units[i][0], units[j - 1][1]
        if j >= n:
            break
        i = max(j - params.overlap_sentences, i + 1)
        if sum(words[i : j + 1]) > params.max_words:
            i = j  # overlap only when it leaves room for a new sentence, else a passage repeats another


def _split_long(span: tuple[int, int], text: str, max_words: int) -> list[tuple[int, int]]:
    """A sentence longer than max_words, cut at word boundaries into pieces of at most max_words."""
    start, end = span
    tokens = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
    if len(tokens) <= max_words:
        return [span]
    return [
        (tokens[k][0], tokens[min(k + max_words, len(tokens)) - 1][1])
        for k in range(0, len(tokens), max_words)
    ]
