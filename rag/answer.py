"""Compose an answer from retrieved passages: a few quoted sentences, each citing the passage it is from.

Extractive mode quotes 2-3 sentences verbatim. The passages' sentences come scored against the question
(sentences.py, shared with the rerank and the abstention); each candidate's relevance is its similarity
plus the adjustments of compose.py (rank of its passage, ...). Sentences are picked greedily by maximal
marginal relevance, with a bonus for sentences next to (or in the paragraph of) one already picked, so
the answer reads as one piece; near-duplicates (cosine > 0.9 or the same words), fragments under four
words, heading-like lines, questions and announcements ("here are three ways...") are never quoted;
picking stops once relevance falls below 85% of the best sentence's, and a sentence from another article
than the best one must clear 90%, so an answer is not padded from elsewhere. The quotes are shown in
reading order: articles in the order of their most relevant quote, and within an article by position.
Sources are numbered by first citation, only cited passages are listed, and each Source holds the
exact character spans of the quoted sentences in the original file, for highlighting.
It does not decide whether the passages are good enough to answer (the caller calls `abstain`),
retrieve passages (retrieve.py) or talk to a language model (generate.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fitted
from .compose import ComposerWeights, announces
from .compose import relevance as _relevance
from .embed import Embedder
from .features import sentence_features
from .sentences import Sentence, SentenceCache, SentenceSet
from .types import Passage

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "The articles do not cover this question."
MMR_LAMBDA = 0.7
DUPLICATE_COSINE = 0.9
MIN_WORDS = 4
_WS = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_CLOSERS = "\"')]\u2019\u201d"

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


def compose_extractive(
    question: str,
    passages: list[Passage],
    embedder: Embedder,
    *,
    sentences: SentenceSet | None = None,
    weights: ComposerWeights | None = None,
    max_sentences: int | None = None,
    min_sentences: int | None = None,
    exclude: frozenset[tuple[str, int, int]] = frozenset(),
) -> Answer:
    """Up to max_sentences verbatim sentences from the passages that answer the question, each cited.

    `sentences` is the passages' SentenceSet when the caller already scored them (ask.py); otherwise
    they are split and embedded here. `exclude`: (article path, start, end) of sentences not to quote
    again (what the previous answer said, for "what else?").
    """
    w = weights or ComposerWeights()
    learned = w.learned and bool(fitted.COMPOSER)
    if learned and min_sentences is None:
        min_sentences = int(fitted.COMPOSER["min_sentences"])
    max_sentences = w.max_sentences if max_sentences is None else max_sentences
    min_sentences = min(w.min_sentences, max_sentences) if min_sentences is None else min_sentences
    if not 1 <= min_sentences <= max_sentences:
        raise ValueError(f"need 1 <= min_sentences <= max_sentences, got {min_sentences} and {max_sentences}")
    if sentences is None or not sentences.covers(passages):
        sentences = SentenceCache(embedder).score(question, passages)
    elif [p.chunk.chunk_id for p in sentences.passages] != [p.chunk.chunk_id for p in passages]:
        sentences = sentences.restrict(passages)
    candidates = [
        j
        for j in _candidates(sentences)
        if (
            passages[sentences.sentences[j].passage].chunk.path,
            sentences.sentences[j].start,
            sentences.sentences[j].end,
        )
        not in exclude
    ]
    if not candidates:
        return abstain(question, passages, "the passages found hold no quotable sentence")
    vectors = sentences.vectors[candidates]
    where = [sentences.sentences[j] for j in candidates]
    if learned:
        headings = _section_similarity(sentences, embedder)
        score = learned_scores(question, sentences, candidates, headings, exclude)
        floor = float(fitted.COMPOSER["threshold"])
        chosen = select_learned(score, vectors, floor, max_sentences, min_sentences)
    else:
        sections = _section_similarity(sentences, embedder) if w.section else None
        relevance = _relevance(question, sentences, candidates, w, sections)
        chosen = _select(relevance, vectors, where, passages, w, max_sentences, min_sentences)
    picked = [sentences.sentences[candidates[i]] for i in chosen]
    article_order: dict[str, int] = {}
    for s in picked:  # best first, so an article's place is that of its most relevant quote
        article_order.setdefault(passages[s.passage].chunk.article_id, len(article_order))
    picked.sort(key=lambda s: (article_order[passages[s.passage].chunk.article_id], s.start))
    log.debug("quoting %d of %d candidate sentences", len(picked), len(candidates))
    cited = [(s.text, [(passages[s.passage], (s.start, s.end))]) for s in picked]
    return cited_answer(question, cited, mode="extractive")


def learned_scores(
    question: str,
    sentences: SentenceSet,
    candidates: list[int],
    headings: list[float],
    said: frozenset[tuple[str, int, int]] = frozenset(),
) -> np.ndarray:
    """The fitted scorer's log-odds that each candidate is part of the answer (fitted.py)."""
    x = sentence_features(question, sentences, candidates, headings, said)
    return np.asarray(x @ np.asarray(fitted.COMPOSER["weights"], dtype=np.float32))


