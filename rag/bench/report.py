"""The bench's figures, the targets they are held to (a table), statistics, and the printed table.

What is measured lives in inprocess.py, processes.py and builds.py; this module only describes and
formats figures, and parses the `--scales`/`--parts` options. It imports nothing heavy.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import RagError

log = logging.getLogger("rag.bench")

Say = Callable[[str], None]
# every part `--parts` accepts; DEFAULT_PARTS is what a plain `rag bench` measures
PARTS = (
    "latency", "recall", "http", "memory", "coldstart", "browser", "build", "rebuild", "scale-rebuild", "store"
)  # fmt: skip
# scale-rebuild writes and rebuilds a whole generated corpus, store needs PostgreSQL: asked for by name
DEFAULT_PARTS = PARTS[:-2]


def quiet(message: str) -> None:
    """The default `say`: progress lines go to the log."""
    log.info(message)


@dataclass(frozen=True)
class Target:
    """A target (issues #7, #12, #18): the figure's value `op` limit."""

    key: str
    op: str  # "<=" or ">="
    limit: float
    what: str

    def met(self, value: float) -> bool:
        return value <= self.limit if self.op == "<=" else value >= self.limit


TARGET_TABLE = (
    Target("query_p50_seed_ms", "<=", 10.0, "query p50 in process, seed corpus (ms)"),
    Target("query_p50_100k_ms", "<=", 15.0, "query p50 in process, 100k passages (ms)"),
    Target("query_p50_1m_hybrid_ms", "<=", 40.0, "query p50 in process, 1M passages, hybrid (ms)"),
    Target("query_p50_1m_dense_ms", "<=", 20.0, "query p50 in process, 1M passages, dense only (ms)"),
    Target("ask_p50_seed_ms", "<=", 50.0, "answer p50 in process, rag ask's default path, seed (ms)"),
    Target("recall_at_10", ">=", 0.98, "recall@10 of the index's dense search against exact search"),
    Target("http_overhead_ms", "<=", 30.0, "HTTP p50 minus in-process p50, same settings (ms)"),
    Target("cold_start_search_s", "<=", 3.0, "process start to first answer, rag search, seed (s)"),
    Target("cold_start_app_s", "<=", 15.0, "process start to first answer, app HTTP API, seed (s)"),
    Target(
        "browser_answer_seed_ms",
        "<=",
        150.0,
        "Enter to the answer rendered in headless Chromium, median, seed (ms)",
    ),
    Target("app_start_1m_s", "<=", 5.0, "process start to first answer, app HTTP API, 1M passages (s)"),
    Target("build_bf16_speedup", ">=", 2.0, "cold build passages/s, bf16 over fp32"),
    Target("rebuild_nothing_changed_seed_s", "<=", 1.0, "rebuild with nothing changed, seed (s)"),
    Target(
        "rebuild_one_changed_rest_s",
        "<=",
        1.0,
        "rebuild after 1 of 1,000 articles changed, minus its embedding (s)",
    ),
    Target(
        "rebuild_one_changed_1m_s",
        "<=",
        5.0,
        "one article changed in a 1M-passage index: build() minus its embedding (s; issue #18)",
    ),
    Target(
        "rebuild_one_changed_1m_mb",
        "<=",
        2000.0,
        "one article changed in a 1M-passage index: peak memory of the build (VmHWM, MB; issue #18)",
    ),
    Target("disk_1m_bytes", "<=", 3000.0, "index on disk per passage, 1M passages (bytes; issue #18)"),
    Target(
        "store_query_p50_100k_hybrid_ms",
        "<=",
        50.0,
        "query p50 in process from the PostgreSQL store, 100k passages, hybrid (ms; issue #15)",
    ),
    Target(
        "store_ndcg_gap",
        "<=",
        0.01,
        "SciFact nDCG@10 from the PostgreSQL store minus the folder index's, absolute (issue #15)",
    ),
    Target(
        "memory_1m_mb", "<=", 1500.0, "resident memory (VmHWM) answering from 1M passages (MB, 10^6 bytes)"
    ),
)
TARGETS = {t.key: t for t in TARGET_TABLE}
# (scale, mode) -> the target of the in-process query p50; scales not listed have none
LATENCY_TARGETS = {
    ("seed", "dense"): "query_p50_seed_ms",
    ("seed", "hybrid"): "query_p50_seed_ms",
    ("100k", "dense"): "query_p50_100k_ms",
    ("100k", "hybrid"): "query_p50_100k_ms",
    ("1m", "dense"): "query_p50_1m_dense_ms",
    ("1m", "hybrid"): "query_p50_1m_hybrid_ms",
}
# (ratio name, numerator figure, denominator figure), compared within each scale of one run
RATIOS = (
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
)
STORE = "store: "  # the name of a PostgreSQL store's figure is this + the folder's figure's name
# figures also compared across scales, 1m over 100k
SCALE_RATIOS = ("query in process, hybrid, rerank none", "query in process, dense, rerank none")


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
        return TARGETS[self.target].met(self.value)

    def to_json(self) -> dict[str, Any]:
        target = TARGETS.get(self.target or "")
        return {
            "name": self.name,
            "scale": self.scale,
            "value": round_figure(self.value),
            "unit": self.unit,
            "target": {"key": target.key, "op": target.op, "limit": target.limit} if target else None,
            "met": self.met,
            "load": [round(x, 2) for x in self.load],
            "detail": self.detail,
        }

    def line(self) -> str:
        """The progress line printed as the figure is measured."""
        value = fmt(round_figure(self.value), self.unit)
        return f"   {self.scale:>8}  {self.name}: {value}  (load {self.load[0]:.2f})"


def targets_json() -> dict[str, dict[str, Any]]:
    return {t.key: {"op": t.op, "limit": t.limit, "what": t.what} for t in TARGET_TABLE}


def round_figure(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4 if abs(x) < 10 else 1)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), numpy's (linear interpolation), with a clear error for no values."""
    if not values:
        raise ValueError("percentile of no values")
    return float(np.percentile(values, q))


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """n, p50, p95, mean and max in milliseconds of per-call seconds."""
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 2),
        "p95_ms": round(percentile(ms, 95), 2),
        "mean_ms": round(sum(ms) / len(ms), 2),
        "max_ms": round(max(ms), 2),
    }


