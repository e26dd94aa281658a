"""Citations: an answer's sentences, the sources they cite, and the exact spans those cover.

An Answer is a few sentences, each citing numbered Sources; a Source is a retrieved passage with the
[start, end) character span in the original article file that its quoted sentences cover (and each
quote's own span), so a viewer can highlight the exact words. `cited_answer` is where citations are
made: it numbers sources by first citation and lists only the passages cited; an Answer refuses
(ValueError) citation numbers that point at nothing or sources nobody cites. `abstain` is the answer
that cites nothing and shows the closest passages instead. It does not choose sentences (extractive.py,
generate.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..types import Passage

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "The articles do not cover this question."
Span = tuple[int, int]  # [start, end) in the original article file
# One answer sentence and, for each passage it cites, the span in the file that supports it.
Cited = tuple[str, list[tuple[Passage, Span]]]


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer and the 1-based numbers of the sources it cites."""

    text: str
    citations: tuple[int, ...]


@dataclass(frozen=True)
class Source:
    """A cited passage; [start, end) in the original file covers the quoted sentence(s)."""

    number: int
    passage: Passage
    start: int
    end: int
    quotes: tuple[Span, ...] = ()  # the exact span of each quoted sentence, sorted

    def __post_init__(self) -> None:
        c = self.passage.chunk
        if not c.start <= self.start <= self.end <= c.end:
            raise ValueError(f"span [{self.start}, {self.end}) lies outside passage [{c.start}, {c.end})")

    @property
    def sentence_text(self) -> str:
        """The original text of [start, end), exactly as in the file."""
        c = self.passage.chunk
        return c.text[self.start - c.start : self.end - c.start]

    def to_json(self) -> dict[str, Any]:
        c = self.passage.chunk
        return {
            "number": self.number,
            "path": self.passage.path,
            "start": self.start,
            "end": self.end,
            "title": c.title,
            "section": c.section,
            "article_id": c.article_id,
            "chunk_id": c.chunk_id,
            "passage_text": c.text,
            "sentence_text": self.sentence_text,
            "quotes": [
                {"start": s, "end": e, "text": c.text[s - c.start : e - c.start]} for s, e in self.quotes
            ],
        }


@dataclass(frozen=True)
class Answer:
    """Cited sentences answering a question, or an abstention that shows the closest passages."""

    question: str
    sentences: tuple[AnswerSentence, ...]
    sources: tuple[Source, ...]
    abstained: bool
    closest: tuple[Passage, ...]
    mode: str  # "extractive" | "generative"
    note: str  # shown to the user, e.g. why generative mode fell back
    flagged: tuple[int, ...] = ()  # indexes into sentences that failed the generative checks

    def __post_init__(self) -> None:
        # Citation numbers that point at nothing, or sources nobody cites, are bugs: fail loudly.
        numbers = [s.number for s in self.sources]
        cited = {n for s in self.sentences for n in s.citations}
        if numbers != list(range(1, len(numbers) + 1)) or cited != set(numbers):
            raise ValueError(f"sources {numbers} do not match the citations {sorted(cited)}")

    @property
    def text(self) -> str:
        """The answer as prose: 'sentence [1] sentence [2]'."""
        if self.abstained:
            return ABSTAIN_TEXT
        return " ".join(
            " ".join([s.text, "".join(f"[{n}]" for n in s.citations)]).strip() for s in self.sentences
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "text": self.text,
            "mode": self.mode,
            "abstained": self.abstained,
            "note": self.note,
            "sentences": [{"text": s.text, "citations": list(s.citations)} for s in self.sentences],
            "flagged": list(self.flagged),
            "sources": [s.to_json() for s in self.sources],
            "closest": [p.to_json() for p in self.closest],
        }


def abstain(question: str, passages: list[Passage], reason: str) -> Answer:
    """No answer: nothing cited, the passages shown as the closest found, the reason as the note."""
    log.info("abstaining on %r: %s", question, reason)
    return Answer(question, (), (), True, tuple(passages), "extractive", reason)


def cited_answer(
    question: str, cited: list[Cited], *, mode: str, note: str = "", flagged: tuple[int, ...] = ()
) -> Answer:
    """An Answer whose sources are exactly the passages its sentences cite, numbered by first citation."""
    numbers: dict[str, int] = {}  # chunk_id -> source number
    passages: dict[str, Passage] = {}
    quotes: dict[str, set[Span]] = {}
    sentences = []
    for text, refs in cited:
        citations: list[int] = []
        for passage, span in refs:
            key = passage.chunk.chunk_id
            number = numbers.setdefault(key, len(numbers) + 1)
            passages[key] = passage
            quotes.setdefault(key, set()).add(span)
            if number not in citations:
                citations.append(number)
        sentences.append(AnswerSentence(text, tuple(citations)))
    sources = tuple(
        Source(
            n, passages[key], min(quotes[key])[0], max(e for _, e in quotes[key]), tuple(sorted(quotes[key]))
        )
        for key, n in numbers.items()
    )
    return Answer(question, tuple(sentences), sources, False, (), mode, note, flagged)
