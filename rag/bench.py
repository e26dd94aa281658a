"""`rag bench`: speed, size and recall of the real code paths, set against the targets of issue #7.

One function per figure: query latency in process (Retriever.search) and through the app's HTTP API,
dense recall@10 of the index against exact numpy search, build throughput (fp32 vs bf16), incremental
rebuilds, resident memory and bytes per passage on disk, and cold starts; `run_bench` assembles them
into a report (JSON, plus the table `table_lines` prints), with the machine's load average beside
each figure. Indexes of 100k and 1M passages are made from the 5,183 real SciFact documents (embedded
once with the real model) plus generated passages (random unit vectors, words drawn from SciFact's
vocabulary), written with index.write_index and cached under the rag cache folder. Nothing is stubbed.
It does not measure answer quality (evaluate.py) and changes no index it did not make, except that it
builds the seed index (`--index`) when that is missing or stale, as `rag build` would.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import math
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .errors import RagError

log = logging.getLogger(__name__)

BENCH_VERSION = 1
GENERATOR_VERSION = 1  # bump when write_scale_index writes different passages or vectors
ROOT = Path(__file__).resolve().parent.parent  # the checkout: app.py and eval/queries.jsonl
PARTS = ("latency", "recall", "http", "memory", "coldstart", "build", "rebuild")
MODES = (("dense", "none"), ("dense", "sentence"), ("hybrid", "none"), ("hybrid", "sentence"))
PER_ARTICLE = 10  # generated passages per generated article (a long article's worth)
WORDS = (40, 160)  # generated passage length in words, uniform; the chunker's limit is 160
WARM_UP = "what does this collection say about the effect of exercise on sleep?"
SEED_FALLBACK = ["how do I avoid being clingy?", "why does a bit of mystery make someone think about you?"]
APPENDED = " This sentence was appended by rag bench to change one article."

# (comparison, limit, what) per target of the issue; figures name the target they are held to.
TARGETS: dict[str, tuple[str, float, str]] = {
    "query_p50_seed_ms": ("<=", 10.0, "query p50 in process, seed corpus (ms)"),
    "query_p50_100k_ms": ("<=", 15.0, "query p50 in process, 100k passages (ms)"),
    "query_p50_1m_hybrid_ms": ("<=", 40.0, "query p50 in process, 1M passages, hybrid (ms)"),
    "query_p50_1m_dense_ms": ("<=", 20.0, "query p50 in process, 1M passages, dense only (ms)"),
    "recall_at_10": (">=", 0.98, "recall@10 of the index's dense search against exact search"),
    "http_overhead_ms": ("<=", 30.0, "HTTP p50 minus in-process p50, same settings (ms)"),
    "cold_start_search_s": ("<=", 3.0, "process start to first answer, rag search, seed (s)"),
    "cold_start_app_s": ("<=", 15.0, "process start to first answer, app HTTP API, seed (s)"),
    "build_bf16_speedup": (">=", 2.0, "cold build passages/s, bf16 over fp32"),
    "rebuild_nothing_changed_seed_s": ("<=", 1.0, "rebuild with nothing changed, seed (s)"),
    "rebuild_one_changed_rest_s": (
        "<=",
        1.0,
        "rebuild after 1 of 1,000 articles changed, minus its embedding (s)",
    ),
    "memory_1m_mb": ("<=", 1500.0, "resident memory (VmHWM) answering from 1M passages (MB, 10^6 bytes)"),
}
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
Say = Callable[[str], None]


def _quiet(message: str) -> None:
    log.info(message)


# ---- figures and the report ----------------------------------------------------------------------


@dataclass
class Figure:
    """One measured value, the target it is held to (a TARGETS key, or None) and the load beside it."""

    name: str
    scale: str
    value: float
    unit: str
    target: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    load: tuple[float, float, float] = field(default_factory=os.getloadavg)

    @property
    def met(self) -> bool | None:
        if self.target is None or math.isnan(self.value):
            return None
        op, limit, _ = TARGETS[self.target]
        return self.value <= limit if op == "<=" else self.value >= limit

    def to_json(self) -> dict[str, Any]:
        target = TARGETS.get(self.target or "")
        return {
            "name": self.name,
            "scale": self.scale,
            "value": _round(self.value),
            "unit": self.unit,
            "target": {"key": self.target, "op": target[0], "limit": target[1]} if target else None,
            "met": self.met,
            "load": [round(x, 2) for x in self.load],
            "detail": self.detail,
        }


def _round(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4 if abs(x) < 10 else 1)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), numpy's (linear interpolation), with a clear error for no values."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q))


def latency_summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def parse_scales(text: str) -> list[tuple[str, int]]:
    """'seed,100k,1m' -> [("seed", 0), ("100k", 100000), ("1m", 1000000)]."""
    out = []
    for part in (p.strip().lower() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"(\d+)([km]?)", part)
        if part == "seed":
            out.append(("seed", 0))
        elif m and int(m[1]) > 0:
            out.append((part, int(m[1]) * {"": 1, "k": 1000, "m": 1_000_000}[m[2]]))
        else:
            raise RagError(f"--scales: {part!r} is neither seed nor a passage count - use e.g. seed,100k,1m")
    if not out:
        raise RagError("--scales names no scale - use e.g. seed,100k,1m")
    return out


def parse_parts(text: str) -> frozenset[str]:
    parts = {p.strip() for p in text.split(",") if p.strip()}
    if not parts or parts - set(PARTS):
        raise RagError(f"--parts: {text!r} - use a comma-separated subset of {','.join(PARTS)}")
    return frozenset(parts)


def table_lines(report: dict[str, Any]) -> list[str]:
    """The report as the table `rag bench` prints: each figure beside its target and the load."""
    rows = [("figure", "scale", "value", "target", "met", "load 1m")]
    for f in report["figures"]:
        t = f["target"]
        target = f"{t['op']} {_fmt(t['limit'], f['unit'])}" if t else ""
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        value = _fmt(f["value"], f["unit"])
        if "p95_ms" in f["detail"]:
            value += f" (p95 {f['detail']['p95_ms']:.1f})"
        rows.append((f["name"], f["scale"], value, target, met, f"{f['load'][0]:.2f}"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines += ["", "ratios (same run):"] + [f"  {r['name']}: {r['value']:.2f}" for r in report["ratios"]]
    lines += [f"note: {n}" for n in report["notes"]]
    lines += [f"ERROR in {e['part']}: {e['error']}" for e in report["errors"]]
    return lines


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit in ("ms", "s"):
        return f"{value:.1f} {unit}" if value >= 10 or unit == "ms" else f"{value:.2f} {unit}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit in ("bytes", "passages/s"):
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{value:.3f}" + ("x" if unit == "ratio" else "")


# ---- the data: seed questions, SciFact, scale indexes --------------------------------------------


def seed_questions() -> list[str]:
    """The committed eval questions (answerable or not: both are asked), or two examples."""
    from .queries import load_queries

    path = ROOT / "eval" / "queries.jsonl"
    return [q.question for q in load_queries(path)] if path.is_file() else list(SEED_FALLBACK)


@dataclass(frozen=True)
class RealPassages:
    """Real documents with their model vectors: row i of `vectors` embeds texts[i]."""

    doc_ids: list[str]
    titles: list[str]
    texts: list[str]  # whitespace-normalised; the passage text and what was embedded
    vectors: np.ndarray
    source: str


def scifact_passages(beir: Any, embedder: Any, cache_dir: Path, say: Say = _quiet) -> RealPassages:
    """SciFact's documents ("title text", as BEIR embeds them) and their vectors, embedded once and cached."""
    texts = [" ".join(f"{title} {text}".split()) for _, title, text in beir.docs]
    name = f"vectors-{beir.name}-{beir.fingerprint[:12]}-{embedder.fingerprint[:12]}-{embedder.precision}.npy"
    path = cache_dir / name
    try:
        vectors = np.load(path)
        if vectors.shape != (len(texts), embedder.dim):
            raise ValueError(f"shape {vectors.shape}")
    except (OSError, ValueError):
        say(f"embedding {len(texts):,} SciFact documents once ({embedder.precision}); cached in {path}")
        vectors = embedder.embed(texts, progress=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}.npy")
        np.save(tmp, vectors)
        os.replace(tmp, path)
    ids, titles = [d[0] for d in beir.docs], [d[1] for d in beir.docs]
    return RealPassages(
        ids, titles, texts, vectors, f"BEIR {beir.name} corpus.jsonl ({beir.fingerprint[:12]})"
    )


