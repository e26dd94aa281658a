"""Measure the PostgreSQL store against the folder index on the same passages and vectors (docs/postgres.md).

    .venv/bin/python eval/pg_measure.py [--dsn postgresql://...] [--scale 100000] [--out build/pg-measure.json]

Without --dsn it starts a throwaway local server (rag/index/pglocal.py). Per data set (the seed corpus; SciFact
built as `rag eval --beir` builds it; optionally a synthetic index of --scale passages from `rag bench`'s
cache) the folder index is built or reused with the real model and copied into PostgreSQL with its own
vectors (pgwrite.from_index), so both stores rank the same vectors and differences are the stores'.
Reported: write time, top-5 agreement of dense search and of the whole retriever (and its answers) over
the folder index and over the store (pgindex.PgIndex, exact and HNSW dense search), SciFact nDCG@10 (dense, keyword, hybrid) through
evaluate.evaluate_beir, and per-query p50/p95 of each store's dense, keyword and z-score hybrid search
with the question vectors embedded beforehand (the store's time only). Writes JSON; prints a summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer.ask import ask
from rag.config import DEFAULT_MODEL, FUSION_DEPTH, ChunkParams
from rag.evaluation.beir import load_beir, write_corpus
from rag.evaluation.evaluate import evaluate_beir
from rag.evaluation.queries import load_queries
from rag.index import pglocal
from rag.index.build import build
from rag.index.embed import SentenceTransformerEmbedder
from rag.index.index_folder import LoadedIndex, load_index
from rag.index.onnx_embed import cache_root
from rag.index.pgfulltext import fused_rows, hybrid_search, keyword_search
from rag.index.pgindex import PgIndex
from rag.index.pgstore import PgStore
from rag.index.pgwrite import from_index
from rag.search.retrieve import Retriever
from rag.types import Passage

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path("/work/shared/bench/scifact")


def machine() -> dict[str, Any]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit.stdout.strip(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def percentiles(ms: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
    }


class Folder:
    """The folder index's dense, keyword (bm25s) and hybrid search, returning chunks as the store does."""

    def __init__(self, index: LoadedIndex) -> None:
        self.index = index

    def dense(self, qv: np.ndarray, k: int) -> list[tuple[int, float]]:
        scores, rows = self.index.dense_search(qv[None, :], k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def keyword(self, text: str, k: int) -> list[tuple[int, float]]:
        rows, scores = self.index.keyword.search(text, k)
        return list(zip(rows.tolist(), scores.tolist(), strict=True))

    def hybrid(self, qv: np.ndarray, text: str, k: int, depth: int = FUSION_DEPTH) -> list[tuple[int, float]]:
        dense, keyword = self.dense(qv, depth), self.keyword(text, depth)
        fused = fused_rows(dense, keyword, depth)
        return [(row, score) for row, score, _ in fused[:k]]

    def chunks(self, hits: list[tuple[int, float]]) -> list[Any]:
        return [self.index.chunks[row] for row, _ in hits]


def searchers(folder: Folder, store: PgStore) -> dict[str, Callable[[np.ndarray, str, int], list[Any]]]:
    """name -> search(vector, text, k) returning (chunk, score) pairs, best first."""

    def from_folder(hits: list[tuple[int, float]]) -> list[Any]:
        return list(zip(folder.chunks(hits), [s for _, s in hits], strict=True))

    def from_store(hits: list[Any]) -> list[Any]:
        return [(h.chunk, h.score) for h in hits]

    # BM25 kept beside the store: bm25s over the same passages (here the folder index's, mapped to the
    # store's rows by chunk_id), fused with pgvector's dense ranking
    pg_row = dict(store._conn.execute("SELECT chunk_id, id FROM rag_passages").fetchall())

    def beside(v: np.ndarray, t: str, k: int, depth: int = FUSION_DEPTH) -> list[Any]:
        keyword = [(pg_row[folder.index.chunks[r].chunk_id], s) for r, s in folder.keyword(t, depth)]
        top = fused_rows(store.dense_rows(v, depth), keyword, depth)[:k]
        chunks = store.chunks([r for r, _, _ in top])
        return [(chunks[r], s) for r, s, _ in top]

    return {
        "folder dense": lambda v, t, k: from_folder(folder.dense(v, k)),
        "pg dense": lambda v, t, k: from_store(store.dense_search(v, k)),
        "folder keyword (bm25s)": lambda v, t, k: from_folder(folder.keyword(t, k)),
        "pg keyword (ts_rank_cd)": lambda v, t, k: from_store(keyword_search(store, t, k, rank="ts_rank_cd")),
        "pg keyword (ts_rank)": lambda v, t, k: from_store(keyword_search(store, t, k, rank="ts_rank")),
        "folder hybrid": lambda v, t, k: from_folder(folder.hybrid(v, t, k)),
        "pg hybrid (ts_rank)": lambda v, t, k: from_store(hybrid_search(store, v, t, k)),
        "pg dense + bm25s beside": lambda v, t, k: beside(v, t, k),
    }


def latencies(
    search: Callable[..., list[Any]], vectors: np.ndarray, texts: list[str], k: int = 10
) -> dict[str, float]:
    search(vectors[0], texts[0], k)  # warm-up
    ms = []
    for v, t in zip(vectors, texts, strict=True):
        started = time.perf_counter()
        search(v, t, k)
        ms.append((time.perf_counter() - started) * 1000)
    return percentiles(ms)


def load_store(dsn: str, index: LoadedIndex, *, bulk: bool = False) -> tuple[PgStore, dict[str, Any]]:
    store = PgStore(dsn)
    store.reset()
    m = index.manifest
    store.create(embedder=m.embedder.to_json(), chunking=m.chunking.to_json(), pipeline=m.pipeline)
    started = time.perf_counter()
    with store.bulk_load() if bulk else nullcontext():
        transactions = store.write_articles(from_index(index), batch=500)
        copied = time.perf_counter() - started
    seconds = time.perf_counter() - started
    store._conn.execute("VACUUM ANALYZE rag_passages")
    sizes = store._conn.execute(
        "SELECT pg_total_relation_size('rag_passages'), pg_relation_size('rag_passages_hnsw'),"
        " pg_relation_size('rag_passages_tsv')"
    ).fetchone()
    names = ("table_total_mb", "hnsw_index_mb", "gin_index_mb")
    mb = {name: round(size / 2**20, 1) for name, size in zip(names, sizes, strict=True)}
    return store, {
        **mb,
        "passages": store.count(),
        "write_seconds": round(seconds, 2),
        **(
            {"bulk": {"copy_seconds": round(copied, 2), "hnsw_build_seconds": round(seconds - copied, 2)}}
            if bulk
            else {}
        ),
        "transactions": transactions,
    }


def top5_agreement(folder: Folder, store: PgStore, vectors: np.ndarray) -> dict[str, Any]:
    """How many queries get the same dense top 5 from both stores; for the others, why: "tie" when the
    lists differ only among passages whose exact scores are within 1e-6, "hnsw miss" when pgvector's
    approximate search left out a passage the exact search ranks in the top 5."""
    same, why = 0, []
    for i, v in enumerate(vectors):
        hits = folder.dense(v, 5)
        a = [(c.chunk_id, s) for c, (_, s) in zip(folder.chunks(hits), hits, strict=True)]
        b = [(h.chunk.chunk_id, h.score) for h in store.dense_search(v, 5)]
        if [x for x, _ in a] == [x for x, _ in b]:
            same += 1
            continue
        missing = {x for x, _ in a} - {x for x, _ in b}
        cut = min(s for _, s in b)
        tie = all(abs(s - cut) < 1e-6 for x, s in a if x in missing)
        reason = "same five, order differs" if not missing else "tie" if tie else "hnsw miss"
        why.append({"query": i, "why": reason, "folder": a, "pg": b})
    return {"queries": len(vectors), "identical_top5": same, "differing": why}


def retriever_agreement(
    index: LoadedIndex, store: PgStore, corpus_dir: Path, questions: list[str]
) -> dict[str, Any]:
    """The whole retriever (hybrid, sentence rerank) and the answers over the folder index and over the store
    (pgindex.PgIndex): how many questions get the same top 5 passages and the same answer, with the store's
    dense search exact (a scan: what it does up to pgindex.EXACT_BELOW passages) and through pgvector's HNSW
    index; each one's `search` time per question (k = 5, the question's vector cached), and the time
    PgIndex.load takes (the snapshot and BM25 from the stored tokens: what a new generation costs)."""
    over_folder = Retriever.over(index, corpus_dir)
    for q in questions:  # each question embedded once: the timings below are the searches' own
        over_folder.search(q, 5)
    started = time.perf_counter()
    pg = PgIndex.load(store)
    out: dict[str, Any] = {
        "questions": len(questions),
        "pgindex_load_seconds": round(time.perf_counter() - started, 3),
    }
    for name, exact in (("exact", True), ("hnsw", False)):
        pg.exact_search = exact
        over_pg = over_folder.with_settings(index=pg)  # the same question embedder and its cache
        same, answers, differ, ms_folder, ms_pg, ms_dense = 0, 0, [], [], [], []
        over_folder.search(questions[0], 5), over_pg.search(questions[0], 5)  # warm-up: spellers, caches
        for i, q in enumerate(questions):
            started = time.perf_counter()
            a = [p.chunk.chunk_id for p in over_folder.search(q, 5)]
            ms_folder.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            b = [p.chunk.chunk_id for p in over_pg.search(q, 5)]
            ms_pg.append((time.perf_counter() - started) * 1000)
            qv = over_pg.embedder.embed([q])
            started = time.perf_counter()
            pg.dense_search(qv, FUSION_DEPTH)  # the dense half of a hybrid search
            ms_dense.append((time.perf_counter() - started) * 1000)
            same += a == b
            if a != b:
                differ.append({"query": i, "folder": a, "pg": b})
            answers += ask(over_folder, q).answer.sentences == ask(over_pg, q).answer.sentences
        out[name] = {
            "identical_top5": same,
            "identical_answers": answers,
            "search_folder": percentiles(ms_folder),
            "search_pg": percentiles(ms_pg),
            "pg_dense_depth200": percentiles(ms_dense),
            "differing": differ,
        }
    return out


def seed(dsn: str, embedder: Any, out: dict[str, Any]) -> None:
    work = Path(tempfile.mkdtemp(prefix="pg-measure-seed-"))
    try:
        shutil.copytree(ROOT / "corpus", work / "corpus", ignore=shutil.ignore_patterns(".*"))
        build(work / "corpus", work / "index", embedder, ChunkParams())
        index = load_index(work / "index")
        store, written = load_store(dsn, index)
        questions = [q.question for q in load_queries(ROOT / "eval" / "queries.jsonl")]
        vectors = embedder.embed(questions)
        folder = Folder(index)
        out["seed"] = {
            **written,
            "dense_top5": top5_agreement(folder, store, vectors),
            "retriever_top5": retriever_agreement(index, store, work / "corpus", questions),
            "latency": {
                n: latencies(s, np.tile(vectors, (3, 1)), questions * 3)
                for n, s in searchers(folder, store).items()
            },
        }
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scifact_index(embedder: Any) -> tuple[Any, LoadedIndex]:
    """SciFact and its folder index, built (or brought up to date) where `rag eval --beir` keeps it."""
    beir = load_beir(SCIFACT)
    params = ChunkParams(max_words=1_000_000, overlap_sentences=0, prefix="none")  # as `rag eval --beir`
    root = cache_root() / "beir" / f"{beir.name}-{beir.fingerprint[:12]}"
    write_corpus(beir, root / "corpus")
    bf16 = "-bf16" if embedder.precision == "bf16" else ""
    index_dir = root / f"index-{DEFAULT_MODEL.rsplit('/', 1)[-1]}-whole-0{bf16}"
    build(root / "corpus", index_dir, embedder, params, progress=True)
    return beir, load_index(index_dir)


class KnownVectors:
    """The real embedder, answering from the SciFact folder index's vectors where it holds the text."""

    def __init__(self, embedder: Any, index: LoadedIndex) -> None:
        self.inner, self.name, self.dim = embedder, embedder.name, embedder.dim
        self.fingerprint, self.precision = embedder.fingerprint, embedder.precision
        vectors = index.all_vectors()
        self.known = {c.embed_text: vectors[i] for i, c in enumerate(index.chunks)}

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        missing = [t for t in dict.fromkeys(texts) if t not in self.known]
        if missing:
            self.known |= dict(zip(missing, self.inner.embed(missing, progress=progress), strict=True))
        return np.array([self.known[t] for t in texts], dtype=np.float32)


def scifact(dsn: str, embedder: Any, out: dict[str, Any]) -> None:
    beir, index = scifact_index(embedder)
    index_dir = index.index_dir
    store, written = load_store(dsn, index)
    texts = [q.question for q in beir.queries]
    vectors = embedder.embed(texts)
    at = {q.question: i for i, q in enumerate(beir.queries)}
    folder = Folder(index)
    quality = {}
    for name, search in searchers(folder, store).items():

        def as_passages(question: str, k: int, search: Callable[..., list[Any]] = search) -> list[Passage]:
            hits = search(vectors[at[question]], question, k)
            return [Passage(c, rank, s, c.path) for rank, (c, s) in enumerate(hits, start=1)]

        run = evaluate_beir(as_passages, beir.queries, beir.qrels, depth=100, passage_depth=100)
        quality[name] = {m: round(run.metrics[m], 4) for m in ("nDCG@10", "R@100")}
    out["scifact"] = {
        **written,
        "folder_index": str(index_dir),
        "dense_top5": top5_agreement(folder, store, vectors),
        "retriever_top5": retriever_agreement(index, store, index_dir.parent / "corpus", texts),
        "quality": quality,
        "latency": {n: latencies(s, vectors, texts) for n, s in searchers(folder, store).items()},
    }
    store.close()


def scale(dsn: str, n: int, embedder: Any, out: dict[str, Any]) -> None:
    from rag.bench.synthetic import scale_index, scifact_passages

    beir, scifact_folder = scifact_index(embedder)
    cache_dir = cache_root() / "bench"
    real = scifact_passages(beir, KnownVectors(embedder, scifact_folder), cache_dir, say=print)
    meta = {
        "name": embedder.name,
        "dim": embedder.dim,
        "fingerprint": embedder.fingerprint,
        "precision": embedder.precision,
    }
    _, index_dir, _ = scale_index(n, real, meta, cache_dir, say=print)
    index = load_index(index_dir)
    store, written = load_store(dsn, index, bulk=True)
    texts = [q.question for q in beir.queries]
    vectors = embedder.embed(texts)
    folder = Folder(index)
    exact = index.all_vectors()
    truth = np.argsort(-(vectors @ exact.T), axis=1)[:, :10]
    chunk_ids = [c.chunk_id for c in index.chunks]
    found = [{h.chunk.chunk_id for h in store.dense_search(v, 10)} for v in vectors]
    recall = np.mean([len(f & {chunk_ids[i] for i in t}) / 10 for f, t in zip(found, truth, strict=True)])
    out[f"scale_{n}"] = {
        **written,
        "pg_dense_recall@10_vs_exact": round(float(recall), 4),
        "dense_top5": top5_agreement(folder, store, vectors),
        "latency": {
            name: latencies(s, vectors[:100], texts[:100]) for name, s in searchers(folder, store).items()
        },
    }
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="an existing PostgreSQL with pgvector (default: a throwaway local one)")
    parser.add_argument("--scale", type=int, default=0, help="also a synthetic index of this many passages")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: seed, scifact")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "pg-measure.json")
    args = parser.parse_args()
    out: dict[str, Any] = {"machine_before": machine()}
    embedder = SentenceTransformerEmbedder(DEFAULT_MODEL, precision="fp32")
    with ExitStack() as stack:
        dsn = args.dsn or stack.enter_context(pglocal.local_postgres()).dsn()
        out["server"] = PgStore(dsn)._conn.execute("SELECT version()").fetchone()[0]
        parts = [("seed", seed), ("scifact", scifact)]
        for name, part in parts:
            if name not in args.skip.split(","):
                print(f"measuring {name}", flush=True)
                part(dsn, embedder, out)
                save(args.out, out)
        if args.scale:
            print(f"measuring {args.scale:,} passages", flush=True)
            scale(dsn, args.scale, embedder, out)
    out["machine_after"] = machine()
    save(args.out, out)
    print(json.dumps(out, indent=1))


def save(path: Path, out: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
