"""Run test queries through a search function and score the rankings with ir-measures (trec_eval).

Two kinds of test set: span-labelled query files (queries.py) and BEIR folders (beir.py). For a query
file, the unit of relevance is a piece of evidence: the query's quotes, grouped so that quotes one index
passage covers together count as one (computed from the index, not from the run). Each retrieved passage,
in rank order, is credited with the first piece of evidence it covers that no higher passage already
covered, so evidence found twice (say, in the sentence two neighbouring passages share) counts once and
Recall@k is the share of the query's evidence found in the top k. For BEIR, a document ranks where its
best passage does. Runs are scored by position, so trec_eval sees the order the search returned.
Metrics come from ir-measures with the pytrec_eval backend; this module only builds qrels and runs. Unanswerable queries are not ranked: their top score is reported. It does not print
(evalreport.py) or build indexes (build.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from .queries import Query, QuoteLocator

if TYPE_CHECKING:
    from ..answer.abstain import AbstentionPolicy
    from ..answer.compose import ComposerWeights
    from ..search.retrieve import Retriever
from ..types import Chunk, Passage

SearchFn = Callable[[str, int], list[Passage]]
AbstainFn = Callable[[str, list[Passage]], bool]
QUERY_MEASURES = ("R@1", "R@3", "R@5", "R@10", "RR@10", "nDCG@10")
BEIR_MEASURES = (*QUERY_MEASURES, "R@100")


@dataclass(frozen=True)
class QueryResult:
    qid: str
    question: str
    answerable: bool
    first_relevant_rank: int | None  # 1-based; None when nothing relevant was retrieved
    top_score: float | None
    top_id: str
    top_text: str
    latency_ms: float
    metrics: dict[str, float] = field(default_factory=dict)
    abstained: bool | None = None  # None when abstention was not assessed
    split: str = ""
    answer_text: str | None = None  # None when answers were not assessed
    answer_hit: bool | None = None  # the answer quotes labelled evidence (answereval.py)
    answer_sentences: int = 0
    answer_relevant: int = 0
    reader_hit: bool | None = None  # the answer quotes a sentence a reader accepts (None: no such labels)
    reader_relevant: int | None = None


@dataclass(frozen=True)
class EvalRun:
    kind: str  # "queries" | "beir"
    source: str
    settings: dict[str, Any]
    metrics: dict[str, float]
    latency_ms: dict[str, float]
    results: tuple[QueryResult, ...]
    seconds: float
    recall_curve: dict[int, float] = field(default_factory=dict)
    answers: dict[str, dict[str, float]] = field(default_factory=dict)  # split -> answer metrics

    @property
    def unanswerable(self) -> list[QueryResult]:
        return [r for r in self.results if not r.answerable]

    def abstention(self) -> dict[str, int] | None:
        """Unanswerable questions abstained, and answerable ones wrongly abstained (if assessed)."""
        if any(r.abstained is None for r in self.results):
            return None
        answerable = [r for r in self.results if r.answerable]
        return {
            "unanswerable": len(self.unanswerable),
            "unanswerable_abstained": sum(bool(r.abstained) for r in self.unanswerable),
            "answerable": len(answerable),
            "answerable_abstained": sum(bool(r.abstained) for r in answerable),
        }

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["results"] = [asdict(r) for r in self.results]
        out["recall_curve"] = {str(k): v for k, v in self.recall_curve.items()}
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> EvalRun:
        results = tuple(QueryResult(**r) for r in obj["results"])
        curve = {int(k): float(v) for k, v in obj.get("recall_curve", {}).items()}
        fields_ = {k: obj[k] for k in ("kind", "source", "settings", "metrics", "latency_ms", "seconds")}
        return cls(**fields_, results=results, recall_curve=curve, answers=obj.get("answers", {}))


def _measures(names: tuple[str, ...]) -> list[Any]:
    import ir_measures

    return [ir_measures.parse_measure(n) for n in names]


def score(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], names: tuple[str, ...]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean metrics, per-query metrics) over every query in qrels, via ir-measures."""
    import ir_measures

    # trec_eval averages only over queries present in the run: give empty rankings one non-relevant entry
    run = {qid: run.get(qid) or {"__nothing__": 0.0} for qid in qrels}
    measures = _measures(names)
    per_query: dict[str, dict[str, float]] = {qid: {} for qid in qrels}
    for m in ir_measures.iter_calc(measures, qrels, run):
        per_query[m.query_id][str(m.measure)] = float(m.value)
    means = {str(k): float(v) for k, v in ir_measures.calc_aggregate(measures, qrels, run).items()}
    return {n: means[n] for n in names}, per_query