def generated_texts(real_texts: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """n passages of 40-160 words drawn independently from the real texts' word frequencies."""
    counts = Counter(w for t in real_texts for w in t.split())
    vocab = np.array(list(counts), dtype=object)
    p = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    p /= p.sum()
    lengths = rng.integers(WORDS[0], WORDS[1] + 1, n)
    out: list[str] = []
    for start in range(0, n, 50_000):
        part = lengths[start : start + 50_000]
        words = vocab[rng.choice(len(vocab), int(part.sum()), p=p)]
        ends = np.cumsum(part)
        out.extend(" ".join(words[e - k : e]) for k, e in zip(part.tolist(), ends.tolist(), strict=True))
    return out


def random_unit_vectors(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        block = rng.standard_normal((min(100_000, n - start), dim), dtype=np.float32)
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def write_scale_index(
    root: Path,
    n: int,
    real: RealPassages,
    embedder_meta: dict[str, Any],
    *,
    seed: int = 0,
    index_type: str = "auto",
    say: Say = _quiet,
) -> dict[str, Any]:
    """corpus/ and index/ under root with n passages: the real ones first, then generated ones.

    Real documents are one article and one passage each; generated passages come ten to an article.
    Every article is a file whose bytes the manifest records, so the index is up to date with its corpus
    (the app serves it without rebuilding) and every citation slices its file. Returns the description.
    """
    from .build import PIPELINE_VERSION
    from .index import HNSW, choose_index_type, write_index
    from .keyword import KEYWORD_MANIFEST, KeywordIndex

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    n_real = min(n, len(real.texts))
    corpus_dir, index_dir = root / "corpus", root / "index"
    shutil.rmtree(root, ignore_errors=True)
    say(f"{n:,} passages: generating {n - n_real:,} passages of text")
    texts = real.texts[:n_real] + generated_texts(real.texts, n - n_real, rng)
    say(f"{n:,} passages: writing the article files to {corpus_dir}")
    articles, chunks = _write_articles(corpus_dir, texts, real.titles[:n_real])
    say(f"{n:,} passages: keyword index ({time.perf_counter() - started:.0f} s so far)")
    keyword = KeywordIndex.build(texts)
    vectors = np.concatenate(
        [real.vectors[:n_real], random_unit_vectors(n - n_real, real.vectors.shape[1], rng)]
    )
    chosen = choose_index_type(n, index_type)
    description = {
        "passages": n,
        "real_passages": n_real,
        "generated_passages": n - n_real,
        "articles": len(articles),
        "real": f"{real.source}: each document one article and one passage, with its model vector",
        "generated": f"random unit vectors; text of {WORDS[0]}-{WORDS[1]} words drawn from the real passages'"
        f" word frequencies; {PER_ARTICLE} passages per article",
        "index_type": chosen,
        "seed": seed,
        "generator": GENERATOR_VERSION,
    }
    manifest = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "pipeline": PIPELINE_VERSION,
        "embedder": embedder_meta,
        "chunking": {"max_words": 0, "overlap_sentences": 0, "prefix": "none"},  # not chunked by rag
        "index_type": chosen,
        **({"hnsw": HNSW} if chosen == "hnsw-ip" else {}),
        "keyword": KEYWORD_MANIFEST,
        "articles": articles,
        "counts": {"articles": len(articles), "chunks": n},
        "versions": {"python": platform.python_version(), "numpy": np.__version__},
        "bench": description,
    }
    say(f"{n:,} passages: writing the {chosen} index ({time.perf_counter() - started:.0f} s so far)")
    write_index(index_dir, vectors, chunks, keyword, manifest)
    description["seconds_to_make"] = round(time.perf_counter() - started, 1)
    say(f"{n:,} passages: made in {description['seconds_to_make']:.0f} s")
    return description


def _write_articles(
    corpus_dir: Path, texts: list[str], real_titles: list[str]
) -> tuple[dict[str, dict[str, Any]], list[Any]]:
    """Article files for the passages (real: one each; generated: PER_ARTICLE each); (manifest articles, chunks)."""
    from .ingest import file_sha256
    from .types import Chunk

    groups = [(f"scifact/{i // 1000:03d}/{i:07d}", [i], title) for i, title in enumerate(real_titles)]
    for a, start in enumerate(range(len(real_titles), len(texts), PER_ARTICLE)):
        rows = list(range(start, min(start + PER_ARTICLE, len(texts))))
        groups.append((f"generated/{a // 1000:04d}/{a:07d}", rows, f"Generated article {a}"))
    articles: dict[str, dict[str, Any]] = {}
    chunks = []
    for article_id, rows, title in groups:
        path = f"{article_id}.txt"
        at = 0
        for j, row in enumerate(rows):
            text = texts[row]
            chunks.append(
                Chunk(f"{article_id}#{j}", article_id, path, title, "", at, at + len(text), text, text)
            )
            at += len(text) + 2
        data = ("\n\n".join(texts[row] for row in rows) + "\n").encode("utf-8")
        (corpus_dir / path).parent.mkdir(parents=True, exist_ok=True)
        (corpus_dir / path).write_bytes(data)
        articles[article_id] = {
            "path": path,
            "sha256": file_sha256(data),
            "title": title,
            "title_source": "front_matter",
            "author": "",
            "url": "",
            "chunks": len(rows),
        }
    return articles, chunks


def scale_key(n: int, real: RealPassages, embedder_meta: dict[str, Any]) -> str:
    """What a cached scale index depends on: passages, model, generator, index format and graph shape."""
    from .index import FORMAT_VERSION, HNSW, choose_index_type

    index_type = choose_index_type(n)
    fields = {
        "n": n,
        "real": real.source,
        "vectors": hashlib.sha256(real.vectors.tobytes()).hexdigest()[:16],
        "embedder": embedder_meta["fingerprint"],
        "generator": GENERATOR_VERSION,
        "format": FORMAT_VERSION,
        "index_type": index_type,
        # what shapes the graph; search-time settings (efSearch, refine) apply when it is loaded
        "hnsw": {k: HNSW.get(k) for k in ("M", "efConstruction", "storage")}
        if index_type == "hnsw-ip"
        else None,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def scale_index(
    n: int, real: RealPassages, embedder_meta: dict[str, Any], cache_dir: Path, say: Say = _quiet
) -> tuple[Path, Path, dict[str, Any]]:
    """(corpus_dir, index_dir, description) of the n-passage bench index, made unless cached."""
    from .index import choose_index_type

    root = cache_dir / f"scale-{n}-{scale_key(n, real, embedder_meta)}"
    stamp = root / "bench.json"
    try:
        description = json.loads(stamp.read_text(encoding="utf-8"))
        if description.get("index_type") != choose_index_type(n):  # a folder renamed by hand
            raise ValueError(f"{root} holds a {description.get('index_type')} index")
        say(f"{n:,} passages: reusing {root}")
    except (OSError, ValueError):
        description = write_scale_index(root, n, real, embedder_meta, say=say)
        stamp.write_text(json.dumps(description, indent=2), encoding="utf-8")  # last: marks it complete
    return root / "corpus", root / "index", {**description, "folder": str(root)}


# ---- in-process figures ---------------------------------------------------------------------------


def _variant(retriever: Any, mode: str, rerank: str) -> Any:
    """The same loaded index and question model, with an empty vector cache, in another mode."""
    from .embed import CachingEmbedder

    inner = getattr(retriever.embedder, "inner", retriever.embedder)
    return retriever.with_settings(mode=mode, rerank=rerank, embedder=CachingEmbedder(inner))


def query_latency(retriever: Any, questions: list[str], mode: str, rerank: str, k: int = 10) -> list[float]:
    """Seconds per question, question in -> ranked cited passages out, after one warm-up question.

    Each setting starts with an empty vector cache, so the sentence rerank pays for sentences it has
    not seen, as it does for a new question.
    """
    r = _variant(retriever, mode, rerank)
    r.search(WARM_UP, k)
    out = []
    for q in questions:
        started = time.perf_counter()
        r.search(q, k)
        out.append(time.perf_counter() - started)
    return out


def _latency_target(scale: str, mode: str) -> str | None:
    if scale == "1m":
        return f"query_p50_1m_{mode}_ms"
    return {"seed": "query_p50_seed_ms", "100k": "query_p50_100k_ms"}.get(scale)


def latency_figures(retriever: Any, questions: list[str], scale: str, k: int = 10) -> list[Figure]:
    figures = []
    for mode, rerank in MODES:
        summary = latency_summary(query_latency(retriever, questions, mode, rerank, k))
        figures.append(
            Figure(
                f"query in process, {mode}, rerank {rerank}",
                scale,
                summary["p50_ms"],
                "ms",
                _latency_target(scale, mode),
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
    detail = {"queries": len(questions), "index_type": retriever.index.manifest.get("index_type")}
    return Figure(f"dense recall@{k} vs exact search", scale, value, "recall", "recall_at_10", detail)


def disk_figure(index_dir: Path, passages: int, scale: str) -> Figure:
    """Bytes per passage: all files of the index folder over its passages (the articles not counted)."""
    sizes: Counter[str] = Counter()
    for path in index_dir.rglob("*"):
        if path.is_file():
            sizes[path.relative_to(index_dir).parts[0]] += path.stat().st_size
    total = sum(sizes.values())
    detail = {"index_bytes": total, "passages": passages, "files": dict(sizes)}
    return Figure("index on disk per passage", scale, total / max(passages, 1), "bytes", None, detail)


# ---- subprocesses: memory, cold start, the app -----------------------------------------------------

_PROBE = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from rag.retrieve import Retriever
retriever = Retriever.open(Path(sys.argv[1]), Path(sys.argv[2]))
passages = retriever.search(sys.argv[3], 5)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({
    "VmRSS": int(status["VmRSS"].split()[0]) * 1024, "VmHWM": int(status["VmHWM"].split()[0]) * 1024,
    "seconds": time.perf_counter() - started, "passages": len(passages), "backend": retriever.query_backend,
}))
"""


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, **_OFFLINE, "PYTHONUNBUFFERED": "1", **extra}


def _rag_command() -> list[str]:
    """The `rag` console script beside this Python (what users run), else the same entry point via -c."""
    script = Path(sys.executable).parent / "rag"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from rag.cli import main; main()"]


def memory_figure(index_dir: Path, corpus_dir: Path, question: str, scale: str) -> Figure:
    """VmRSS and VmHWM of a fresh process that opens the index and answers one question (defaults)."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(index_dir), str(corpus_dir), question],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=1800,
    )
    if run.returncode != 0:
        raise RagError(f"the memory probe failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    probe = json.loads(run.stdout.strip().splitlines()[-1])
    target = "memory_1m_mb" if scale == "1m" else None
    detail = {"VmRSS_MB": round(probe["VmRSS"] / 1e6, 1), "VmHWM_MB": round(probe["VmHWM"] / 1e6, 1)}
    detail |= {"open_and_answer_s": round(probe["seconds"], 2), "backend": probe["backend"]}
    return Figure("resident memory, peak (VmHWM)", scale, probe["VmHWM"] / 1e6, "MB", target, detail)


def cold_search_figure(corpus_dir: Path, index_dir: Path, question: str, runs: int = 3) -> Figure:
    """Wall clock of `rag search QUESTION` processes, start to exit (first answer printed)."""
    cmd = [*_rag_command(), "search", question, "--corpus", str(corpus_dir), "--index", str(index_dir)]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
        seconds.append(time.perf_counter() - started)
        if run.returncode != 0 or "[1]" not in run.stdout:
            raise RagError(f"rag search failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    detail = {"runs_s": [round(s, 2) for s in seconds], "command": "rag search QUESTION --corpus C --index I"}
    value = percentile(seconds, 50)
    return Figure("cold start, rag search (median)", "seed", value, "s", "cold_start_search_s", detail)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """`python app.py` over one corpus and index on a free loopback port; its API timed over raw HTTP."""

    def __init__(self, corpus_dir: Path, index_dir: Path, log_path: Path, **env: str) -> None:
        app = ROOT / "app.py"
        if not app.is_file():
            raise RagError(f"{app} is missing - run rag bench from a checkout of rag, or skip --parts http")
        self.port = _free_port()
        cmd = [sys.executable, str(app), "--corpus", str(corpus_dir.resolve())]
        cmd += ["--index", str(index_dir.resolve()), "--port", str(self.port)]
        self.log_path = log_path
        with log_path.open("wb") as log_file:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=_env(**env), stdout=log_file, stderr=subprocess.STDOUT
            )
        self.conn: http.client.HTTPConnection | None = None

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def first_answer(self, question: str, timeout: float) -> float:
        """Seconds from process start until /search first returns passages for the question."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise RagError(f"app.py exited with code {self.proc.returncode} before answering: {tail}")
            try:
                self.search(question, 5, "hybrid")
                return time.perf_counter() - self.started
            except (OSError, http.client.HTTPException):
                self.conn = None
                time.sleep(0.05)
        raise RagError(f"app.py did not answer within {timeout:.0f} s (log: {self.log_path})")

    def search(self, question: str, k: int, mode: str, endpoint: str = "call") -> tuple[float, list[Any]]:
        """(seconds, passages) of one /search call: the queue API (POST + event stream) or the direct one."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        body = json.dumps({"data": [question, k, mode]})
        headers = {"Content-Type": "application/json"}
        started = time.perf_counter()
        if endpoint == "run":
            raw = self._request("POST", "/gradio_api/run/search", body, headers)
            seconds = time.perf_counter() - started
            return seconds, json.loads(raw)["data"][0]
        event_id = json.loads(self._request("POST", "/gradio_api/call/search", body, headers))["event_id"]
        stream = self._request("GET", f"/gradio_api/call/search/{event_id}").decode("utf-8")
        seconds = time.perf_counter() - started
        event, data = "", ""
        for line in stream.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line[5:].strip()
        if event != "complete":
            raise RagError(f"/search answered {event or 'nothing'}: {data[:300]}")
        return seconds, json.loads(data)[0]

    def _request(
        self, method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        assert self.conn is not None
        self.conn.request(method, url, body, headers or {})
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise RagError(f"{method} {url} answered HTTP {resp.status}: {raw[:300]!r}")
        return raw


@contextmanager
def app_server(corpus_dir: Path, index_dir: Path, log_path: Path, **env: str) -> Iterator[AppServer]:
    from .status import index_status

    if index_status(corpus_dir, index_dir).stale:  # the app would rebuild: never on a bench index
        raise RagError(f"{index_dir}/ is not up to date with {corpus_dir}/ - the app would rebuild it")
    app = AppServer(corpus_dir, index_dir, log_path, **env)
    try:
        yield app
    finally:
        app.stop()


def http_pass(app: AppServer, questions: list[str], mode: str, endpoint: str, k: int = 10) -> list[float]:
    """Seconds per /search round trip (request sent to response read), after one warm-up request."""
    app.search(WARM_UP, k, mode, endpoint)
    seconds = []
    for q in questions:
        took, passages = app.search(q, k, mode, endpoint)
        if not passages:
            raise RagError(f"/search returned no passages for {q!r}")
        seconds.append(took)
    return seconds


def http_figures(
    corpus_dir: Path,
    index_dir: Path,
    log_path: Path,
    questions: list[str],
    in_process: dict[str, Figure],
    scale: str,
    k: int = 10,
) -> list[Figure]:
    """/search over HTTP (rerank none) per endpoint and mode, and its overhead over the same in process.

    Each pass gets a freshly started app: the app caches question vectors, so a second pass over the
    same questions would skip embedding them.
    """
    figures, starts = [], []
    for endpoint in ("call", "run"):
        for mode in ("dense", "hybrid"):
            url = f"/gradio_api/{endpoint}/search"
            with app_server(corpus_dir, index_dir, log_path, RAG_RERANK="none") as app:
                started = app.first_answer(WARM_UP, timeout=1800)
                starts.append(round(started, 2))
                summary = latency_summary(http_pass(app, questions, mode, endpoint, k))
            detail = {**summary, "endpoint": url, "rerank": "none", "k": k, "app_start_s": round(started, 2)}
            figures.append(
                Figure(f"query over HTTP {url}, {mode}", scale, summary["p50_ms"], "ms", None, detail)
            )
            if (base := in_process.get(mode)) is not None:
                overhead = summary["p50_ms"] - base.value
                detail = {"http_p50_ms": summary["p50_ms"], "in_process_p50_ms": base.value, "endpoint": url}
                figures.append(
                    Figure(f"HTTP overhead {url}, {mode}", scale, overhead, "ms", "http_overhead_ms", detail)
                )
    detail = {"starts_s": starts, "rerank": "none", "how": "python app.py until /search first answers"}
    return [
        Figure("app start to first answer (median)", scale, percentile(starts, 50), "s", None, detail),
        *figures,
    ]


# ---- builds ------------------------------------------------------------------------------------------


def _subset(beir: Any, n: int) -> Any:
    return replace(beir, docs=beir.docs[:n], fingerprint=f"{beir.fingerprint}-{n}")


def _rag_build_json(corpus_dir: Path, index_dir: Path, *args: str) -> tuple[dict[str, Any], float]:
    """(BuildReport JSON, wall seconds) of a `rag build --json` process."""
    cmd = [*_rag_command(), "build", "--json", "--corpus", str(corpus_dir), "--index", str(index_dir), *args]
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=7200)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise RagError(f"rag build failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    return json.loads(run.stdout), wall


def build_figures(beir: Any, n_docs: int, model: str, cache_dir: Path, say: Say = _quiet) -> list[Figure]:
    """Cold `rag build` (fresh index folder, nothing reused) of n SciFact documents, fp32 and bf16."""
    from .beir import write_corpus

    corpus_dir = cache_dir / f"build-{beir.name}-{beir.fingerprint[:12]}-{n_docs}" / "corpus"
    write_corpus(_subset(beir, n_docs), corpus_dir)
    figures, rates = [], {}
    for precision in ("fp32", "bf16"):
        say(f"build: {n_docs:,} SciFact documents, {precision}, cold")
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix="build-") as tmp:
            report, wall = _rag_build_json(
                corpus_dir, Path(tmp) / "index", "--precision", precision, "--model", model
            )
        rates[precision] = report["passages"] / report["seconds"]
        detail = {
            "documents": n_docs,
            "passages": report["passages"],
            "embedded": report["embedded"],
            "build_s": report["seconds"],
            "embed_s": report["embed_seconds"],
            "embed_passages_per_s": round(report["embedded"] / max(report["embed_seconds"], 1e-9), 1),
            "process_wall_s": round(wall, 2),
        }
        figures.append(
            Figure(f"build, cold, {precision}", "scifact", rates[precision], "passages/s", None, detail)
        )
    ratio = rates["bf16"] / rates["fp32"]
    figures.append(Figure("build speed, bf16 / fp32", "scifact", ratio, "ratio", "build_bf16_speedup", {}))
    return figures


def _params_of(manifest: dict[str, Any]) -> tuple[Any, str]:
    """The chunking parameters and index-type flag an index was built with."""
    from .config import ChunkParams

    return ChunkParams(**manifest["chunking"]), str(manifest.get("index_type", "flat-ip")).removesuffix("-ip")


def seed_rebuild_figures(corpus_dir: Path, index_dir: Path, precision: str) -> list[Figure]:
    """Rebuild of the seed index with nothing changed: in process (a fresh embedder) and as `rag build`."""
    from .build import build
    from .embed import SentenceTransformerEmbedder
    from .index import read_manifest

    manifest = read_manifest(index_dir)
    params, index_type = _params_of(manifest)
    model = manifest["embedder"]["name"]
    embedder = SentenceTransformerEmbedder(model, precision=precision)
    report = build(corpus_dir, index_dir, embedder, params, index_type=index_type)
    detail = {"wrote": report.wrote, "articles": len(report.unchanged), "passages": report.passages}
    figures = [
        Figure(
            "rebuild, nothing changed, build()",
            "seed",
            report.seconds,
            "s",
            "rebuild_nothing_changed_seed_s",
            detail,
        )
    ]
    args = ["--model", model, "--index-type", index_type, "--chunk-words", str(params.max_words)]
    args += ["--overlap", str(params.overlap_sentences)]
    if params.prefix == "title_section":  # the CLI has no flag for another prefix: it would rebuild
        cli_report, wall = _rag_build_json(corpus_dir, index_dir, *args)
        detail = {"reported_s": cli_report["seconds"], "wrote": cli_report["wrote"]}
        figures.append(Figure("rebuild, nothing changed, rag build process", "seed", wall, "s", None, detail))
    return figures


def rebuild_figures(
    beir: Any, n_docs: int, model: str, precision: str, cache_dir: Path, say: Say = _quiet
) -> list[Figure]:
    """Rebuilds of an n-article SciFact corpus: nothing changed, and one article with a sentence appended.

    The one-changed rebuild is measured in process with the model loaded (as the app's Rebuild button
    runs it) and as a `rag build` process (which also imports torch and loads the model).
    """
    from .beir import write_corpus
    from .build import build
    from .config import ChunkParams
    from .embed import SentenceTransformerEmbedder

    base = cache_dir / f"rebuild-{beir.name}-{beir.fingerprint[:12]}-{n_docs}"
    write_corpus(_subset(beir, n_docs), base / "corpus")
    embedder = SentenceTransformerEmbedder(model, precision=precision)
    say(f"rebuild: base index of {n_docs:,} articles in {base} (built once)")
    build(base / "corpus", base / "index", embedder, ChunkParams())
    scale = f"{n_docs} articles"
    embedder.load()  # the in-process rebuild below runs with the model loaded, as the app's does
    report = build(
        base / "corpus",
        base / "index",
        SentenceTransformerEmbedder(model, precision=precision),
        ChunkParams(),
    )
    detail: dict[str, Any] = {"wrote": report.wrote, "passages": report.passages}
    figures = [Figure("rebuild, nothing changed, build()", scale, report.seconds, "s", None, detail)]
    for how in ("build()", "rag build process"):
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix="rebuild-") as tmp:
            corpus_dir, index_dir = Path(tmp) / "corpus", Path(tmp) / "index"
            shutil.copytree(base / "corpus", corpus_dir)
            shutil.copytree(base / "index", index_dir)
            changed = sorted(corpus_dir.glob("*.txt"))[n_docs // 2]
            text = changed.read_text(encoding="utf-8")
            changed.write_text(text.rstrip("\n") + APPENDED + "\n", encoding="utf-8")
            wall = float("nan")
            if how == "build()":
                got = build(corpus_dir, index_dir, embedder, ChunkParams()).to_json()
            else:
                got, wall = _rag_build_json(corpus_dir, index_dir, "--model", model, "--precision", precision)
        rest = got["seconds"] - got["embed_seconds"]
        detail = {
            "total_s": got["seconds"],
            "embed_s": got["embed_seconds"],
            "embedded_passages": got["embedded"],
            "changed": got["changed"],
            "process_wall_s": None if math.isnan(wall) else round(wall, 2),
        }
        name = f"rebuild, 1 changed, {how}, all but its embedding"
        figures.append(Figure(name, scale, rest, "s", "rebuild_one_changed_rest_s", detail))
    return figures


# ---- the whole run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchConfig:
    corpus_dir: Path
    index_dir: Path
    beir_dir: Path
    cache_dir: Path
    model: str
    precision: str = "auto"
    scales: tuple[tuple[str, int], ...] = (("seed", 0), ("100k", 100_000), ("1m", 1_000_000))
    parts: frozenset[str] = frozenset(PARTS)
    queries: int = 100
    build_docs: int | None = None
    rebuild_docs: int = 1000
    k: int = 10


@dataclass
class _Run:
    config: BenchConfig
    out_path: Path
    say: Say
    figures: list[Figure] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    started: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    load_start: tuple[float, float, float] = field(default_factory=os.getloadavg)

    def part(self, name: str, fn: Callable[..., Figure | list[Figure]], *args: Any) -> None:
        """Run fn(*args), one measurement; a failure is recorded in the report and the run goes on."""
        self.say(f"-- {name}")
        try:
            result = fn(*args)
            got = result if isinstance(result, list) else [result]
        except Exception as exc:  # noqa: BLE001 - one broken part must not lose an hour of figures
            log.debug("bench part %s failed", name, exc_info=True)
            self.errors.append({"part": name, "error": f"{type(exc).__name__}: {exc}"})
            self.say(f"{name} failed: {exc}\n{traceback.format_exc(limit=3)}")
            got = []
        for f in got:
            self.say(f"   {f.scale:>8}  {f.name}: {_fmt(_round(f.value), f.unit)}  (load {f.load[0]:.2f})")
        self.figures.extend(got)
        self.save()

    def report(self) -> dict[str, Any]:
        return {
            "bench_version": BENCH_VERSION,
            "started": self.started,
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": _machine(),
            "load_start": list(self.load_start),
            "load_end": list(os.getloadavg()),
            "config": {k: str(v) if isinstance(v, Path) else v for k, v in _config_json(self.config).items()},
            "targets": {
                k: {"op": op, "limit": limit, "what": what} for k, (op, limit, what) in TARGETS.items()
            },
            "data": self.data,
            "figures": [f.to_json() for f in self.figures],
            "ratios": _ratios(self.figures),
            "notes": self.notes,
            "errors": self.errors,
        }

    def save(self) -> None:
        self.out_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.out_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.report(), indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.out_path)


def _config_json(config: BenchConfig) -> dict[str, Any]:
    out = {k: getattr(config, k) for k in config.__dataclass_fields__}
    out["scales"] = [label for label, _ in config.scales]
    out["parts"] = sorted(config.parts)
    return out


def _machine() -> dict[str, Any]:
    from .embed import cpu_has_bf16

    model = ""
    with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
        model = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), "")
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "bf16_native": cpu_has_bf16(),
        "memory_bytes": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _ratios(figures: list[Figure]) -> list[dict[str, Any]]:
    """Variants of one run compared: hybrid/dense, rerank on/off, HTTP/in process, bf16/fp32."""
    by = {(f.scale, f.name): f.value for f in figures}
    out = []
    for scale in dict.fromkeys(f.scale for f in figures):
        pairs = [
            (
                "hybrid / dense p50, rerank none",
                "query in process, hybrid, rerank none",
                "query in process, dense, rerank none",
            ),
            (
                "rerank sentence / none p50, hybrid",
                "query in process, hybrid, rerank sentence",
                "query in process, hybrid, rerank none",
            ),
            (
                "rerank sentence / none p50, dense",
                "query in process, dense, rerank sentence",
                "query in process, dense, rerank none",
            ),
            (
                "HTTP (queue) / in process p50, hybrid",
                "query over HTTP /gradio_api/call/search, hybrid",
                "query in process, hybrid, rerank none",
            ),
        ]
        for name, top, bottom in pairs:
            if (scale, top) in by and by.get((scale, bottom)):
                out.append(
                    {"name": f"{scale}: {name}", "value": round(by[(scale, top)] / by[(scale, bottom)], 3)}
                )
    for name in ("query in process, hybrid, rerank none", "query in process, dense, rerank none"):
        if ("100k", name) in by and by.get(("1m", name)) and by[("100k", name)]:
            out.append(
                {"name": f"1m / 100k p50: {name}", "value": round(by[("1m", name)] / by[("100k", name)], 3)}
            )
    return out