def select_learned(score: np.ndarray, vectors: np.ndarray, floor: float, k_max: int, k_min: int) -> list[int]:
    """The best-scoring sentences, near-duplicates skipped, until the score falls below `floor`."""
    chosen: list[int] = []
    for i in np.argsort(-score, kind="stable").tolist():
        if len(chosen) >= k_max or (len(chosen) >= k_min and score[i] < floor):
            break
        if chosen and float((vectors[chosen] @ vectors[i]).max()) > DUPLICATE_COSINE:
            continue
        chosen.append(i)
    return chosen


_HEADINGS: dict[tuple[str, str], np.ndarray] = {}  # (embedder name, heading) -> unit vector


def _section_similarity(sentences: SentenceSet, embedder: Embedder) -> list[float]:
    """Each passage's heading (the last part of its section) against the question; 0 without one."""
    headings = [p.chunk.section.rsplit(" > ", 1)[-1].strip() for p in sentences.passages]
    named = sorted({h for h in headings if h})
    if not named or sentences.question_vectors.size == 0:
        return [0.0] * len(headings)
    name = getattr(embedder, "name", type(embedder).__name__)
    missing = [h for h in named if (name, h) not in _HEADINGS]
    if missing:
        if len(_HEADINGS) > 10_000:
            _HEADINGS.clear()
        _HEADINGS.update(((name, h), v) for h, v in zip(missing, embedder.embed(missing), strict=True))
    sims = np.stack([_HEADINGS[(name, h)] for h in named]) @ sentences.question_vectors[0]
    by_name = dict(zip(named, sims.tolist(), strict=True))
    return [by_name.get(h, 0.0) for h in headings]


def _candidates(sentences: SentenceSet) -> list[int]:
    """Indexes of the quotable sentences, first occurrence only (passages overlap by a sentence)."""
    seen: set[str] = set()
    out = []
    for j, s in enumerate(sentences.sentences):
        key = normalise(s.text)
        if key in seen or not _quotable(s.text) or announces(s.text):
            continue  # an announcement ("here are three ways...") never answers: the ways do
        seen.add(key)
        out.append(j)
    return out


def normalise(text: str) -> str:
    """Text compared for sameness: curly quotes straightened, whitespace collapsed, lower case."""
    return _WS.sub(" ", text.translate(_QUOTES)).strip().lower()


def _quotable(text: str) -> bool:
    if len(text.split()) < MIN_WORDS:
        return False
    core = text.rstrip(_CLOSERS)
    # No closing punctuation: a heading or an attribution line. A question does not answer anything.
    return core.endswith((".", "!", "…", ";")) if core else False


def _select(
    relevance: np.ndarray,
    vectors: np.ndarray,
    where: list[Sentence],
    passages: list[Passage],
    w: ComposerWeights,
    k_max: int,
    k_min: int,
) -> list[int]:
    """Greedy maximal marginal relevance, skipping near-duplicates, stopping when relevance drops.

    Once a sentence is chosen, its neighbours (same paragraph, or within two sentences in its passage)
    get a bonus, so the answer reads as a coherent piece rather than scattered lines. A sentence from
    an article other than the best sentence's must clear a higher floor: padding an answer with a
    weakly related sentence from elsewhere reads as off the point.
    """
    articles = [passages[s.passage].chunk.article_id for s in where]
    best = float(relevance.max())
    floor = w.floor * best if best > 0 else -np.inf
    other_floor = w.other_article_floor * best if best > 0 else -np.inf
    open_ = np.ones(len(relevance), dtype=bool)
    chosen: list[int] = []
    while len(chosen) < k_max and open_.any():
        redundancy = (vectors @ vectors[chosen].T).max(axis=1) if chosen else np.zeros(len(relevance))
        near = np.array([_near(s, [where[c] for c in chosen]) for s in where], dtype=np.float32)
        score = relevance + w.proximity * near
        mmr = np.where(open_, MMR_LAMBDA * score - (1 - MMR_LAMBDA) * redundancy, -np.inf)
        i = int(np.argmax(mmr))
        if len(chosen) >= k_min:
            if score[i] < floor:
                break
            if articles[i] != articles[chosen[0]] and score[i] < other_floor:
                open_[i] = False
                continue
        chosen.append(i)
        open_ &= vectors @ vectors[i] <= DUPLICATE_COSINE
        open_[i] = False
    return chosen


def _near(s: Sentence, chosen: list[Sentence]) -> float:
    """1 in the paragraph of a chosen sentence, 0.5 within two sentences of one, else 0."""
    same = [c for c in chosen if c.passage == s.passage]
    if any(c.paragraph == s.paragraph for c in same):
        return 1.0
    return 0.5 if any(abs(c.position - s.position) <= 2 for c in same) else 0.0