def recall_curve(
    qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]], depth: int
) -> dict[int, float]:
    """Recall@k for k = 1..depth (a few points past 10), for the plot."""
    ks = [k for k in (*range(1, 11), 20, 30, 50, 100) if k <= depth]
    means, _ = score(qrels, run, tuple(f"R@{k}" for k in ks))
    return {k: means[f"R@{k}"] for k in ks}


def _timed_search(
    search: SearchFn, queries: list[Query], depth: int, progress: bool
) -> tuple[list[list[Passage]], list[float]]:
    search(queries[0].question, depth)  # warm-up: first-call costs are not query latency
    hits, latencies = [], []
    for q in tqdm(queries, desc="queries", unit="q", disable=not progress, leave=False):
        started = time.perf_counter()
        hits.append(search(q.question, depth))
        latencies.append((time.perf_counter() - started) * 1000)
    return hits, latencies


def _latency(latencies: list[float]) -> dict[str, float]:
    return {
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "n": len(latencies),
    }


def evaluate_queries(
    search: SearchFn,
    queries: list[Query],
    locator: QuoteLocator,
    chunks: Sequence[Chunk],
    *,
    depth: int = 10,
    settings: dict[str, Any] | None = None,
    source: str = "",
    progress: bool = False,
    abstain: AbstainFn | None = None,
) -> EvalRun:
    """Score span-labelled queries; every quote must occur in the articles (checked first)."""
    locator.check(queries)
    started = time.perf_counter()
    hits, latencies = _timed_search(search, queries, depth, progress)
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    first: dict[str, int | None] = {}
    for q, passages in zip(queries, hits, strict=True):
        if not q.answerable:
            continue
        groups = locator.evidence_groups(q, chunks)
        qrels[q.qid] = {f"evidence{g}": 1 for g in range(len(groups))}
        run[q.qid], first[q.qid] = _evidence_run(q, groups, passages, locator)
    means, per_query = score(qrels, run, QUERY_MEASURES) if qrels else ({}, {})
    results = tuple(
        _result(q, passages, ms, first.get(q.qid), per_query.get(q.qid, {}), abstain)
        for q, passages, ms in zip(queries, hits, latencies, strict=True)
    )
    return EvalRun(
        "queries",
        source,
        settings or {},
        means,
        _latency(latencies),
        results,
        time.perf_counter() - started,
        recall_curve(qrels, run, depth) if qrels else {},
    )


def _evidence_run(
    q: Query, groups: list[tuple[int, ...]], passages: list[Passage], locator: QuoteLocator
) -> tuple[dict[str, float], int | None]:
    """Passages in rank order, each credited with the first piece of evidence it covers still unfound."""
    found: set[int] = set()
    run: dict[str, float] = {}
    first = None
    for p in passages:
        covered = {i for i, quote in enumerate(q.quotes) if locator.covers(p.chunk, quote)}
        new = [g for g, members in enumerate(groups) if g not in found and covered.intersection(members)]
        if covered:
            first = first or p.rank
        if new:
            found.add(new[0])
        run[f"evidence{new[0]}" if new else f"passage:{p.chunk.chunk_id}"] = float(len(passages) - p.rank + 1)
    return run, first


def _result(
    q: Query,
    passages: list[Passage],
    ms: float,
    first: int | None,
    metrics: dict[str, float],
    abstain: AbstainFn | None = None,
) -> QueryResult:
    top = passages[0] if passages else None
    return QueryResult(
        qid=q.qid,
        question=q.question,
        answerable=q.answerable,
        first_relevant_rank=first,
        top_score=round(top.score, 6) if top else None,
        top_id=top.chunk.chunk_id if top else "",
        top_text=" ".join(top.chunk.text.split())[:300] if top else "",
        latency_ms=round(ms, 3),
        metrics=metrics,
        abstained=abstain(q.question, passages) if abstain else None,
    )