def run_bench(config: BenchConfig, out_path: Path, say: Say = _quiet) -> dict[str, Any]:
    """Measure every selected part at every selected scale; the report is saved after each part."""
    out_path.parent.mkdir(parents=True, exist_ok=True)  # app logs are written beside the report
    run = _Run(config, out_path, say)
    if "seed" in (label for label, _ in config.scales):
        _seed(run)
    beir = None
    big = [(label, n) for label, n in config.scales if label != "seed"]
    if {"build", "rebuild"} & config.parts or (
        big and {"latency", "recall", "http", "memory"} & config.parts
    ):
        from .beir import load_beir

        beir = load_beir(config.beir_dir)
    if beir is not None and "build" in config.parts:
        n = min(config.build_docs or len(beir.docs), len(beir.docs))
        run.part("build throughput", build_figures, beir, n, config.model, config.cache_dir, say)
    if beir is not None and "rebuild" in config.parts:
        n = min(config.rebuild_docs, len(beir.docs))
        args = (beir, n, config.model, config.precision, config.cache_dir, say)
        run.part("incremental rebuild", rebuild_figures, *args)
    if beir is not None and big and {"latency", "recall", "http", "memory"} & config.parts:
        _scales(run, beir, big)
    run.say(f"saved {out_path}")
    run.save()
    return run.report()


