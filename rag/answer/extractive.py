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
The chosen sentences are cited through citation.py. It does not decide whether the passages are good
enough to answer (abstain.py), retrieve passages (retrieve.py) or talk to a language model (generate.py).
"""

from __future__ import annotations

import logging
import re

import numpy as np

from ..index.embed import Embedder
from ..search.sentences import Sentence, SentenceCache, SentenceSet
from ..types import Passage
from . import fitted
from .citation import Answer, abstain, cited_answer
from .compose import ComposerWeights, announces
from .compose import relevance as _relevance
from .features import sentence_features

log = logging.getLogger(__name__)

MMR_LAMBDA = 0.7
DUPLICATE_COSINE = 0.9
MIN_WORDS = 4
_WS = re.compile(r"\s+")
_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
_CLOSERS = "\"')]\u2019\u201d"


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
