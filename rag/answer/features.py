"""Features of a candidate answer sentence and of a question's evidence, for the learned scorers.

`sentence_features` describes each candidate sentence of a SentenceSet by what a reader looks for in
an answer: how close it is to the question (and to its asking sentence), how close its neighbours and
its paragraph are, where it sits relative to the best-matching sentence, the rank of its passage, how
close its section heading is to the question, and cues crossed with the kind of question (a reason for
"why", advice for "how"/"what should", a restatement of the question that adds nothing). The weights
that turn these into a score are fitted by eval/fit_composer.py on the train split and live in fitted.py.
`evidence_features` does the same for the abstention decision. It does not pick sentences (extractive.py)
or decide (abstain.py).
"""

from __future__ import annotations

import math
import re

import numpy as np

from ..search.sentences import SentenceSet

SENTENCE_FEATURES = (
    "bias",
    "sim",
    "whole_sim",
    "gap_to_best",
    "is_best",
    "sim_rank",
    "passage_rank",
    "prev_sim",
    "next_sim",
    "paragraph_sim",
    "same_paragraph_as_best",
    "after_best",
    "before_best",
    "same_article_as_best",
    "heading_sim",
    "why_x_reason",
    "how_x_advice",
    "how_x_imperative",
    "other_x_advice",
    "why_x_advice",
    "need_want",
    "scene",
    "restates",
    "covers_question",
    "log_words",
    "position",
    "quoted_epigraph",
    "continues_said",
)

_WORD = re.compile(r"[a-z][a-z'’]*")
_STOP = set(
    [
        "a",
        "an",
        "the",
        "i",
        "me",
        "my",
        "we",
        "our",
        "you",
        "your",
        "he",
        "him",
        "his",
        "she",
        "her",
        "it",
        "its",
        "they",
        "them",
        "their",
        "this",
        "that",
        "these",
        "those",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "am",
        "do",
        "does",
        "did",
        "doing",
        "have",
        "has",
        "had",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "to",
        "of",
        "in",
        "on",
        "at",
        "for",
        "with",
        "about",
        "from",
        "by",
        "as",
        "and",
        "or",
        "but",
        "if",
        "so",
        "not",
        "no",
        "how",
        "what",
        "why",
        "when",
        "who",
        "which",
        "where",
        "there",
        "here",
        "than",
        "then",
        "too",
        "very",
        "just",
        "really",
        "more",
        "most",
        "some",
        "any",
        "all",
        "one",
        "get",
        "got",
        "make",
        "makes",
    ]
)
_NEED_WANT = re.compile(r"\b(need|needs|want|wants|should|must|have to|has to|key|important)\b", re.I)
_QUOTE_OPEN = ("“", '"', "‘", "'", "…")


