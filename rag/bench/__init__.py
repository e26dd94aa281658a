"""`rag bench`: speed, size and recall of the real code paths, set against the targets of issue #7.

The package, by concern:
  report.py     Figure, the targets table, percentiles, the printed table, --scales/--parts parsing
  synthetic.py  the 100k/1M indexes (real SciFact passages plus generated ones) and generated corpora
  inprocess.py  query latency, dense recall against exact search, bytes on disk
  processes.py  resident memory, cold starts, the app over HTTP (started as `rag serve`)
  builds.py     cold builds, incremental rebuilds, rebuilds at scale with a stand-in embedder
  store.py      the PostgreSQL store beside the folder index on the same data (--parts store)
  run.py        BenchConfig and run_bench: which part at which scale, into one saved report
It does not measure answer quality (evaluate.py). Nothing is stubbed but the model of scale-rebuild.
"""

from __future__ import annotations

from .builds import scale_rebuild_figures
from .inprocess import MODES, dense_recall, exact_top, recall_at_k
from .report import (
    DEFAULT_PARTS,
    PARTS,
    TARGET_TABLE,
    TARGETS,
    Figure,
    Target,
    latency_summary,
    parse_parts,
    parse_scales,
    percentile,
    table_lines,
)
from .run import BenchConfig, run_bench
from .synthetic import (
    PER_ARTICLE,
    WORDS,
    RandomEmbedder,
    RealPassages,
    generated_texts,
    random_unit_vectors,
    write_scale_index,
)

__all__ = [
    "DEFAULT_PARTS",
    "MODES",
    "PARTS",
    "PER_ARTICLE",
    "TARGETS",
    "TARGET_TABLE",
    "WORDS",
    "BenchConfig",
    "Figure",
    "RandomEmbedder",
    "RealPassages",
    "Target",
    "dense_recall",
    "exact_top",
    "generated_texts",
    "latency_summary",
    "parse_parts",
    "parse_scales",
    "percentile",
    "random_unit_vectors",
    "recall_at_k",
    "run_bench",
    "scale_rebuild_figures",
    "table_lines",
    "write_scale_index",
]
