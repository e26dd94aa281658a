"""The measuring commands of `rag`: `rag eval` (retrieval and answers on a query file or a BEIR folder)
and `rag bench` (speed, memory and scale against their targets).

Like cli.py, they parse flags and print; the Assistant (assistant.py) and rag/bench/ do the work.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from .cli_options import folder_options, retrieval_options, setting_option, settings_from, store_option
from .config import cache_root


@click.command(name="eval")
@folder_options
@click.argument("query_file", type=click.Path(path_type=Path), required=False)
@click.option(
    "--beir",
    "beir_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Evaluate on a BEIR folder (corpus.jsonl, queries.jsonl, qrels/test.tsv) instead.",
)
@click.option(
    "-k", "depth", type=click.IntRange(min=1), default=None, help="Ranking depth (default 10; BEIR 100)."
)
@retrieval_options
@store_option
@click.option("--model", default=None, help="BEIR only: the model to build the benchmark index with.")
@click.option(
    "--chunk-words",
    type=click.IntRange(min=0),
    default=None,
    help="BEIR only: passage size in words; 0 (default) keeps whole documents.",
)
@click.option(
    "--overlap", type=click.IntRange(min=0, max=5), default=None, help="BEIR only: overlap sentences."
)
@setting_option(
    "--precision",
    "precision",
    "BEIR only: passage embedding precision (default auto: bf16 where the CPU has it).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="BEIR only: where benchmark corpora and indexes are kept (default ~/.cache/rag/beir).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder for the saved run and its plot (default eval/runs).",
)
@click.option(
    "--compare",
    "compare_path",
    type=click.Path(path_type=Path),
    default=None,
    help="A saved run to compare with: lists improved and regressed queries, paired tests.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics (and comparison) as JSON.")
def eval_(
    corpus_dir: Path | None,
    index_dir: Path | None,
    query_file: Path | None,
    beir_dir: Path | None,
    depth: int | None,
    model: str | None,
    chunk_words: int | None,
    overlap: int | None,
    precision: str | None,
    cache_dir: Path | None,
    out_dir: Path | None,
    compare_path: Path | None,
    as_json: bool,
    **retrieval: Any,
) -> None:
    """Measure retrieval on QUERY_FILE (span-labelled JSONL) or a BEIR folder."""
    from .assistant import Assistant
    from .errors import QueryError
    from .evaluation import evalreport

    if (query_file is None) == (beir_dir is None):
        raise QueryError("give either a query file or --beir DIR - e.g. rag eval eval/queries.jsonl")
    if beir_dir is not None and retrieval.get("store"):
        raise QueryError(
            "--beir builds its own index folder in the cache - drop --store (or unset RAG_STORE)"
        )
    before = evalreport.load_run(compare_path) if compare_path else None
    assistant = Assistant(settings_from(corpus_dir, index_dir, model=model, precision=precision, **retrieval))
    if beir_dir is not None:
        run, label, published = assistant.evaluate_beir(
            beir_dir,
            depth=depth or 100,
            chunk_words=chunk_words or 0,
            overlap=overlap or 0,
            cache_dir=cache_dir,
            say=lambda line: click.echo(line, err=True),
        )
    else:
        assert query_file is not None
        say = lambda line: click.echo(line, err=True)  # noqa: E731
        run = assistant.evaluate(query_file, depth=depth or 10, progress=True, say=say)
        label, published = query_file.stem, {}
    out_dir = out_dir or assistant.settings.runs_dir
    saved = evalreport.save_run(run, out_dir, label)
    comparison = evalreport.compare(before, run) if before else None
    if as_json:
        out = {
            "metrics": run.metrics,
            "answers": run.answers,
            "latency_ms": run.latency_ms,
            "seconds": run.seconds,
            "run": str(saved),
            "published": published,
            "comparison": comparison.to_json() if comparison else None,
        }
        click.echo(json.dumps(out, indent=2))
        return
    for line in evalreport.table_lines(run, published):
        click.echo(line)
    click.echo(f"saved {saved} and {saved.with_suffix('.png')}")
    for line in comparison.lines() if comparison else []:
        click.echo(line)
    for line in evalreport.answer_diffs(before, run) if before else []:
        click.echo(line)


@click.command(name="bench")
@folder_options
@click.option(
    "--scales",
    default="seed,100k,1m",
    help="Index sizes: seed (the --corpus/--index articles) and passage counts such as 100k, 1m"
    " (default seed,100k,1m).",
)
@click.option(
    "--parts",
    default="latency,recall,http,memory,coldstart,browser,build,rebuild",
    help="What to measure, a comma-separated subset of latency,recall,http,memory,coldstart,browser,build,"
    "rebuild, scale-rebuild (rebuilds of a generated corpus at each non-seed scale) and store (the PostgreSQL"
    " store beside the folder index); the last two are not in the default.",
)
@click.option(
    "--queries",
    "n_queries",
    type=click.IntRange(min=1),
    default=100,
    help="Questions timed per setting (default 100).",
)
@click.option(
    "--build-docs",
    type=click.IntRange(min=1),
    default=None,
    help="SciFact documents for the build throughput (default all 5,183).",
)
@click.option(
    "--rebuild-docs",
    type=click.IntRange(min=2),
    default=1000,
    help="Articles in the incremental-rebuild corpus (default 1000).",
)
@click.option(
    "--beir",
    "beir_dir",
    type=click.Path(path_type=Path),
    default=Path("../shared/bench/scifact"),
    help="The SciFact BEIR folder (default ../shared/bench/scifact).",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where embedded SciFact vectors and scale indexes are kept (default ~/.cache/rag/bench).",
)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=None,
    help="The JSON report (default build/bench/bench-<timestamp>.json; the table is saved beside it).",
)
@click.option(
    "--store",
    "store_dsn",
    default="",
    help="The PostgreSQL (postgresql://...) --parts store measures, in schemas rag_bench_* it drops and"
    " makes again; default: a throwaway local server.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON instead of the table.")
def bench(
    corpus_dir: Path | None,
    index_dir: Path | None,
    scales: str,
    parts: str,
    n_queries: int,
    build_docs: int | None,
    rebuild_docs: int,
    beir_dir: Path,
    cache_dir: Path | None,
    out_path: Path | None,
    store_dsn: str,
    as_json: bool,
) -> None:
    """Measure latency, recall, build speed, rebuilds, memory and cold starts against their targets."""
    import time

    from .bench import BenchConfig, parse_parts, parse_scales, run_bench, table_lines

    s = settings_from(corpus_dir, index_dir)
    config = BenchConfig(
        corpus_dir=s.corpus_dir,
        index_dir=s.index_dir,
        beir_dir=beir_dir,
        cache_dir=cache_dir or (s.cache_dir or cache_root()) / "bench",
        model=s.model,
        precision=s.precision,
        scales=tuple(parse_scales(scales)),
        parts=parse_parts(parts),
        queries=n_queries,
        build_docs=build_docs,
        rebuild_docs=rebuild_docs,
        store=store_dsn,
    )
    out = out_path or Path("build/bench") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = run_bench(config, out, say=lambda line: click.echo(line, err=True))
    lines = table_lines(report)
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else "\n".join(lines))
    click.echo(f"saved {out} and {out.with_suffix('.txt')}", err=True)
    if report["errors"]:
        raise click.ClickException(f"{len(report['errors'])} part(s) failed - see errors in {out}")