def content(text: str) -> set[str]:
    """Lower-cased content words of a text (stop words and short words left out)."""
    return {w.strip("'’") for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


def sentence_features(
    question: str,
    ss: SentenceSet,
    candidates: list[int],
    heading_sim: list[float] | None = None,
    said: frozenset[tuple[str, int, int]] = frozenset(),
) -> np.ndarray:
    """One row of SENTENCE_FEATURES per candidate (indexes into ss.sentences).

    `said`: (path, start, end) of what the previous answer quoted, for "what else?" (the answer often
    goes on where the previous one stopped).
    """
    from .compose import announces, gives_kind, question_kind, sets_scene

    kind = question_kind(question)
    sim = ss.similarity
    n = len(candidates)
    out = np.zeros((n, len(SENTENCE_FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    cand_sims = np.array([float(sim[j]) for j in candidates])
    order = np.argsort(-cand_sims)
    rank_of = np.empty(n, dtype=int)
    rank_of[order] = np.arange(n)
    best = ss.sentences[candidates[int(order[0])]]
    best_article = ss.passages[best.passage].chunk.article_id
    by_position = {(s.passage, s.position): j for j, s in enumerate(ss.sentences)}
    paragraph_best: dict[tuple[int, int], float] = {}
    for j, s in enumerate(ss.sentences):
        key = (s.passage, s.paragraph)
        paragraph_best[key] = max(paragraph_best.get(key, -1.0), float(sim[j]))
    q_words = content(question)
    # Sentence starts in file order per article, to count how far a sentence is from a said one.
    starts: dict[str, list[int]] = {}
    for t in ss.sentences:
        starts.setdefault(ss.passages[t.passage].chunk.path, []).append(t.start)
    for path in starts:
        starts[path] = sorted(set(starts[path]))
    said_at: dict[str, list[int]] = {}
    for path, a, _ in said:
        if path in starts and a in starts[path]:
            said_at.setdefault(path, []).append(starts[path].index(a))
    top_sim = float(cand_sims.max())
    for i, j in enumerate(candidates):
        s = ss.sentences[j]
        p = ss.passages[s.passage]
        prev = by_position.get((s.passage, s.position - 1))
        nxt = by_position.get((s.passage, s.position + 1))
        # The paragraph's best other sentence: a sentence in a paragraph about the question.
        others = [
            float(sim[k])
            for k, t in enumerate(ss.sentences)
            if t.passage == s.passage and t.paragraph == s.paragraph and k != j
        ]
        same_article = p.chunk.article_id == best_article
        # Position relative to the best match, in the file (passages overlap, offsets do not lie).
        delta = 0
        if same_article and s.start != best.start:
            between = [
                t
                for t in ss.sentences
                if ss.passages[t.passage].chunk.article_id == best_article
                and min(s.start, best.start) < t.start < max(s.start, best.start)
            ]
            delta = (len({t.start for t in between}) + 1) * (1 if s.start > best.start else -1)
        words = content(s.text)
        text = s.text
        path = p.chunk.path
        here = starts[path].index(s.start)
        continues = any(0 < here - k <= 3 for k in said_at.get(path, []))
        advice = gives_kind(text, "how")
        row = {
            "bias": 1.0,
            "sim": float(sim[j]),
            "whole_sim": float(ss.whole_similarity[j]),
            "gap_to_best": float(sim[j]) - top_sim,
            "is_best": float(rank_of[i] == 0),
            "sim_rank": 1.0 / (1 + rank_of[i]),
            "passage_rank": 1.0 / max(p.rank, 1),
            "prev_sim": float(sim[prev]) if prev is not None else 0.0,
            "next_sim": float(sim[nxt]) if nxt is not None else 0.0,
            "paragraph_sim": max(others, default=0.0),
            "same_paragraph_as_best": float(
                s.passage == best.passage and s.paragraph == best.paragraph and s.start != best.start
            ),
            "after_best": float(0 < delta <= 3),
            "before_best": float(-3 <= delta < 0),
            "same_article_as_best": float(same_article),
            "heading_sim": heading_sim[s.passage] if heading_sim is not None else 0.0,
            "why_x_reason": float(kind == "why" and gives_kind(text, "why")),
            "how_x_advice": float(kind == "how" and advice),
            "how_x_imperative": float(
                kind == "how" and bool(text.split()) and text.split()[0].lower() in _IMPERATIVES
            ),
            "other_x_advice": float(kind == "other" and advice),
            "why_x_advice": float(kind == "why" and advice),
            "need_want": float(bool(_NEED_WANT.search(text))),
            "scene": float(sets_scene(text) or announces(text)),
            "restates": len(words & q_words) / len(words) if words else 0.0,
            "covers_question": len(words & q_words) / len(q_words) if q_words else 0.0,
            "log_words": math.log(1 + len(text.split())),
            "position": min(s.position, 10) / 10.0,
            "quoted_epigraph": float(text.startswith(_QUOTE_OPEN)),
            "continues_said": float(continues),
        }
        out[i] = [row[name] for name in SENTENCE_FEATURES]
    return out


_IMPERATIVES = {
    "take", "do", "make", "tell", "encourage", "let", "share", "get", "bring", "stop", "find", "give",
    "keep", "trust", "assume", "plan", "use", "post", "try", "avoid", "focus", "be", "don't", "spend",
    "build", "show", "ask", "talk", "go", "learn", "remember", "start", "leave", "stay", "allow", "work",
}  # fmt: skip


EVIDENCE_FEATURES = (
    "bias",
    "similarity",
    "coverage",
    "long",
    "top2_mean",
    "best_score",
    "unknown_words",
)


def evidence_features(
    similarity: float,
    coverage: float,
    long: bool,
    top_sims: list[float],
    best_score: float,
    unknown_share: float,
) -> np.ndarray:
    """One row of EVIDENCE_FEATURES for the abstention decision."""
    top = sorted(top_sims, reverse=True)[:2] or [0.0]
    row = {
        "bias": 1.0,
        "similarity": similarity,
        "coverage": coverage,
        "long": float(long),
        "top2_mean": float(np.mean(top)),
        "best_score": best_score,
        "unknown_words": unknown_share,
    }
    return np.array([row[name] for name in EVIDENCE_FEATURES], dtype=np.float32)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))