def ratios(figures: list[Figure]) -> list[dict[str, Any]]:
    """Variants of one run compared: hybrid/dense, rerank on/off, HTTP/in process, 1m/100k."""
    by = {(f.scale, f.name): f.value for f in figures}
    out = []
    for scale in dict.fromkeys(f.scale for f in figures):
        for name, top, bottom in RATIOS:
            if (scale, top) in by and by.get((scale, bottom)):
                out.append(
                    {"name": f"{scale}: {name}", "value": round(by[(scale, top)] / by[(scale, bottom)], 3)}
                )
    for (scale, name), value in by.items():  # each store figure over the folder's (bench/store.py)
        folder = by.get((scale, name.removeprefix(STORE)))
        if name.startswith(STORE) and folder:
            out.append({"name": f"{scale}: {name} / folder", "value": round(value / folder, 3)})
    for name in SCALE_RATIOS:
        if ("100k", name) in by and by.get(("1m", name)) and by[("100k", name)]:
            out.append(
                {"name": f"1m / 100k p50: {name}", "value": round(by[("1m", name)] / by[("100k", name)], 3)}
            )
    return out


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
    """'latency,memory' -> the parts to measure; anything not in PARTS is refused."""
    parts = {p.strip() for p in text.split(",") if p.strip()}
    if not parts or parts - set(PARTS):
        raise RagError(f"--parts: {text!r} - use a comma-separated subset of {','.join(PARTS)}")
    return frozenset(parts)


def table_lines(report: dict[str, Any]) -> list[str]:
    """The report as the table `rag bench` prints: each figure beside its target and the load."""
    rows = [("figure", "scale", "value", "target", "met", "load 1m")]
    for f in report["figures"]:
        t = f["target"]
        target = f"{t['op']} {fmt(t['limit'], f['unit'])}" if t else ""
        met = "" if f["met"] is None else ("yes" if f["met"] else "NO")
        value = fmt(f["value"], f["unit"])
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


def fmt(value: float | None, unit: str) -> str:
    """A value with its unit as the table shows it."""
    if value is None:
        return "n/a"
    if unit in ("ms", "s"):
        return f"{value:.1f} {unit}" if value >= 10 or unit == "ms" else f"{value:.2f} {unit}"
    if unit == "MB":
        return f"{value:,.0f} MB"
    if unit in ("bytes", "passages/s"):
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.1f} {unit}"
    return f"{value:.3f}" + ("x" if unit == "ratio" else "")
