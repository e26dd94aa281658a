"""Answer-level metrics for span-labelled queries: does the answer quote the evidence, and only it?

For each query the answer (ask.py; a follow-up with its earlier question as history) is judged against
the query's quotes, located in the original files (queries.py):
- a quoted sentence *hits* a labelled quote when their spans overlap by at least half of the shorter
  of the two (a sentence that holds most of a short quote, or lies inside a long one);
- *answer recall*: the share of answerable questions whose answer hits at least one labelled quote
  (a declined answerable question counts as a miss);
- *answer precision*: the share of quoted sentences (in answers to answerable questions) that hit a
  labelled quote or lie in the same paragraph (blank-line separated) as one;
- *abstention*: answerable questions declined, unanswerable questions answered;
- *follow-ups in context*: the share of follow-up questions answered as their context asks (an
  answerable one hits its quotes, an unanswerable one is declined).
Where the query file also lists, per question, every sentence a reader would accept ("accept", labelled
blind to the system's answers), the *reader* figures judge against those: reader recall, the share of
answerable questions whose answer quotes an accepted sentence; reader precision, the share of quoted
sentences that are accepted ones (no paragraph rule: the labels list the sentences themselves).
Figures are given for every split of the query file ("train", "test") and for all queries. It does
not rank passages (evaluate.py) or print (evalreport.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .queries import Query, QuoteLocator, QuoteSpan

_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n")

Spans = list[tuple[str, int, int]]  # (corpus-relative path, start, end) of each quoted sentence


@dataclass(frozen=True)
class AnswerJudgement:
    qid: str
    answered: bool
    text: str
    hit: bool  # the answer quotes labelled evidence
    sentences: int
    relevant: int  # quoted sentences that hit a quote or share its paragraph
    reader_hit: bool | None = None  # the answer quotes an accepted sentence (None: no accept labels)
    reader_relevant: int | None = None  # quoted sentences that are accepted ones


def hits(quote: QuoteSpan, path: str, start: int, end: int) -> bool:
    """Overlap of at least half of the shorter of the quote and the quoted sentence."""
    if quote.path != path:
        return False
    overlap = min(quote.end, end) - max(quote.start, start)
    return overlap > 0 and 2 * overlap >= min(quote.end - quote.start, end - start)


class Paragraphs:
    """Paragraph spans of each article, for the precision rule."""

    def __init__(self, articles: dict[str, str]) -> None:
        self._bounds: dict[str, list[int]] = {}
        for path, text in articles.items():
            self._bounds[path] = [m.end() for m in _PARAGRAPH_BREAK.finditer(text)]

    def of(self, path: str, offset: int) -> int:
        """The paragraph number holding the offset."""
        return sum(1 for b in self._bounds.get(path, []) if b <= offset)


def judge(
    q: Query, answered: bool, text: str, spans: Spans, locator: QuoteLocator, paragraphs: Paragraphs
) -> AnswerJudgement:
    """The judgement of one answer against the query's labels."""
    quotes = [span for quote in q.quotes for span in locator.spans(quote)]
    hit = answered and any(hits(qs, p, s, e) for qs in quotes for p, s, e in spans)
    labelled = {(qs.path, paragraphs.of(qs.path, qs.start)) for qs in quotes}
    labelled |= {(qs.path, paragraphs.of(qs.path, qs.end - 1)) for qs in quotes}
    relevant = sum(
        1
        for p, s, e in spans
        if any(hits(qs, p, s, e) for qs in quotes) or (p, paragraphs.of(p, s)) in labelled
    )
    reader_hit, reader_relevant = None, None
    if q.accept:
        accepted = [span for sentence in q.accept for span in locator.spans(sentence)]
        good = [any(hits(a, p, s, e) for a in accepted) for p, s, e in spans]
        reader_hit, reader_relevant = answered and any(good), sum(good) if answered else 0
    return AnswerJudgement(
        q.qid,
        answered,
        text,
        hit,
        len(spans) if answered else 0,
        relevant if answered else 0,
        reader_hit,
        reader_relevant,
    )


def figures(queries: list[Query], judged: dict[str, AnswerJudgement]) -> dict[str, float]:
    """The answer metrics over these queries (see the module docstring)."""
    answerable = [q for q in queries if q.answerable]
    unanswerable = [q for q in queries if not q.answerable]
    sentences = sum(judged[q.qid].sentences for q in answerable)
    follow = [q for q in queries if q.follows]
    in_context = sum(judged[q.qid].hit if q.answerable else not judged[q.qid].answered for q in follow)
    out: dict[str, float] = {
        "questions": len(queries),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "answer_recall": sum(judged[q.qid].hit for q in answerable) / len(answerable) if answerable else 0.0,
        "answer_precision": sum(judged[q.qid].relevant for q in answerable) / sentences if sentences else 0.0,
        "answerable_declined": sum(not judged[q.qid].answered for q in answerable),
        "unanswerable_answered": sum(judged[q.qid].answered for q in unanswerable),
        "follow_ups": len(follow),
        "follow_ups_in_context": in_context,
    }
    if answerable and all(judged[q.qid].reader_hit is not None for q in answerable):
        out["reader_recall"] = sum(bool(judged[q.qid].reader_hit) for q in answerable) / len(answerable)
        good = sum(judged[q.qid].reader_relevant or 0 for q in answerable)
        out["reader_precision"] = good / sentences if sentences else 0.0
        out["reader_follow_ups_in_context"] = sum(
            bool(judged[q.qid].reader_hit) if q.answerable else not judged[q.qid].answered for q in follow
        )
    return out


def by_split(queries: list[Query], judged: dict[str, AnswerJudgement]) -> dict[str, dict[str, float]]:
    """figures() for each split present, and for all queries."""
    out = {"all": figures(queries, judged)}
    for split in sorted({q.split for q in queries if q.split}):
        out[split] = figures([q for q in queries if q.split == split], judged)
    return out


AskFn = Callable[[Query, list[str]], tuple[bool, str, Spans]]


def judge_all(
    queries: list[Query], ask: AskFn, locator: QuoteLocator, paragraphs: Paragraphs
) -> dict[str, AnswerJudgement]:
    """Answer every query (a follow-up with its chain of earlier questions as history) and judge it."""
    by_id = {q.qid: q for q in queries}
    out = {}
    for q in queries:
        history: list[str] = []
        at = q
        while at.follows:
            at = by_id[at.follows]
            history.insert(0, at.question)
        answered, text, spans = ask(q, history)
        out[q.qid] = judge(q, answered, text, spans, locator, paragraphs)
    return out


def to_json(judged: dict[str, AnswerJudgement]) -> dict[str, Any]:
    return {qid: j.__dict__.copy() for qid, j in judged.items()}
