"""HTML for the web UI: answers with citation links, the sources panel, and the article viewer page.

All article text is escaped here (html.escape) before it reaches a page, so an article containing
`<script>` or `<img onerror=...>` shows those characters and runs nothing; the article page is also
served with a Content-Security-Policy that allows no script at all. Citation links point at
`/article?id=...&start=...&end=...#hl`, which opens the article with the cited span marked and scrolled
into view. It does not decide what to show (rag/answer/ask.py, handlers.py).
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

from rag.answer.ask import Reply
from rag.answer.citation import Source
from rag.index.manifest import ArticleRecord
from rag.types import Passage

VIEWER = "viewer"  # name of the iframe citation links open in

ARTICLE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'"

_ARTICLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="color-scheme" content="light dark"><title>{title}</title>
<style>
body {{ font: 15px/1.6 system-ui, sans-serif; margin: 1rem 1.25rem; color: #1f2328; }}
h1 {{ font-size: 1.1rem; margin: 0 0 .25rem; }}
.meta {{ color: #59636e; font-size: .85rem; margin-bottom: 1rem; }}
.text {{ white-space: pre-wrap; }}
mark {{ background: #ffe58a; padding: .1em 0; scroll-margin: 40vh; }}
.stale {{ background: #fff1e5; border: 1px solid #d4a373; padding: .5rem .75rem; border-radius: 6px; }}
@media (prefers-color-scheme: dark) {{
  body {{ background: #0d1117; color: #e6edf3; }}
  .meta {{ color: #9198a1; }}
  mark {{ background: #f2cc60; color: #1f2328; }}
  .stale {{ background: #3d2a12; border-color: #9e6a03; }}
}}
</style></head>
<body><h1>{title}</h1><div class="meta">{meta}</div>{note}<div class="text">{body}</div></body></html>
"""
STALE_NOTE = (
    "This article has changed since it was indexed, so the quoted words cannot be marked in it."
    " The answer came from the earlier version; rebuild the index to cite the current one."
)
_MAX_OFFSET_DIGITS = 12  # offsets beyond a terabyte are not offsets (and int() refuses 4,300+ digits)


def article_url(article_id: str, start: int, end: int, quotes: tuple[tuple[int, int], ...] = ()) -> str:
    """Link to the article page; `quotes` (exact spans inside [start, end)) are marked one by one."""
    params: dict[str, str | int] = {"id": article_id, "start": start, "end": end}
    if len(quotes) > 1:
        params["q"] = ",".join(f"{s}-{e}" for s, e in quotes)
    return "/article?" + urlencode(params) + "#hl"


def parse_spans(start: int, end: int, q: str = "") -> list[tuple[int, int]]:
    """The spans a request asks to mark: q="s-e,s-e" when given, else [start, end)."""
    spans = []
    for part in q.split(","):
        a, sep, b = part.partition("-")
        if sep and a.isdigit() and b.isdigit() and max(len(a), len(b)) <= _MAX_OFFSET_DIGITS:
            spans.append((int(a), int(b)))
    return spans[:50] or [(start, end)]


def article_page(title: str, path: str, text: str, spans: list[tuple[int, int]], note: str = "") -> str:
    """A whole page: the article as text, each span marked, the first with id="hl" (scrolled to)."""
    clean = sorted({(max(0, min(s, e, len(text))), min(max(s, e), len(text))) for s, e in spans})
    pieces: list[str] = []
    cursor = 0
    for s, e in clean:
        s = max(s, cursor)
        if e <= s:
            continue
        mark_id = ' id="hl"' if not pieces else ""
        pieces.append(f"{html.escape(text[cursor:s])}<mark{mark_id}>{html.escape(text[s:e])}</mark>")
        cursor = e
    pieces.append(html.escape(text[cursor:]))
    meta = f"{path} · characters " + ", ".join(f"{s}-{e}" for s, e in clean) if clean else path
    box = f'<p class="stale" role="status">{html.escape(note)}</p>' if note else ""
    return _ARTICLE_PAGE.format(
        title=html.escape(title), meta=html.escape(meta), note=box, body="".join(pieces)
    )


def _cite(source: Source, label: str = "") -> str:
    c = source.passage.chunk
    url = html.escape(article_url(c.article_id, source.start, source.end, source.quotes))
    text = html.escape(label) if label else f"[{source.number}]"
    return f'<a class="cite" href="{url}" target="{VIEWER}" title="{html.escape(c.title)}">{text}</a>'


def within_html(article: ArticleRecord) -> str:
    """The line above an answer asked within one article, naming it."""
    return f'<p class="within"><small>From “{html.escape(article.title or article.path)}” only:</small></p>'