def evaluate_beir(
    search: SearchFn,
    queries: list[Query],
    qrels: dict[str, dict[str, int]],
    *,
    depth: int = 100,
    passage_depth: int = 1000,
    settings: dict[str, Any] | None = None,
    source: str = "",
    progress: bool = False,
) -> EvalRun:
    """Score a BEIR test set: documents ranked by their best passage (article_id = document id)."""
    started = time.perf_counter()
    hits, latencies = _timed_search(search, queries, passage_depth, progress)
    run: dict[str, dict[str, float]] = {}
    for q, passages in zip(queries, hits, strict=True):
        docs: dict[str, float] = {}
        for p in passages:  # scored by position: a reranked head and the tail have different scales
            if p.chunk.article_id not in docs:
                docs[p.chunk.article_id] = float(depth - len(docs))
            if len(docs) == depth:
                break
        run[q.qid] = docs
    means, per_query = score(qrels, run, BEIR_MEASURES)
    results = []
    for q, passages, ms in zip(queries, hits, latencies, strict=True):
        ranked = list(run[q.qid])
        rel = qrels.get(q.qid, {})
        first = next((i for i, d in enumerate(ranked, start=1) if rel.get(d, 0) > 0), None)
        results.append(_result(q, passages, ms, first, per_query.get(q.qid, {})))
    return EvalRun(
        "beir",
        source,
        settings or {},
        means,
        _latency(latencies),
        tuple(results),
        time.perf_counter() - started,
        recall_curve(qrels, run, depth),
    )


def evaluate_query_file(
    retriever: Retriever,
    query_file: Path,
    *,
    depth: int = 10,
    policy: AbstentionPolicy | None = None,
    progress: bool = False,
) -> EvalRun:
    """Evaluate a query file against the retriever's index (and its abstention, if a policy is given)."""
    from ..search.followup import expand
    from .queries import load_queries

    queries = load_queries(query_file)
    index = retriever.index
    articles = {}
    for record in index.manifest.articles.values():
        try:
            articles[record.path] = (retriever.corpus_dir / record.path).read_text(encoding="utf-8")
        except OSError:
            continue  # a removed article: its passages can still be judged by the text rule
    m = index.manifest
    settings: dict[str, Any] = {
        "model": m.embedder.name,
        "chunking": m.chunking.to_json(),
        "index_built": m.created or None,
        "retrieval": retriever.mode,
        "fusion": retriever.fusion,
        "fusion_depth": retriever.fusion_depth,
        "rerank": retriever.rerank,
        "depth": depth,
    }
    locator = QuoteLocator(articles)
    by_id = {q.qid: q for q in queries}

    def history_of(q: Query) -> list[str]:
        chain: list[str] = []
        while q.follows:
            q = by_id[q.follows]
            chain.insert(0, q.question)
        return chain

    # A follow-up is retrieved as it is asked: expanded with its earlier question when the rule says so.
    asked = [
        replace(q, question=expand(q.question, history_of(q), known=index.keyword.holds) or q.question)
        for q in queries
    ]
    run = evaluate_queries(
        retriever.search,
        asked,
        locator,
        index.chunks,
        depth=depth,
        settings=settings,
        source=str(query_file),
        progress=progress,
    )
    if policy is None:
        return run
    settings["abstention"] = policy.to_json()
    return with_answers(run, retriever, queries, locator, articles, policy)


def with_answers(
    run: EvalRun,
    retriever: Retriever,
    queries: list[Query],
    locator: QuoteLocator,
    articles: dict[str, str],
    policy: AbstentionPolicy,
    weights: ComposerWeights | None = None,
) -> EvalRun:
    """The run with every query answered (ask.py) and judged at answer level (answereval.py)."""
    from ..answer.ask import ask
    from . import answereval

    def answer(q: Query, history: list[str]) -> tuple[bool, str, answereval.Spans]:
        reply = ask(retriever, q.question, policy=policy, history=history, weights=weights)
        spans = [(s.passage.chunk.path, a, b) for s in reply.answer.sources for a, b in s.quotes]
        return not reply.answer.abstained, reply.answer.text, spans

    judged = answereval.judge_all(queries, answer, locator, answereval.Paragraphs(articles))
    results = tuple(
        replace(
            r,
            question=q.question,
            split=q.split,
            abstained=not judged[q.qid].answered,
            answer_text=judged[q.qid].text,
            answer_hit=judged[q.qid].hit if q.answerable else None,
            answer_sentences=judged[q.qid].sentences,
            answer_relevant=judged[q.qid].relevant,
            reader_hit=judged[q.qid].reader_hit if q.answerable else None,
            reader_relevant=judged[q.qid].reader_relevant,
        )
        for r, q in zip(run.results, queries, strict=True)
    )
    return replace(run, results=results, answers=answereval.by_split(queries, judged))
