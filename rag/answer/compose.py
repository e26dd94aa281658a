"""How much each candidate sentence answers the question: the composer's relevance score.

A sentence's relevance starts from its similarity to the question (sentences.py) and is then adjusted
by what a reader wants from an answer:
- rank: a small bonus for the rank of its passage (the retriever saw the passage's context);
- context: a sentence right after a strongly matching one (a heading that names the question, or the
  sentence that raises the point) is lifted towards it, since the answer is often the next sentences;
- section: sentences under a heading close to the question are lifted;
- kind: for a "why" question, sentences that give a reason; for a "how"/"what should" question,
  sentences that give advice (imperatives, "you have to", "the most important step is");
- scene-setting ("You might say...") is lowered.
Announcements ("here are three ways...") are recognised here and never quoted (extractive.py).
The weights were chosen by `rag eval`'s answer metrics on the training split of eval/queries.jsonl
(2026-11-30, a grid over each weight; docs/retrieval.md): context, section, kind and scene measured no gain
there and are 0, kept as settings. It does not pick or order the sentences (extractive.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..search.sentences import SentenceSet


@dataclass(frozen=True)
class ComposerWeights:
    rank_bonus: float = 0.2  # a sentence gets rank_bonus / rank of its passage
    context: float = 0.0  # share of the gap to the previous sentences' similarity that is closed
    section: float = 0.0  # times the similarity of the passage's heading to the question
    kind: float = 0.0  # bonus for a reason (why questions) or advice (how/what should questions)
    scene: float = 0.0  # penalty for scene-setting and rhetorical openers
    floor: float = 0.85  # stop picking below this share of the best relevance (once the minimum is in)
    other_article_floor: float = 0.9  # the same for a sentence from another article than the best one
    proximity: float = 0.2  # bonus for a sentence in the paragraph of (or next to) a chosen one
    max_sentences: int = 3
    min_sentences: int = 2
    learned: bool = True  # use the scorer fitted on the train split (fitted.py) when there is one


_WHY = re.compile(r"^\s*(and\s+|but\s+|so\s+)?(why|how come)\b|\bwhat'?s the reason\b|\bwhy\b", re.I)
_HOW = re.compile(
    r"\b(how (do|can|should|to|would)|what (should|can|do) (i|we)|should i|should we|what to do|"
    r"any (advice|tips)|ways? to|is it (ok|okay|bad|good))\b",
    re.I,
)
_REASON = re.compile(
    r"\b(because|reasons?|this is why|that'?s why|the reason|explains?|so that|makes? (us|them|you)|"
    r"causes?|when you|since)\b",
    re.I,
)
_IMPERATIVE = [
    "take",
    "do",
    "make",
    "tell",
    "encourage",
    "let",
    "share",
    "get",
    "bring",
    "stop",
    "find",
    "give",
    "keep",
    "trust",
    "assume",
    "plan",
    "use",
    "post",
    "try",
    "avoid",
    "focus",
    "be",
    "don't",
    "spend",
    "build",
    "show",
    "ask",
    "talk",
    "go",
    "learn",
    "remember",
    "start",
    "leave",
    "stay",
    "allow",
    "work",
]
_ADVICE = re.compile(
    r"\b(you (have|need|ought) to|you should|you can|we (need|want)|the (key|most important|first|best)"
    r"|a good way|is to (be|do|make|build|give|let|take)|needs space)\b",
    re.I,
)
_ANNOUNCE = re.compile(
    r"\b(here (are|is|'s)|here’s|there are (two|three|four|five|six|seven|\d+|some|several|many|key|a few)"
    r"( \w+)? (ways|things|steps|strategies|tips|reasons)|the following|follow these|these (two|three|"
    r"four|five|\d+) steps)\b|:\s*$",
    re.I,
)
_SCENE = re.compile(
    r"^\W*(you might say|if i ask you|imagine|picture this|sometimes|i know|it'?s always|it’s always"
    r"|of all the things|this may seem|in theory|as romantic as|some people might|so,? how do|once)\b",
    re.I,
)


def question_kind(question: str) -> str:
    """'why', 'how' (advice wanted) or 'other'."""
    if _WHY.search(question):
        return "why"
    return "how" if _HOW.search(question) else "other"


def gives_kind(text: str, kind: str) -> bool:
    """Whether a sentence gives what a question of this kind asks for."""
    if kind == "why":
        return bool(_REASON.search(text))
    if kind == "how":
        first = text.split(maxsplit=1)[0].lower().strip("\"'“‘(") if text.split() else ""
        return first in _IMPERATIVE or bool(_ADVICE.search(text))
    return False


def announces(text: str) -> bool:
    return bool(_ANNOUNCE.search(text))


def sets_scene(text: str) -> bool:
    return bool(_SCENE.search(text))


def relevance(
    question: str,
    sentences: SentenceSet,
    candidates: list[int],
    w: ComposerWeights,
    section_similarity: list[float] | None = None,
) -> np.ndarray:
    """The relevance of each candidate (indexes into sentences.sentences), higher is better."""
    sim = sentences.similarity
    kind = question_kind(question)
    by_position = {(s.passage, s.position): j for j, s in enumerate(sentences.sentences)}
    out = np.empty(len(candidates), dtype=np.float32)
    for n, j in enumerate(candidates):
        s = sentences.sentences[j]
        score = float(sim[j]) + w.rank_bonus / max(sentences.passages[s.passage].rank, 1)
        before = [by_position.get((s.passage, s.position - d)) for d in (1, 2)]
        context = max(
            (float(sim[b]) * (1.0 if d == 0 else 0.9) for d, b in enumerate(before) if b is not None),
            default=-1.0,
        )
        if context > sim[j]:
            score += w.context * (context - float(sim[j]))
        if section_similarity is not None:
            score += w.section * section_similarity[s.passage]
        if kind != "other" and gives_kind(s.text, kind):
            score += w.kind
        if sets_scene(s.text):
            score -= w.scene
        out[n] = score
    return out
