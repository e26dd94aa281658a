"""Build figures: cold builds (fp32 and bf16), incremental rebuilds, and rebuilds at scale.

Builds run through the product's own build(), in process or as `rag build --json` processes. The
scale-rebuild part (`rag bench --parts scale-rebuild --scales 1m`) times rebuilds of a generated corpus
of about n passages with a stand-in embedder (synthetic.RandomEmbedder): everything but the model is the
real path (reading, cleaning, chunking, the keyword index, the vector index, the atomic swap).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import RagError
from .processes import process_env, rag_command
from .report import Figure, Say, quiet
from .synthetic import RandomEmbedder, write_generated_corpus

APPENDED = " This sentence was appended by rag bench to change one article."
PARAGRAPHS = 100  # paragraphs per generated article in the scale-rebuild corpus
PASSAGES_PER_ARTICLE = 114  # what the chunker makes of PARAGRAPHS of them (1,003,200 from 8,800 articles)
STEPS = 10  # the scale-rebuild corpus is built in this many parts, so no build holds all of it at once


def _subset(beir: Any, n: int) -> Any:
    return replace(beir, docs=beir.docs[:n], fingerprint=f"{beir.fingerprint}-{n}")


def rag_build_json(corpus_dir: Path, index_dir: Path, *args: str) -> tuple[dict[str, Any], float]:
    """(BuildReport JSON, wall seconds) of a `rag build --json` process."""
    cmd = [*rag_command(), "build", "--json", "--corpus", str(corpus_dir), "--index", str(index_dir), *args]
    started = time.perf_counter()
    run = subprocess.run(cmd, capture_output=True, text=True, env=process_env(), timeout=7200)
    wall = time.perf_counter() - started
    if run.returncode != 0:
        raise RagError(f"rag build failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    return json.loads(run.stdout), wall


def build_figures(beir: Any, n_docs: int, model: str, cache_dir: Path, say: Say = quiet) -> list[Figure]:
    """Cold `rag build` (fresh index folder, nothing reused) of n SciFact documents, fp32 and bf16."""
    from ..evaluation.beir import write_corpus

    corpus_dir = cache_dir / f"build-{beir.name}-{beir.fingerprint[:12]}-{n_docs}" / "corpus"
    write_corpus(_subset(beir, n_docs), corpus_dir)
    figures, rates = [], {}
    for precision in ("fp32", "bf16"):
        say(f"build: {n_docs:,} SciFact documents, {precision}, cold")
        with tempfile.TemporaryDirectory(dir=cache_dir, prefix="build-") as tmp:
            report, wall = rag_build_json(
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


def seed_rebuild_figures(corpus_dir: Path, index_dir: Path, precision: str) -> list[Figure]:
    """Rebuild of the seed index with nothing changed: in process (a fresh embedder) and as `rag build`."""
    from ..index import manifest
    from ..index.build import build
    from ..index.embed import SentenceTransformerEmbedder

    built = manifest.read(index_dir)
    model, params, index_type = built.embedder.name, built.chunking, built.index_type.removesuffix("-ip")
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
        cli_report, wall = rag_build_json(corpus_dir, index_dir, *args)
        detail = {"reported_s": cli_report["seconds"], "wrote": cli_report["wrote"]}
        figures.append(Figure("rebuild, nothing changed, rag build process", "seed", wall, "s", None, detail))
    return figures


def rebuild_figures(
    beir: Any, n_docs: int, model: str, precision: str, cache_dir: Path, say: Say = quiet
) -> list[Figure]:
    """Rebuilds of an n-article SciFact corpus: nothing changed, and one article with a sentence appended.

    The one-changed rebuild is measured in process with the model loaded (as the app's Rebuild button
    runs it) and as a `rag build` process (which also imports torch and loads the model).
    """
    from ..config import ChunkParams
    from ..evaluation.beir import write_corpus
    from ..index.build import build
    from ..index.embed import SentenceTransformerEmbedder

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
                got, wall = rag_build_json(corpus_dir, index_dir, "--model", model, "--precision", precision)
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


def scale_rebuild_figures(n: int, scale: str, cache_dir: Path, say: Say = quiet) -> list[Figure]:
    """A build of a generated corpus of about n passages, then one article changed, then nothing changed.

    The corpus is generated once and added to the corpus folder in STEPS parts, a build after each (the
    first writes the index, the others append segments), so the first build's memory is that of a
    part, not of all n passages at once. After the one-article build, another article is changed each
    build until one merges the appended segments (append.MAX_SEGMENTS, at most that many builds): that
    build is timed beside the same targets. The corpus and index stay under cache_dir, so a second run
    times only the rebuilds (its first figure is then whatever changed since the last run: the one article).
    The one-article and nothing-changed builds run each in a process of its own, as `rag build` would: this
    process remembers the files its builds read, a new one has only what the index keeps. Each figure's
    detail has the build's peak memory and the bytes it wrote.
    """
    from ..index.append import MAX_SEGMENTS

    articles = max(1, -(-n // PASSAGES_PER_ARTICLE))
    root = cache_dir / f"scale-rebuild-{articles}x{PARAGRAPHS}"
    corpus_dir, index_dir, pending = root / "corpus", root / "index", root / "corpus.pending"
    if not corpus_dir.is_dir() and not pending.is_dir():
        say(f"scale rebuild: writing {articles:,} articles of {PARAGRAPHS} paragraphs to {pending}")
        partial = root / "corpus.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_generated_corpus(partial, articles, PARAGRAPHS)
        partial.rename(pending)
    corpus_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    waiting = sorted(pending.glob("*.txt")) if pending.is_dir() else []
    step = max(1, -(-articles // STEPS))
    for start in range(0, len(waiting), step):  # resumed where an interrupted run stopped
        for path in waiting[start : start + step]:
            path.rename(corpus_dir / path.name)
        what = f"first build, articles {start + 1:,}-{min(start + step, len(waiting)):,} of {len(waiting):,}"
        figures.append(_timed_build(corpus_dir, index_dir, what, scale, say))
    if pending.is_dir():
        pending.rmdir()
    if not figures:
        figures.append(_timed_build(corpus_dir, index_dir, "what changed since the last run", scale, say))
    article = sorted(corpus_dir.glob("*.txt"))[min(7, articles - 1)]
    _change(article)
    one = _timed_build(corpus_dir, index_dir, "1 article changed", scale, say, fresh=True)
    figures += [one, *_one_article_figures(one, "one article changed", scale)]
    # Another article changed each time, so that the merge carries the earlier ones' passages over
    # (changing one article again and again would leave the merged segments nothing live).
    for again in range(2, MAX_SEGMENTS + 3):  # changes until the build that merges the appended segments
        _change(sorted(corpus_dir.glob("*.txt"))[(7 + again) % articles])
        one = _timed_build(
            corpus_dir, index_dir, f"1 article changed, change {again}", scale, say, fresh=True
        )
        if one.detail["merged"] or one.detail["full_write"]:
            what = "the merging build (1 article changed)" if one.detail["merged"] else "a full write"
            figures += [one, *_one_article_figures(one, what, scale)]
            break
    figures.append(_timed_build(corpus_dir, index_dir, "nothing changed", scale, say, fresh=True))
    return figures


def _change(article: Path) -> None:
    with article.open("a", encoding="utf-8") as fh:
        fh.write(f"\nOne more paragraph, at {time.time()}.\n")


def _one_article_figures(one: Figure, what: str, scale: str) -> list[Figure]:
    """A one-article build's seconds minus embedding and peak memory (beside issue #18's targets at 1M),
    and its bytes written."""
    target = "1m" if scale == "1m" else ""
    rest = one.value - one.detail["embed_seconds"]
    name = f"{what} at {scale}, build() minus embedding"
    seconds = f"rebuild_one_changed_{target}_s" if target else None
    memory = f"rebuild_one_changed_{target}_mb" if target else None
    written = {k: one.detail[k] for k in ("segment", "merged", "carried", "full_write")}
    return [
        Figure(name, scale, rest, "s", seconds, one.detail),
        Figure(
            f"{what} at {scale}, peak memory (VmHWM)", scale, one.detail["peak_memory_mb"], "MB", memory, {}
        ),
        Figure(f"{what} at {scale}, bytes written", scale, one.detail["written_mb"], "MB", None, written),
    ]


# A build in a process of its own, as `rag build` runs one: nothing of the corpus remembered in memory.
_FRESH = (
    "import json, sys; from pathlib import Path; from rag.bench.builds import measured_build;"
    " print(json.dumps(measured_build(Path(sys.argv[1]), Path(sys.argv[2]))))"
)


def _timed_build(
    corpus_dir: Path, index_dir: Path, what: str, scale: str, say: Say, *, fresh: bool = False
) -> Figure:
    """A build with the stand-in embedder, in this process or (`fresh`) in a new one: this process
    remembers each file it read by its stat (read.py), a new `rag build` process only what the index
    keeps (line_facts.py)."""
    say(f"scale rebuild: {what}")
    if fresh:
        started = time.perf_counter()
        cmd = [sys.executable, "-c", _FRESH, str(corpus_dir), str(index_dir)]
        run = subprocess.run(cmd, capture_output=True, text=True, env=process_env(), timeout=7200)
        wall = time.perf_counter() - started
        if run.returncode != 0:
            raise RagError(f"the build process failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
        detail = json.loads(run.stdout.splitlines()[-1]) | {
            "process": "fresh",
            "process_wall_s": round(wall, 2),
        }
    else:
        detail = measured_build(corpus_dir, index_dir) | {
            "process": "the bench's (files read before remembered)"
        }
    seconds = detail.pop("build_s")
    return Figure(f"rebuild at scale, {what}, stand-in embedder", scale, seconds, "s", None, detail)


def measured_build(corpus_dir: Path, index_dir: Path) -> dict[str, Any]:
    """build() with the stand-in embedder: its report, its seconds (build_s), this process's peak memory
    over it and the bytes it wrote."""
    from ..config import ChunkParams
    from ..index.build import build

    embedder = RandomEmbedder()
    _reset_peak_memory()
    written = _bytes_written()
    started = time.perf_counter()
    report = build(corpus_dir, index_dir, embedder, ChunkParams())
    seconds = time.perf_counter() - started
    detail = {k: v for k, v in report.to_json().items() if k not in ("unchanged", "changed", "added")}
    detail |= {"embedder": f"{embedder.name} (a stand-in: each text hashed to a random unit vector)"}
    return detail | {
        "build_s": seconds,
        "peak_memory_mb": _peak_memory_mb(),
        "written_mb": round((_bytes_written() - written) / 1e6, 1),
    }


def _reset_peak_memory() -> None:
    """Start VmHWM afresh (Linux: writing 5 to clear_refs), so it is the peak of what follows."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_memory_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) * 1024 / 1e6, 1)
    return math.nan


def _bytes_written() -> int:
    """Bytes this process has passed to write(2) and the like (/proc/self/io wchar)."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("wchar:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
