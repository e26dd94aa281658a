"""Figures measured inside this process: query latency, dense recall against exact search, disk size.

Each function takes an open Retriever (or index folder) and returns Figures; nothing here starts a
process or makes an index (processes.py, synthetic.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .report import LATENCY_TARGETS, Figure, latency_summary

MODES = (("dense", "none"), ("dense", "sentence"), ("hybrid", "none"), ("hybrid", "sentence"))
WARM_UP = "what does this collection say about the effect of exercise on sleep?"


def _variant(retriever: Any, mode: str, rerank: str) -> Any:
    """The same loaded index and question model, with an empty vector cache, in another mode."""
    from ..index.embed import CachingEmbedder

    inner = getattr(retriever.embedder, "inner", retriever.embedder)
    return retriever.with_settings(mode=mode, rerank=rerank, embedder=CachingEmbedder(inner))


def query_latency(
    retriever: Any, questions: list[str], mode: str, rerank: str, k: int = 10, cpu: list[float] | None = None
) -> list[float]:
    """Seconds per question, question in -> ranked cited passages out, after one warm-up question.

    Each setting starts with an empty vector cache, so the sentence rerank pays for sentences it has
    not seen, as it does for a new question. `cpu` gets this process's CPU seconds per question.
    """
    r = _variant(retriever, mode, rerank)
    r.search(WARM_UP, k)
    return _seconds_each(lambda q: r.search(q, k), questions, cpu)


def _seconds_each(
    call: Callable[[str], object], questions: list[str], cpu: list[float] | None = None
) -> list[float]:
    """Wall seconds of call(question), question by question; its CPU seconds appended to `cpu`."""
    out = []
    for q in questions:
        started, used = time.perf_counter(), time.process_time()
        call(q)
        out.append(time.perf_counter() - started)
        if cpu is not None:
            cpu.append(time.process_time() - used)
    return out


def ask_figure(retriever: Any, questions: list[str], scale: str) -> Figure:
    """Question in -> answer out (retrieval, abstention, composed answer), the default path of `rag ask`.

    Asked twice per question after one warm-up: the first round pays for sentences not seen before,
    as a new question does; the figure is the first round's p50, the second's is in the details.
    """
    from ..answer.ask import ask

    r = _variant(retriever, retriever.mode, retriever.rerank)
    ask(r, WARM_UP)
    first, again = (latency_summary(_seconds_each(lambda q: ask(r, q), questions)) for _ in range(2))
    details = {**first, "p50_ms_asked_again": again["p50_ms"], "backend": retriever.query_backend}
    target = "ask_p50_seed_ms" if scale == "seed" else None
    return Figure("answer in process (rag ask)", scale, first["p50_ms"], "ms", target, details)


def latency_figures(retriever: Any, questions: list[str], scale: str, k: int = 10) -> list[Figure]:
    figures = []
    for mode, rerank in MODES:
        cpu: list[float] = []
        summary = latency_summary(query_latency(retriever, questions, mode, rerank, k, cpu))
        summary["cpu_ms_per_query"] = round(1000 * sum(cpu) / len(cpu), 2)  # less swayed by the load
        figures.append(
            Figure(
                f"query in process, {mode}, rerank {rerank}",
                scale,
                summary["p50_ms"],
                "ms",
                LATENCY_TARGETS.get((scale, mode)),
                {**summary, "k": k, "backend": retriever.query_backend},
            )
        )
    return figures


def exact_top(vectors: np.ndarray, queries: np.ndarray, k: int, block: int = 65_536) -> np.ndarray:
    """Rows of the k highest inner products per query, by brute force over all vectors, best first."""
    best_rows = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start in range(0, len(vectors), block):
        scores = queries @ np.asarray(vectors[start : start + block], dtype=np.float32).T
        take = min(k, scores.shape[1])
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take]
        best_rows = np.concatenate([best_rows, top + start], axis=1)
        best_scores = np.concatenate([best_scores, np.take_along_axis(scores, top, axis=1)], axis=1)
        keep = np.argsort(-best_scores, axis=1, kind="stable")[:, :k]
        best_rows = np.take_along_axis(best_rows, keep, axis=1)
        best_scores = np.take_along_axis(best_scores, keep, axis=1)
    return best_rows


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each query's true top rows that `found` holds (rows -1 are padding)."""
    shares = []
    for got, want in zip(found, truth, strict=True):
        want_set = {int(r) for r in want if r >= 0}
        if want_set:
            shares.append(len(want_set & {int(r) for r in got if r >= 0}) / len(want_set))
    return float(np.mean(shares)) if shares else float("nan")


def dense_recall(index: Any, queries: np.ndarray, k: int = 10) -> float:
    """Recall@k of LoadedIndex.dense_search against exact search over all the index's vectors."""
    _, found = index.dense_search(queries, k)
    return recall_at_k(found, exact_top(index.all_vectors(), queries, k))


def recall_figure(retriever: Any, questions: list[str], scale: str, k: int = 10) -> Figure:
    queries = np.ascontiguousarray(retriever.embedder.embed(questions), dtype=np.float32)
    value = dense_recall(retriever.index, queries, k)
    detail = {"queries": len(questions), "index_type": retriever.index.manifest.index_type}
    return Figure(f"dense recall@{k} vs exact search", scale, value, "recall", "recall_at_10", detail)


def disk_figure(index_dir: Path, passages: int, scale: str) -> Figure:
    """Bytes per passage: all files of the index folder over its passages (the articles not counted)."""
    sizes: Counter[str] = Counter()
    for path in index_dir.rglob("*"):
        if path.is_file():
            sizes[path.relative_to(index_dir).parts[0]] += path.stat().st_size
    total = sum(sizes.values())
    detail = {"index_bytes": total, "passages": passages, "files": dict(sizes)}
    target = "disk_1m_bytes" if scale == "1m" else None
    return Figure("index on disk per passage", scale, total / max(passages, 1), "bytes", target, detail)
