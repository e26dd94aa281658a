"""Decide from retrieval evidence whether the articles cover a question.

Not one cosine threshold on whole passages (near-topic questions score like answerable ones there).
Two pieces of evidence are combined:
- similarity: the best cosine between the question and a single sentence of the top passages
  (sentence level separates "the articles say this" from "the articles are about something nearby");
  a question of more than 25 words is compared as a whole, not through its asking sentences;
- coverage: the largest idf-weighted share of the question's terms that one top passage contains, i.e.
  whether the keyword side agrees that the words of the question are there.
The policy abstains when similarity is very low, or when it is only moderate and the keywords do not
agree. The thresholds were fitted on the train split of the committed query set only (see README);
they are a setting.
It does not compose answers (answer.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .keyword import KeywordIndex
from .sentences import KEY_SENTENCE_WORDS, SentenceSet


@dataclass(frozen=True)
class AbstentionPolicy:
    enabled: bool = True
    min_similarity: float = 0.30  # below this, abstain whatever the keywords say
    weak_similarity: float = 0.43  # below this, abstain unless the keywords agree
    min_coverage: float = 0.33  # keyword agreement: share of the question's term weight in one passage
    top: int = 3  # passages looked at

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Evidence:
    similarity: float
    coverage: float
    sentence: str  # the best-matching sentence

    def to_json(self) -> dict[str, Any]:
        return {
            "similarity": round(self.similarity, 4),
            "coverage": round(self.coverage, 4),
            "sentence": self.sentence,
        }


def gather(sentences: SentenceSet, keyword: KeywordIndex, top: int = 3) -> Evidence:
    """The evidence the policy decides on, from the top passages' sentences (scored once, shared)."""
    head = sentences.passages[:top]
    texts = [p.chunk.text for p in head]
    picked = [
        j for j, s in enumerate(sentences.sentences) if s.passage < len(head) and len(s.text.split()) >= 4
    ]
    if not picked:
        return Evidence(0.0, keyword.coverage(sentences.question, texts) if texts else 0.0, "")
    # A long question is judged as a whole: its asking sentences alone match nearby topics too readily
    # (measured on the train split; the composer still uses them to pick the sentences).
    long = len(sentences.question.split()) > KEY_SENTENCE_WORDS
    sims = sentences.whole_similarity if long else sentences.similarity
    best = max(picked, key=lambda j: float(sims[j]))
    return Evidence(
        float(sims[best]),
        keyword.coverage(sentences.question, texts),
        sentences.sentences[best].text,
    )


def decide(evidence: Evidence, policy: AbstentionPolicy) -> tuple[bool, str]:
    """(abstain?, why) for the evidence under the policy."""
    if not policy.enabled:
        return False, "abstention is off"
    sim, cov = evidence.similarity, evidence.coverage
    if sim < policy.min_similarity:
        return True, f"no sentence in the articles is close to the question (best similarity {sim:.2f})"
    if sim < policy.weak_similarity and cov < policy.min_coverage:
        return True, (
            f"the closest sentences are only loosely related (similarity {sim:.2f}) and few of the"
            f" question's words occur in them (coverage {cov:.2f})"
        )
    return False, f"similarity {sim:.2f}, keyword coverage {cov:.2f}"
