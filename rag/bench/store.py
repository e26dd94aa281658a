"""`rag bench --parts store`: the PostgreSQL store against the folder index on the same data (issue #15).

At each scale the store is made from the same articles as the folder index (the seed: `build_store` from
the corpus with the real model; 100k/1M: the bench's folder index copied in with its own vectors, tokens
and sentences, `pgwrite.from_index`, since embedding 100k passages takes hours here), then timed as the
folder is: `Retriever.search` in every mode and `ask()` over `PgIndex`, and a rebuild with one article
changed (`build_store`, the changed passages embedded with the real model). `scifact_quality` scores
SciFact (nDCG@10) through both stores. Store figures are named "store: " + the folder figure's name, so
report.ratios sets each beside the folder's. The server is the one `--store` names (each scale in its own
schema, `rag_bench_<scale>`, dropped and made again) or a throwaway local one (pglocal.py).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import ChunkParams
from .builds import APPENDED
from .inprocess import ask_figure, latency_figures
from .report import STORE as PREFIX
from .report import Figure, Say, quiet

# The bench's 100k/1M folder indexes were not chunked by rag (synthetic.py); their store copy declares this
# chunking, so a rebuild cuts a changed article as a real build of such articles would.
SCALE_CHUNKING = ChunkParams(max_words=160, overlap_sentences=0, prefix="none")
REBUILT = "rebuild, 1 article changed, all but its embedding"


@contextmanager
def server(dsn: str, parent: Path | None = None) -> Iterator[str]:
    """The DSN given, or that of a throwaway local PostgreSQL (pglocal.py) for the block."""
    if dsn:
        yield dsn
        return
    from ..index import pglocal

    with pglocal.local_postgres(parent) as local:
        yield local.dsn()


def schema_dsn(dsn: str, name: str) -> str:
    """A DSN whose tables live in schema `name` (emptied first), pgvector's types found in public."""
    from psycopg.conninfo import make_conninfo

    from ..index.pgstore import PgStore

    with PgStore(dsn) as admin:
        admin.connection.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        admin.connection.execute(f"CREATE SCHEMA {name}")
        admin.connection.execute("CREATE EXTENSION IF NOT EXISTS vector")
    return make_conninfo(dsn, options=f"-csearch_path={name},public")


def _renamed(figures: list[Figure], target: str | None = None) -> list[Figure]:
    return [replace(f, name=PREFIX + f.name, target=target if "hybrid" in f.name else None) for f in figures]


def query_figures(
    folder: Any, store: Any, questions: list[str], scale: str, k: int, have: set[str]
) -> list[Figure]:
    """Latency of every mode and of ask() over the folder index (unless `have` holds them) and the store."""
    out = []
    if "query in process, hybrid, rerank sentence" not in have:
        out += latency_figures(folder, questions, scale, k)
    if "answer in process (rag ask)" not in have:
        out.append(ask_figure(folder, questions, scale))
    target = "store_query_p50_100k_hybrid_ms" if scale == "100k" else None
    out += _renamed(latency_figures(store, questions, scale, k), target)
    out += _renamed([ask_figure(store, questions, scale)])
    return out


def _build_figure(name: str, scale: str, report: Any) -> Figure:
    detail = {k: v for k, v in report.to_json().items() if k not in ("unchanged", "changed", "added")}
    return Figure(name, scale, report.seconds - report.embed_seconds, "s", None, detail)


def seed_build_figures(corpus_dir: Path, embedder: Any, dsn: str, work: Path) -> list[Figure]:
    """The seed built from nothing into a folder (under work) and into the store, nothing reused."""
    from ..index.build import build
    from ..index.pgbuild import build_store
    from ..index.pgstore import PgStore

    shutil.copytree(corpus_dir, work / "corpus", ignore=shutil.ignore_patterns(".*"))
    embedder.load()  # neither build pays for loading the model
    folder = build(work / "corpus", work / "index", embedder, ChunkParams())
    with PgStore(dsn) as store:
        stored = build_store(work / "corpus", store, embedder, ChunkParams())
    return [
        _build_figure("build from nothing, all but embedding", "seed", folder),
        _build_figure(PREFIX + "build from nothing, all but embedding", "seed", stored),
    ]


