"""Span-labelled test queries: read a query file, find each quote in the articles, judge passages.

A query file is JSON Lines: {"id", "question", "quotes": [...], "answerable": true}, optionally with
"accept": [...], every sentence a reader would accept in an answer (answereval.py). A quote labels the
words that answer the question, not a passage id, so labels survive re-chunking. A passage is relevant to
a quote when its text contains the quote (compared after case-folding, collapsing whitespace and mapping
typographic quotes to plain ones), or when its [start, end) span covers at least half of one of the
quote's spans in the original file. It does not run retrieval or compute metrics (evaluate.py).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import QueryError
from ..types import Chunk

_FOLD = str.maketrans({"“": '"', "”": '"', "„": '"', "″": '"', "‘": "'", "’": "'", "‚": "'", "′": "'"})


@dataclass(frozen=True)
class Query:
    qid: str
    question: str
    quotes: tuple[str, ...] = ()
    answerable: bool = True
    split: str = ""  # "train" (thresholds and weights are fitted here), "test" (never tuned on) or ""
    follows: str = ""  # id of the earlier question a follow-up is asked after ("" for none)
    # every sentence a reader would accept as (part of) the answer, labelled blind to the system's answers
    # (answereval.py's reader figures); () when the file does not give them
    accept: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuoteSpan:
    """Where a quote occurs: the article's corpus-relative path and [start, end) offsets."""

    path: str
    start: int
    end: int


def fold(text: str) -> str:
    """The comparison form of a text: NFKC, case-folded, plain quotes, whitespace collapsed."""
    return folded_with_offsets(text)[0]


def folded_with_offsets(text: str) -> tuple[str, list[int]]:
    """(folded text, offset in `text` of each folded character)."""
    out: list[str] = []
    where: list[int] = []
    space = True  # drop leading whitespace
    for i, ch in enumerate(text):
        if ch.isspace():
            if not space:
                out.append(" ")
                where.append(i)
            space = True
            continue
        space = False
        for piece in unicodedata.normalize("NFKC", ch).casefold().translate(_FOLD):
            out.append(piece)
            where.append(i)
    if out and out[-1] == " ":
        out.pop()
        where.pop()
    return "".join(out), where


