"""Question in, answer out: retrieve, weigh the evidence, then answer or say the articles do not cover it.

The one path the CLI (`rag ask`) and the web app share. The top passages' sentences are split, embedded
and compared with the question once (sentences.py) and that one SentenceSet is used by the rerank, the
abstention evidence and the composer. With a history of earlier questions, a follow-up ("and what about
texting?") is expanded with its context first (followup.py). Generative mode is used only when the
caller passes an LLM endpoint; any failure there falls back to the extractive answer with a visible note.
It does not retrieve (retrieve.py), decide the abstention rule (abstain.py) or compose (extractive.py).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..search.followup import content_words, expand, wants_more
from ..search.retrieve import Retriever
from ..search.sentences import SentenceSet
from ..types import Passage
from .abstain import AbstentionPolicy, Evidence, decide, gather
from .citation import Answer, abstain
from .compose import ComposerWeights
from .extractive import compose_extractive


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
    understood_as: str = ""  # the expanded question when this one was taken as a follow-up

    def to_json(self) -> dict[str, Any]:
        return {
            **self.answer.to_json(),
            "evidence": self.evidence.to_json(),
            "reason": self.reason,
            "understood_as": self.understood_as,
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
    history: Sequence[str] = (),
    weights: ComposerWeights | None = None,
    article: str | None = None,
) -> Reply:
    """Answer one question from the index behind `retriever`; `history`: earlier questions, oldest first.

    `article`: answer from that article only (an article id or corpus-relative path)."""
    started = time.perf_counter()
    policy = policy or AbstentionPolicy()
    prep = prepare(retriever, question, k=k, policy=policy, history=history, weights=weights, article=article)
    passages, sentences, expanded, query = prep.passages, prep.sentences, prep.expanded, prep.query
    abstained, reason = decide(prep.evidence, policy)
    if abstained or not passages:
        answer = abstain(question, passages, reason if passages else "the index holds no passages")
    else:
        answer = compose_extractive(
            query,
            passages,
            retriever.embedder,
            sentences=sentences,
            weights=weights,
            exclude=prep.said,
        )
        if llm is not None and not answer.abstained:
            from .generate import compose_generative

            answer = compose_generative(
                query, passages, url=llm.url, model=llm.model, timeout=llm.timeout, fallback=answer
            )
    if expanded and not answer.abstained:
        answer = _as_asked(answer, question)
    seconds = time.perf_counter() - started
    return Reply(answer, tuple(passages), prep.evidence, reason, seconds, expanded or "")


@dataclass(frozen=True)
class Prepared:
    """What answering a question starts from: the question as read, its passages, scored sentences."""

    query: str  # the question as retrieved and answered (expanded when a follow-up)
    expanded: str | None
    passages: list[Passage]
    sentences: SentenceSet
    evidence: Evidence
    said: frozenset[tuple[str, int, int]]  # sentences not to quote again ("what else?")


def prepare(
    retriever: Retriever,
    question: str,
    *,
    k: int = 5,
    policy: AbstentionPolicy | None = None,
    history: Sequence[str] = (),
    weights: ComposerWeights | None = None,
    article: str | None = None,
) -> Prepared:
    """Read the question (with its history), retrieve, score the sentences and gather the evidence."""
    policy = policy or AbstentionPolicy()
    keyword = retriever.index.keyword
    expanded = expand(question, [h for h in history if h.strip()], known=keyword.holds)
    query = expanded or question
    focus = question if expanded and content_words(question) else ""  # "and what about texting?"
    passages, sentences = retriever.search_scored(query, k, focus=focus, article=article)
    evidence = gather(sentences, keyword, top=policy.top)
    # "what else?", "why?": the reader has the previous answer, so say something it did not.
    says_new = wants_more(question) or not content_words(question)
    said = _said_before(retriever, history, k, policy, weights, article) if expanded and says_new else None
    return Prepared(query, expanded, passages, sentences, evidence, said or frozenset())


def _said_before(
    retriever: Retriever,
    history: Sequence[str],
    k: int,
    policy: AbstentionPolicy,
    weights: ComposerWeights | None,
    article: str | None = None,
) -> frozenset[tuple[str, int, int]]:
    """The sentences the previous answer quoted (asked again, with the two questions before it)."""
    earlier = [h for h in history if h.strip()]
    if not earlier:
        return frozenset()
    previous = ask(
        retriever, earlier[-1], k=k, policy=policy, history=earlier[-3:-1], weights=weights, article=article
    )
    return frozenset((s.passage.chunk.path, a, b) for s in previous.answer.sources for a, b in s.quotes)


def _as_asked(answer: Answer, question: str) -> Answer:
    """The answer under the question as the user typed it (it was composed for the expanded one)."""
    from dataclasses import replace

    return replace(answer, question=question)