def seed_rebuild_figures(embedder: Any, dsn: str, work: Path) -> list[Figure]:
    """One article of seed_build_figures' corpus changed, then the folder and the store rebuilt."""
    from ..index.build import build
    from ..index.pgbuild import build_store
    from ..index.pgstore import PgStore

    _change_one(work / "corpus")
    folder = build(work / "corpus", work / "index", embedder, ChunkParams())
    with PgStore(dsn) as store:
        stored = build_store(work / "corpus", store, embedder, ChunkParams())
    return [
        _build_figure(REBUILT, "seed", folder),
        _build_figure(PREFIX + REBUILT, "seed", stored),
    ]


def _change_one(corpus_dir: Path) -> Path:
    """One sentence appended to the middle article file: what a rebuild then finds changed."""
    files = sorted(p for p in corpus_dir.rglob("*") if p.is_file() and p.suffix in (".txt", ".md"))
    changed = files[len(files) // 2]
    text = changed.read_text(encoding="utf-8")
    changed.write_text(text.rstrip("\n") + APPENDED + "\n", encoding="utf-8")
    return changed


def load_from_folder(index_dir: Path, dsn: str, chunking: ChunkParams, scale: str) -> Figure:
    """The folder index copied into an empty store (its vectors, tokens, sentences: nothing embedded),
    the HNSW index built once at the end."""
    from ..index.index_folder import load_index
    from ..index.pgstore import PgStore
    from ..index.pgwrite import from_index

    index = load_index(index_dir)
    m = index.manifest
    started = time.perf_counter()
    with PgStore(dsn) as store:
        store.create(embedder=m.embedder.to_json(), chunking=chunking.to_json(), pipeline=m.pipeline)
        with store.bulk_load():
            transactions = store.write_articles(from_index(index), batch=500)
            copied = time.perf_counter() - started
        store.connection.execute("VACUUM ANALYZE")
        size = store.connection.execute("SELECT pg_total_relation_size('rag_passages')").fetchone()[0]
    seconds = time.perf_counter() - started
    detail = {
        "passages": m.chunk_count,
        "copy_s": round(copied, 2),
        "hnsw_build_and_analyze_s": round(seconds - copied, 2),
        "transactions": transactions,
        "passages_table_mb": round(size / 1e6, 1),
    }
    name = PREFIX + "load from the folder index (nothing embedded)"
    return Figure(name, scale, seconds, "s", None, detail)


def scale_rebuild_figure(corpus_dir: Path, embedder: Any, dsn: str, work: Path, scale: str) -> Figure:
    """One article of a copy of the scale corpus changed, then `build_store` (the changed article's new
    passages embedded with the real model; every file's hash compared, as any rebuild does)."""
    from ..errors import RagError
    from ..index.pgbuild import build_store
    from ..index.pgstore import PgStore

    shutil.copytree(corpus_dir, work / "corpus")
    _change_one(work / "corpus")
    embedder.load()
    with PgStore(dsn) as store:
        planned = build_store(work / "corpus", store, embedder, SCALE_CHUNKING, dry_run=True)
        if planned.full_rebuild or planned.embedded > 100:  # would embed the whole store: hours here
            raise RagError(f"{scale}: the store would rebuild ({planned.full_rebuild or planned.embedded})")
        report = build_store(work / "corpus", store, embedder, SCALE_CHUNKING)
    return _build_figure(PREFIX + REBUILT, scale, report)


def store_figures(
    label: str,
    corpus_dir: Path,
    index_dir: Path,
    folder: Any,
    questions: list[str],
    dsn: str,
    model: str,
    k: int,
    have: set[str],
    say: Say = quiet,
) -> list[Figure]:
    """Every store figure at one scale (see the module docstring); `folder` is the folder's Retriever."""
    from ..index.embed import SentenceTransformerEmbedder
    from ..index.pgindex import PgIndex
    from ..index.pgstore import PgStore

    embedder = SentenceTransformerEmbedder(model, precision=folder.index.manifest.embedder.precision)
    at = schema_dsn(dsn, f"rag_bench_{''.join(ch for ch in label if ch.isalnum())}")
    figures = []
    with tempfile.TemporaryDirectory(prefix="rag-bench-store-") as tmp:
        if label == "seed":
            say("store: the seed built from nothing into a folder and into the store")
            figures += seed_build_figures(corpus_dir, embedder, at, Path(tmp))
        else:
            say(f"store: copying the {label} folder index into the store")
            figures.append(load_from_folder(index_dir, at, SCALE_CHUNKING, label))
        started = time.perf_counter()
        pg = PgIndex.load(PgStore(at))
        seconds = time.perf_counter() - started
        figures.append(Figure(PREFIX + "snapshot load (PgIndex.load)", label, seconds, "s", None, {}))
        say(f"store: {len(questions)} questions timed over the folder and over the store")
        figures += query_figures(folder, folder.with_settings(index=pg), questions, label, k, have)
        pg.store.close()
        say(
            f"store: one article changed, rebuilt{' in the folder and' if label == 'seed' else ''} in the store"
        )
        if label == "seed":
            figures += seed_rebuild_figures(embedder, at, Path(tmp))
        else:
            figures.append(scale_rebuild_figure(corpus_dir, embedder, at, Path(tmp), label))
    return figures


def scifact_quality(beir: Any, model: str, beir_cache: Path, dsn: str, say: Say = quiet) -> list[Figure]:
    """SciFact nDCG@10 (top 100 documents, whole documents as passages) over the folder index `rag eval
    --beir` builds (built here when missing) and over its copy in the store: dense (rerank none) and the
    default hybrid; dense also through pgvector's HNSW index (PgIndex scans exactly below EXACT_BELOW)."""
    from ..evaluation.beir import write_corpus
    from ..evaluation.evaluate import evaluate_beir
    from ..index.build import build
    from ..index.embed import SentenceTransformerEmbedder
    from ..index.pgindex import PgIndex
    from ..index.pgstore import PgStore
    from ..search.retrieve import Retriever

    chunking = ChunkParams(max_words=1_000_000, overlap_sentences=0, prefix="none")  # as rag eval --beir
    root = beir_cache / f"{beir.name}-{beir.fingerprint[:12]}"
    write_corpus(beir, root / "corpus")
    index_dir = root / f"index-{model.rstrip('/').rsplit('/', 1)[-1]}-whole-0"
    say(f"scifact: the folder index {index_dir} (built when missing, as rag eval --beir does)")
    build(root / "corpus", index_dir, SentenceTransformerEmbedder(model, precision="fp32"), chunking)
    at = schema_dsn(dsn, "rag_bench_scifact")
    say("scifact: copying it into the store")
    loaded = load_from_folder(index_dir, at, chunking, "scifact")
    folder = Retriever.open(index_dir, root / "corpus")
    pg = PgIndex.load(PgStore(at))
    figures = []
    for mode, rerank in (("dense", "none"), ("hybrid", "sentence")):
        scores = {}
        for name, index, exact in (("folder", folder.index, True), ("store", pg, True), ("hnsw", pg, False)):
            if name == "hnsw" and mode != "dense":
                continue
            pg.exact_search = exact  # (the folder ignores it)
            r = folder.with_settings(index=index, mode=mode, rerank=rerank)
            say(f"scifact: {mode}, rerank {rerank}, {name}")
            run = evaluate_beir(r.search, beir.queries, beir.qrels, depth=100, passage_depth=100)
            scores[name] = run.metrics["nDCG@10"]
        what = f"SciFact nDCG@10, {mode}, rerank {rerank}"
        detail = {"queries": len(beir.queries), "folder_index": str(index_dir)}
        figures.append(Figure(what, "scifact", scores["folder"], "score", None, detail))
        figures.append(Figure(PREFIX + what, "scifact", scores["store"], "score", None, {}))
        gap = abs(scores["store"] - scores["folder"])
        figures.append(
            Figure(f"{PREFIX}|store - folder| {what}", "scifact", gap, "score", "store_ndcg_gap", {})
        )
        if "hnsw" in scores:
            gap = abs(scores["hnsw"] - scores["folder"])
            name = f"{PREFIX}|store through HNSW - folder| {what}"
            detail = {"store_hnsw_ndcg@10": round(scores["hnsw"], 4)}
            figures.append(Figure(name, "scifact", gap, "score", "store_ndcg_gap", detail))
    pg.store.close()
    return [loaded, *figures]