def _seed(run: _Run) -> None:
    """Every figure on the seed corpus; the seed index is built first when missing or stale."""
    from .build import build
    from .config import Settings
    from .embed import SentenceTransformerEmbedder
    from .status import index_status

    c = run.config
    status = index_status(c.corpus_dir, c.index_dir)
    if status.stale:
        run.say(f"seed: {c.index_dir}/ is {status.problem or 'stale'} - building it as rag build would")
        s = Settings()
        embedder = SentenceTransformerEmbedder(c.model, batch_size=s.batch_size, precision=c.precision)
        build(c.corpus_dir, c.index_dir, embedder, s.chunking, index_type=s.index_type)
    questions = seed_questions()
    passages = int(index_status(c.corpus_dir, c.index_dir).manifest["counts"]["chunks"])
    run.data["seed"] = {"corpus": str(c.corpus_dir), "index": str(c.index_dir), "passages": passages}
    run.data["seed"] |= {"questions": len(questions), "built_by_bench": status.stale}
    if "coldstart" in c.parts:
        run.part("seed: cold start, rag search", cold_search_figure, c.corpus_dir, c.index_dir, questions[0])
        run.part("seed: cold start, app", _cold_app_figure, c, questions[0])
    _one_scale(run, "seed", passages, c.corpus_dir, c.index_dir, questions)
    if "rebuild" in c.parts:
        run.part("seed: rebuild", seed_rebuild_figures, c.corpus_dir, c.index_dir, c.precision)