def load_queries(path: Path) -> list[Query]:
    """Parse and check a query file; QueryError with the line number for anything malformed."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise QueryError(f"query file {path} does not exist - pass a JSONL file of test queries") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise QueryError(f"query file {path} cannot be read ({exc}) - save it as UTF-8 JSON Lines") from None
    queries: list[Query] = []
    seen: set[str] = set()
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path} line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QueryError(
                f"{where} is not valid JSON ({exc.msg}) - write one JSON object per line"
            ) from None
        queries.append(_query(obj, where))
        if queries[-1].qid in seen:
            raise QueryError(f"{where}: id {queries[-1].qid!r} is used twice - give each query its own id")
        if queries[-1].follows and queries[-1].follows not in seen:
            raise QueryError(
                f"{where}: id {queries[-1].qid!r} follows {queries[-1].follows!r}, which is not an earlier"
                " query - put the earlier question first"
            )
        seen.add(queries[-1].qid)
    if not queries:
        raise QueryError(f"query file {path} holds no queries - add lines like {_EXAMPLE}")
    return queries


SPLITS = ("", "train", "test")
_EXAMPLE = '{"id": "q1", "question": "...", "quotes": ["..."]}'


def _query(obj: object, where: str) -> Query:
    if not isinstance(obj, dict):
        raise QueryError(f"{where} is not a JSON object - write e.g. {_EXAMPLE}")
    qid, question = obj.get("id"), obj.get("question")
    quotes, answerable = obj.get("quotes", []), obj.get("answerable", True)
    if not isinstance(qid, str | int) or str(qid) == "":
        raise QueryError(f'{where} has no "id" - give each query a unique id')
    if not isinstance(question, str) or not question.strip():
        raise QueryError(f'{where} (id {qid}) has no "question" text - add the question')
    if not isinstance(quotes, list) or not all(isinstance(q, str) and q.strip() for q in quotes):
        raise QueryError(f'{where} (id {qid}): "quotes" must be a list of non-empty strings')
    if not isinstance(answerable, bool):
        raise QueryError(f'{where} (id {qid}): "answerable" must be true or false')
    if answerable and not quotes:
        raise QueryError(
            f'{where} (id {qid}) has no quotes - add the words that answer it, or "answerable": false'
        )
    if not answerable and quotes:
        raise QueryError(f"{where} (id {qid}) is unanswerable but has quotes - remove one or the other")
    split, follows = obj.get("split", ""), obj.get("follows", "")
    if split not in SPLITS:
        raise QueryError(f'{where} (id {qid}): "split" must be one of {", ".join(map(repr, SPLITS))}')
    if not isinstance(follows, str | int):
        raise QueryError(f'{where} (id {qid}): "follows" must be the id of an earlier query')
    accept = obj.get("accept", [])
    if not isinstance(accept, list) or not all(isinstance(a, str) and a.strip() for a in accept):
        raise QueryError(f'{where} (id {qid}): "accept" must be a list of non-empty strings')
    if accept and not answerable:
        raise QueryError(f"{where} (id {qid}) is unanswerable but has accepted sentences - remove them")
    return Query(str(qid), question.strip(), tuple(quotes), answerable, split, str(follows), tuple(accept))


class QuoteLocator:
    """Finds quotes in the indexed articles and judges passages against them."""

    def __init__(self, articles: dict[str, str]) -> None:
        """`articles` maps corpus-relative path to the article's original text."""
        self._folded = {path: folded_with_offsets(text) for path, text in articles.items()}
        self._spans: dict[str, tuple[QuoteSpan, ...]] = {}

    def spans(self, quote: str) -> tuple[QuoteSpan, ...]:
        """Every occurrence of the quote in the articles."""
        if quote not in self._spans:
            needle = fold(quote)
            found = []
            for path, (hay, where) in self._folded.items():
                at = hay.find(needle)
                while needle and at >= 0:
                    found.append(QuoteSpan(path, where[at], where[at + len(needle) - 1] + 1))
                    at = hay.find(needle, at + 1)
            self._spans[quote] = tuple(found)
        return self._spans[quote]

    def check(self, queries: list[Query]) -> None:
        """QueryError naming the first query whose quote occurs in no article."""
        for q in queries:
            for quote in q.quotes + q.accept:
                if not self.spans(quote):
                    raise QueryError(
                        f"query {q.qid}: the quote {quote!r} occurs in no article - copy it exactly from the text"
                    )

    def covers(self, chunk: Chunk, quote: str) -> bool:
        """The relevance rule: the passage contains the quote, or covers half of one of its spans."""
        if fold(quote) in fold(chunk.text):
            return True
        for span in self.spans(quote):
            if span.path == chunk.path:
                overlap = min(span.end, chunk.end) - max(span.start, chunk.start)
                if overlap * 2 >= span.end - span.start:
                    return True
        return False

    def evidence_groups(self, query: Query, chunks: Sequence[Chunk]) -> list[tuple[int, ...]]:
        """The query's quotes grouped into pieces of evidence: quotes one passage covers together."""
        parent = list(range(len(query.quotes)))

        def root(i: int) -> int:
            while parent[i] != i:
                i = parent[i]
            return i

        paths = {span.path for quote in query.quotes for span in self.spans(quote)}
        for chunk in chunks:
            if chunk.path not in paths:
                continue
            covered = [i for i, quote in enumerate(query.quotes) if self.covers(chunk, quote)]
            for i in covered[1:]:
                parent[root(i)] = root(covered[0])
        groups: dict[int, list[int]] = {}
        for i in range(len(query.quotes)):
            groups.setdefault(root(i), []).append(i)
        return [tuple(g) for g in groups.values()]
