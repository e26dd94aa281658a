"""Question in, answer out: retrieve, weigh the evidence, then answer or say the articles do not cover it.

The one path the CLI (`rag ask`) and the web app share. Generative mode is used only when the caller
passes an LLM endpoint; any failure there falls back to the extractive answer with a visible note.
It does not retrieve (retrieve.py), decide the abstention rule (abstain.py) or compose (answer.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .abstain import AbstentionPolicy, Evidence, decide, gather
from .answer import Answer, abstain, compose_extractive
from .retrieve import Retriever
from .types import Passage


@dataclass(frozen=True)
class LLMEndpoint:
    url: str  # OpenAI-compatible base URL, e.g. http://127.0.0.1:11434/v1
    model: str
    timeout: float = 20.0


@dataclass(frozen=True)
class Reply:
    answer: Answer
    passages: tuple[Passage, ...]  # everything retrieved, for the "closest we found" / sources views
    evidence: Evidence
    reason: str  # why the assistant answered or abstained
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            **self.answer.to_json(),
            "evidence": self.evidence.to_json(),
            "reason": self.reason,
            "retrieved": [p.to_json() for p in self.passages],
            "seconds": round(self.seconds, 3),
        }


def ask(
    retriever: Retriever,
    question: str,
    *,
    k: int = 5,
    policy: AbstentionPolicy | None = None,
    llm: LLMEndpoint | None = None,
) -> Reply:
    """Answer one question from the index behind `retriever`."""
    started = time.perf_counter()
    policy = policy or AbstentionPolicy()
    passages = retriever.search(question, k)
    evidence = gather(question, passages, retriever.embedder, retriever.index.keyword, top=policy.top)
    abstained, reason = decide(evidence, policy)
    if abstained or not passages:
        answer = abstain(question, passages, reason if passages else "the index holds no passages")
    else:
        answer = compose_extractive(question, passages, retriever.embedder)
        if llm is not None and not answer.abstained:
            from .generate import compose_generative

            answer = compose_generative(
                question, passages, url=llm.url, model=llm.model, timeout=llm.timeout, fallback=answer
            )
    return Reply(answer, tuple(passages), evidence, reason, time.perf_counter() - started)
