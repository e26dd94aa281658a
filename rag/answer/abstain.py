"""Decide from retrieval evidence whether the articles cover a question.

Not one cosine threshold on whole passages (near-topic questions score like answerable ones there).
Two pieces of evidence are combined:
- similarity: the best cosine between the question and a single sentence of the top passages
  (sentence level separates "the articles say this" from "the articles are about something nearby");
  a question of more than 25 words (a situation described) is compared as a whole;
- coverage: the largest idf-weighted share of the question's terms that one top passage contains, i.e.
  whether the keyword side agrees that the words of the question are there (for a long question, the
  words of its asking sentence, with a threshold of its own).
The policy abstains when similarity is very low, or when it is only moderate and the keywords do not
agree. The thresholds were fitted on the train splits of the committed query sets only (see docs/retrieval.md);
they are a setting.
It does not compose answers (extractive.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..index.keyword import KeywordIndex
from ..search.followup import content_words
from ..search.sentences import KEY_SENTENCE_WORDS, SentenceSet, query_texts
from . import fitted
from .features import evidence_features


@dataclass(frozen=True)
class AbstentionPolicy:
    enabled: bool = True
    min_similarity: float = 0.30  # below this, abstain whatever the keywords say
    weak_similarity: float = 0.43  # below this, abstain unless the keywords agree
    min_coverage: float = 0.33  # keyword agreement: share of the question's term weight in one passage
    # A long question (a situation described): keyword agreement is that of its asking sentence.
    min_key_coverage: float = 0.67
    top: int = 3  # passages looked at
    learned: bool = True  # the logistic regression fitted on the train split (fitted.py), when there is one

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Evidence:
    similarity: float
    coverage: float
    sentence: str  # the best-matching sentence
    long: bool = False  # a long question: similarity of the whole, coverage of its asking sentence(s)
    top_sims: tuple[float, ...] = ()  # the best sentence similarity of each of the top passages
    best_score: float = 0.0  # the top passage's retrieval score
    unknown: float = 0.0  # share of the question's content words that no passage holds

    def to_json(self) -> dict[str, Any]:
        return {
            "similarity": round(self.similarity, 4),
            "coverage": round(self.coverage, 4),
            "sentence": self.sentence,
            "long_question": self.long,
            "unknown_words": round(self.unknown, 4),
        }

    def vector(self) -> np.ndarray:
        """The features the fitted abstention reads (features.py)."""
        return evidence_features(
            self.similarity, self.coverage, self.long, list(self.top_sims), self.best_score, self.unknown
        )


def gather(sentences: SentenceSet, keyword: KeywordIndex, top: int = 3) -> Evidence:
    """The evidence the policy decides on, from the top passages' sentences (scored once, shared)."""
    head = sentences.passages[:top]
    texts = [p.chunk.text for p in head]
    picked = [
        j for j, s in enumerate(sentences.sentences) if s.passage < len(head) and len(s.text.split()) >= 4
    ]
    words = content_words(sentences.question)
    unknown = sum(not keyword.holds(w) for w in words) / len(words) if words else 0.0
    top_sims = tuple(sentences.best_per_passage()[:top])
    best_score = max((p.score for p in head), default=0.0)
    if not picked:
        coverage = keyword.coverage(sentences.question, texts) if texts else 0.0
        return Evidence(0.0, coverage, "", False, top_sims, best_score, unknown)
    # A long question is judged as a whole (its asking sentences alone matched near-topic situations too
    # readily on the train split), and the keywords must agree with the sentence that asks.
    long = len(sentences.question.split()) > KEY_SENTENCE_WORDS
    sims = sentences.whole_similarity if long else sentences.similarity
    best = max(picked, key=lambda j: float(sims[j]))
    asking = query_texts(sentences.question)[1:] if long else [sentences.question]
    coverage = max(keyword.coverage(q, texts) for q in asking)
    return Evidence(
        float(sims[best]), coverage, sentences.sentences[best].text, long, top_sims, best_score, unknown
    )


def decide(evidence: Evidence, policy: AbstentionPolicy) -> tuple[bool, str]:
    """(abstain?, why) for the evidence under the policy."""
    if not policy.enabled:
        return False, "abstention is off"
    sim, cov = evidence.similarity, evidence.coverage
    if policy.learned and fitted.ABSTAIN:
        logit = float(evidence.vector() @ np.asarray(fitted.ABSTAIN["weights"], dtype=np.float32))
        if logit < float(fitted.ABSTAIN["threshold"]):
            return True, (
                f"the evidence does not say the articles answer this (sentence similarity {sim:.2f},"
                f" keyword coverage {cov:.2f}, fitted score {logit:.2f})"
            )
        return False, f"similarity {sim:.2f}, keyword coverage {cov:.2f}, fitted score {logit:.2f}"
    min_coverage = policy.min_key_coverage if evidence.long else policy.min_coverage
    if sim < policy.min_similarity:
        return True, f"no sentence in the articles is close to the question (best similarity {sim:.2f})"
    if sim < policy.weak_similarity and cov < min_coverage:
        return True, (
            f"the closest sentences are only loosely related (similarity {sim:.2f}) and few of the"
            f" question's words occur in them (coverage {cov:.2f})"
        )
    return False, f"similarity {sim:.2f}, keyword coverage {cov:.2f}"