def _no_rerank(figures: list[Figure], scale: str) -> dict[str, Figure]:
    """The in-process figures without rerank, by mode: what the HTTP figures are compared with."""
    return {
        mode: f
        for f in figures
        for mode in ("dense", "hybrid")
        if f.scale == scale and f.name == f"query in process, {mode}, rerank none"
    }


def _cold_app_figure(c: BenchConfig, question: str) -> Figure:
    with (
        tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp,
        app_server(c.corpus_dir, c.index_dir, Path(tmp) / "app.log") as app,
    ):
        seconds = app.first_answer(question, timeout=300)  # the app's defaults: rerank sentence
    detail = {"how": "python app.py started, /gradio_api/call/search polled until passages come back"}
    return Figure("cold start, app to first answer", "seed", seconds, "s", "cold_start_app_s", detail)


def _http(
    run: _Run,
    corpus_dir: Path,
    index_dir: Path,
    questions: list[str],
    in_process: dict[str, Figure],
    scale: str,
) -> list[Figure]:
    log_path = run.out_path.with_name(f"{run.out_path.stem}-app-{scale}.log")
    return http_figures(corpus_dir, index_dir, log_path, questions, in_process, scale, run.config.k)


def _scales(run: _Run, beir: Any, scales: list[tuple[str, int]]) -> None:
    """The figures at each large scale, on cached bench indexes of real plus generated passages."""
    from .embed import SentenceTransformerEmbedder
    from .onnx_embed import ensure_export

    c = run.config
    embedder = SentenceTransformerEmbedder(c.model, precision=c.precision)
    real = scifact_passages(beir, embedder, c.cache_dir, run.say)
    ensure_export(embedder)  # questions go through the ONNX export, as in rag search and the app
    meta = {
        "name": c.model,
        "dim": embedder.dim,
        "fingerprint": embedder.fingerprint,
        "precision": embedder.precision,
    }
    questions = [q.question for q in beir.queries]
    for label, n in scales:
        try:
            corpus_dir, index_dir, description = scale_index(n, real, meta, c.cache_dir, run.say)
        except Exception as exc:  # noqa: BLE001 - the other scales can still be measured
            run.errors.append({"part": f"{label}: make the index", "error": f"{type(exc).__name__}: {exc}"})
            run.say(f"{label}: making the index failed: {exc}")
            continue
        run.data[label] = description
        run.notes.append(
            f"{label}: {description['real_passages']:,} real SciFact passages (real vectors) +"
            f" {description['generated_passages']:,} generated ({description['generated']});"
            f" {description['index_type']}"
        )
        _one_scale(run, label, n, corpus_dir, index_dir, questions)


def _one_scale(
    run: _Run, label: str, n: int, corpus_dir: Path, index_dir: Path, questions: list[str]
) -> None:
    from .retrieve import Retriever

    c = run.config
    timed = questions[: c.queries]
    in_process: dict[str, Figure] = {}
    if {"latency", "recall", "http"} & c.parts:
        retriever = Retriever.open(index_dir, corpus_dir)
        if "recall" in c.parts:
            run.part(f"{label}: dense recall", recall_figure, retriever, questions, label, c.k)
        if "latency" in c.parts:
            run.part(f"{label}: latency in process", latency_figures, retriever, timed, label, c.k)
            in_process = _no_rerank(run.figures, label)
        del retriever
        if "http" in c.parts:
            run.part(f"{label}: HTTP", _http, run, corpus_dir, index_dir, timed, in_process, label)
    if "memory" in c.parts:
        run.part(f"{label}: memory", memory_figure, index_dir, corpus_dir, questions[0], label)
        run.part(f"{label}: disk", disk_figure, index_dir, n, label)