def answer_html(reply: Reply) -> str:
    """The chat message: the answer with clickable [n] markers, or the refusal and the closest passages."""
    answer = reply.answer
    if answer.abstained:
        items = "".join(
            f"<li>{_passage_link(p)}: “{html.escape(preview(p.chunk.text))}”</li>" for p in answer.closest[:3]
        )
        closest = f"<p>Closest they come (not an answer):</p><ul>{items}</ul>" if items else ""
        return (
            f"<p><strong>{html.escape(REFUSAL)}</strong></p>{closest}"
            f"<details><summary>Why no answer</summary><p><small>{html.escape(reply.reason)}.</small></p></details>"
        )
    by_number = {s.number: s for s in answer.sources}
    parts = []
    for sentence in answer.sentences:
        marks = " ".join(_cite(by_number[n]) for n in sentence.citations)
        parts.append(f'<span class="quote">{html.escape(sentence.text)}</span> {marks}')
    body = "<p>" + " ".join(parts) + "</p>"
    if answer.note:
        body += f'<p class="note"><em>{html.escape(answer.note)}</em></p>'
    if answer.mode == "generative":
        body += (
            "<p><em>Written by a local language model from the numbered passages; check the sources.</em></p>"
        )
    return body


REFUSAL = "The articles don’t cover this."


def sources_html(reply: Reply) -> str:
    """The sources panel: a compact card per cited passage (the quoted words in a little context)."""
    answer = reply.answer
    if answer.abstained or not answer.sources:
        return ""
    return '<div class="sources">' + "".join(_source_card(s) for s in answer.sources) + "</div>"


CONTEXT_WORDS = 12  # words shown before and after the quoted words on a source card


def _source_card(source: Source) -> str:
    """Title, section, the quoted words marked with a few words around them, a link, and why."""
    c = source.passage.chunk
    text = c.text
    spans = sorted(source.quotes or ((source.start, source.end),))
    pieces, cursor = [], 0
    for s, e in spans:
        s, e = max(s - c.start, cursor), max(e - c.start, cursor)
        between = text[cursor:s]
        if cursor == 0:
            between = _tail(between, CONTEXT_WORDS)
        elif len(words := between.split()) > 2 * CONTEXT_WORDS:
            between = " ".join(words[:CONTEXT_WORDS]) + " … " + " ".join(words[-CONTEXT_WORDS:]) + " "
        pieces.append(html.escape(between) + "<mark>" + html.escape(text[s:e]) + "</mark>")
        cursor = e
    pieces.append(html.escape(_head(text[cursor:], CONTEXT_WORDS)))
    where = html.escape(c.title) + (
        f' <span class="section">› {html.escape(c.section)}</span>' if c.section else ""
    )
    return (
        f'<div class="source-card"><p class="source-title"><strong>[{source.number}]</strong> {where}</p>'
        f'<p class="source-quote">{"".join(pieces)}</p>'
        f'<p class="source-links">{_cite(source, "Open in the article")}</p>'
        f"<details><summary>Why this source</summary><p><small>{html.escape(why_text(source.passage))}"
        f"<br>{html.escape(c.path)}, characters {c.start}-{c.end}</small></p></details></div>"
    )


def _head(text: str, words: int) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" …" if len(parts) > words else "")


def _tail(text: str, words: int) -> str:
    parts = text.split()
    return ("… " if len(parts) > words else "") + " ".join(parts[-words:]) + (" " if parts else "")


_QUOTE = re.compile(r'<span class="quote">(.*?)</span>', re.S)


def quoted_sentences(message_html: str) -> list[str]:
    """The quoted sentences of an answer message made by answer_html (for feedback)."""
    return [html.unescape(m) for m in _QUOTE.findall(message_html)]


def why_text(p: Passage) -> str:
    """Why a passage was found, in words first, the ranks and scores after."""
    said = []
    if p.why.dense_rank is not None:
        said.append(f"its meaning is close to the question (#{p.why.dense_rank})")
    if p.why.keyword_rank is not None:
        said.append(f"it shares the question's words (#{p.why.keyword_rank})")
    plain = "Found because " + " and ".join(said) + "." if said else "Found by the search."
    return f"{plain} Scores: {_scores(p)}."


def _scores(p: Passage) -> str:
    """'dense #1 (0.52), keyword #3 (2.10), fused 0.0325' from a passage's why."""
    parts = [
        f"{name} #{found[0]} ({found[1]:.2f})" if found else f"not in {name} results"
        for name, found in p.why.rankers().items()
    ]
    if p.why.fused_score is not None:
        parts.append(f"fused {p.why.fused_score:.4f}")
    return ", ".join(parts)


def _passage_link(p: Passage) -> str:
    c = p.chunk
    url = html.escape(article_url(c.article_id, c.start, c.end))
    label = html.escape(c.title + (f" › {c.section}" if c.section else ""))
    return f'<a href="{url}" target="{VIEWER}">{label}</a>'


def preview(text: str, words: int = 30) -> str:
    """The first `words` words of a text, with an ellipsis when there are more."""
    return _head(text, words)
