"""`rag bench`: what is measured at which scale, in which order, into one report.

`run_bench` measures every selected part (latency, recall, http, memory, coldstart, browser, build,
rebuild, scale-rebuild, store) at every selected scale (the seed corpus; synthetic indexes of 100k and 1M passages) and
saves the report after each part, with the machine's load beside each figure; a failed part is recorded
and the run goes on. The measurements themselves live in inprocess.py, processes.py, builds.py and store.py.
It changes no index it did not make, except that it builds the seed index when that is missing or
stale, as `rag build` would.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import traceback
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import RagError
from .browser import browser_figure
from .builds import build_figures, rebuild_figures, scale_rebuild_figures, seed_rebuild_figures
from .inprocess import ask_figure, disk_figure, latency_figures, recall_figure
from .processes import (
    SEED_QUERIES,
    cold_app_figure,
    cold_search_figure,
    http_figures,
    memory_figure,
)
from .report import DEFAULT_PARTS, Figure, Say, quiet, ratios, targets_json
from .store import scifact_quality, store_figures
from .store import server as store_server
from .synthetic import scale_index, scifact_passages

log = logging.getLogger("rag.bench")

BENCH_VERSION = 1
SCALED = frozenset({"latency", "recall", "http", "memory", "store"})  # parts measured at 100k and 1M
SEED_FALLBACK = ["how do I avoid being clingy?", "why does a bit of mystery make someone think about you?"]


def seed_questions(path: Path = SEED_QUERIES) -> list[str]:
    """The committed eval questions (answerable or not: both are asked), or two examples."""
    from ..evaluation.queries import load_queries

    return [q.question for q in load_queries(path)] if path.is_file() else list(SEED_FALLBACK)


@dataclass(frozen=True)
class BenchConfig:
    """What `rag bench` measures, at which scales, on which folders."""

    corpus_dir: Path
    index_dir: Path
    beir_dir: Path
    cache_dir: Path
    model: str
    precision: str = "auto"
    scales: tuple[tuple[str, int], ...] = (("seed", 0), ("100k", 100_000), ("1m", 1_000_000))
    parts: frozenset[str] = frozenset(DEFAULT_PARTS)
    queries: int = 100
    build_docs: int | None = None
    rebuild_docs: int = 1000
    k: int = 10
    questions_path: Path = SEED_QUERIES  # the seed questions, asked of the seed index
    store: str = ""  # the "store" part's PostgreSQL (a DSN); "" starts a throwaway local one (pglocal.py)


@dataclass
class _Run:
    config: BenchConfig
    out_path: Path
    say: Say
    figures: list[Figure] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    dsn: str = ""  # the server of the "store" part, while run_bench runs
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
            self.say(f.line())
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
            "targets": targets_json(),
            "data": self.data,
            "figures": [f.to_json() for f in self.figures],
            "ratios": ratios(self.figures),
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
    from ..index.embed import cpu_has_bf16

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


def run_bench(config: BenchConfig, out_path: Path, say: Say = quiet) -> dict[str, Any]:
    """Measure every selected part at every selected scale; the report is saved after each part."""
    out_path.parent.mkdir(parents=True, exist_ok=True)  # app logs are written beside the report
    run = _Run(config, out_path, say)
    with ExitStack() as stack:
        if "store" in config.parts:
            run.dsn = stack.enter_context(store_server(config.store))
            run.data["store"] = {
                "server": "given (--store)" if config.store else "throwaway local (pglocal.py)"
            }
        _run_parts(run)
    run.say(f"saved {out_path}")
    run.save()
    return run.report()


def _run_parts(run: _Run) -> None:
    config = run.config
    if "seed" in (label for label, _ in config.scales):
        _seed(run)
    beir = None
    big = [(label, n) for label, n in config.scales if label != "seed"]
    if {"build", "rebuild"} & config.parts or (big and SCALED & config.parts):
        from ..evaluation.beir import load_beir

        beir = load_beir(config.beir_dir)
    if beir is not None and "build" in config.parts:
        n = min(config.build_docs or len(beir.docs), len(beir.docs))
        run.part("build throughput", build_figures, beir, n, config.model, config.cache_dir, run.say)
    if beir is not None and "rebuild" in config.parts:
        n = min(config.rebuild_docs, len(beir.docs))
        args = (beir, n, config.model, config.precision, config.cache_dir, run.say)
        run.part("incremental rebuild", rebuild_figures, *args)
    if beir is not None and big and SCALED & config.parts:
        _scales(run, beir, big)
    if "scale-rebuild" in config.parts:
        for label, n in big:
            run.part(f"{label}: rebuild at scale", scale_rebuild_figures, n, label, config.cache_dir, run.say)
    if beir is not None and "store" in config.parts:
        beir_cache = config.cache_dir.parent / "beir"  # where rag eval --beir keeps its index
        run.part(
            "scifact: quality from both stores",
            scifact_quality,
            beir,
            config.model,
            beir_cache,
            run.dsn,
            run.say,
        )


def _seed(run: _Run) -> None:
    """Every figure on the seed corpus; the seed index is built first when missing or stale."""
    from ..assistant import Assistant
    from ..config import Settings
    from ..index.status import index_status

    c = run.config
    status = index_status(c.corpus_dir, c.index_dir)
    if status.stale:
        run.say(f"seed: {c.index_dir}/ is {status.problem or 'stale'} - building it as rag build would")
        s = Settings(corpus_dir=c.corpus_dir, index_dir=c.index_dir, model=c.model, precision=c.precision)
        Assistant(s).build()
    questions = seed_questions(c.questions_path)
    built = index_status(c.corpus_dir, c.index_dir).manifest
    if built is None:
        raise RagError(f"seed: {c.index_dir}/ does not load after building it")
    passages = built.chunk_count
    run.data["seed"] = {"corpus": str(c.corpus_dir), "index": str(c.index_dir), "passages": passages}
    run.data["seed"] |= {"questions": len(questions), "built_by_bench": status.stale}
    if "coldstart" in c.parts:
        run.part("seed: cold start, rag search", cold_search_figure, c.corpus_dir, c.index_dir, questions[0])
        run.part("seed: cold start, app", cold_app_figure, c.corpus_dir, c.index_dir, questions[0])
    _one_scale(run, "seed", passages, c.corpus_dir, c.index_dir, questions)
    if "browser" in c.parts:
        log_path = run.out_path.with_name(f"{run.out_path.stem}-app-browser.log")
        args = (c.corpus_dir, c.index_dir, questions[: c.queries], log_path)
        run.part("seed: browser round trip", browser_figure, *args)
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
    from ..index.embed import SentenceTransformerEmbedder
    from ..index.manifest import EmbedderInfo
    from ..index.onnx_embed import ensure_export

    c = run.config
    embedder = SentenceTransformerEmbedder(c.model, precision=c.precision)
    real = scifact_passages(beir, embedder, c.cache_dir, run.say)
    ensure_export(embedder)  # questions go through the ONNX export, as in rag search and the app
    meta = EmbedderInfo(c.model, embedder.dim, embedder.fingerprint, embedder.precision)
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
    from ..search.retrieve import Retriever

    c = run.config
    timed = questions[: c.queries]
    in_process: dict[str, Figure] = {}
    if {"latency", "recall", "http", "store"} & c.parts:
        retriever = Retriever.open(index_dir, corpus_dir)
        if "recall" in c.parts:
            run.part(f"{label}: dense recall", recall_figure, retriever, questions, label, c.k)
        if "latency" in c.parts:
            run.part(f"{label}: latency in process", latency_figures, retriever, timed, label, c.k)
            in_process = _no_rerank(run.figures, label)
            if label == "seed":
                run.part(f"{label}: answers in process", ask_figure, retriever, timed, label)
        if "store" in c.parts:
            have = {f.name for f in run.figures if f.scale == label}
            args = (label, corpus_dir, index_dir, retriever, timed, run.dsn, c.model, c.k, have, run.say)
            run.part(f"{label}: PostgreSQL store", store_figures, *args)
        del retriever
        if "http" in c.parts:
            run.part(f"{label}: HTTP", _http, run, corpus_dir, index_dir, timed, in_process, label)
    if "memory" in c.parts:
        run.part(f"{label}: memory", memory_figure, index_dir, corpus_dir, questions[0], label)
        run.part(f"{label}: disk", disk_figure, index_dir, n, label)
