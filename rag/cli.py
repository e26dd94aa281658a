"""The `rag` command: build, search, info.

Resolves settings (flag > RAG_* environment variable > default) and turns every RagError into one
line on stderr with exit code 1. Heavy libraries load only inside the commands that need them, so
`rag --help` is instant. The work itself lives in build.py, retrieve.py and index_folder.py.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .config import Settings
from .errors import RagError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # disk full, permission denied while writing
            where = f" {exc.filename}" if exc.filename else ""
            raise click.ClickException(
                f"cannot write{where}: {exc.strerror} - free disk space or fix permissions;"
                " the previous index is untouched"
            ) from None


def _folders(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--index",
        "index_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Index folder (default: index/, or $RAG_INDEX).",
    )(fn)
    fn = click.option(
        "--corpus",
        "corpus_dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Articles folder (default: corpus/, or $RAG_CORPUS).",
    )(fn)
    return fn


def _retrieval_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--rerank",
        type=click.Choice(["sentence", "none"]),
        default=None,
        help="Re-order the top 10 by their best sentence's similarity (sentence; default, or $RAG_RERANK) or not.",
    )(fn)
    fn = click.option(
        "--fusion-depth",
        type=click.IntRange(min=1),
        default=None,
        help="Passages each ranker contributes to hybrid fusion (default 200, or $RAG_FUSION_DEPTH).",
    )(fn)
    fn = click.option(
        "--fusion",
        type=click.Choice(["zscore", "rrf"]),
        default=None,
        help="How rankings combine (hybrid's two, and the sentence rerank with retrieval): summed"
        " standardised scores (zscore; default, or $RAG_FUSION) or reciprocal rank fusion (rrf).",
    )(fn)
    fn = click.option(
        "--mode",
        type=click.Choice(["hybrid", "dense", "keyword"]),
        default=None,
        help="Retrieval: hybrid (keyword + dense, fused; default, or $RAG_RETRIEVAL), dense or keyword.",
    )(fn)
    return fn


def _settings(corpus_dir: Path | None, index_dir: Path | None, **overrides: Any) -> Settings:
    s = Settings.from_env()
    s = replace(s, corpus_dir=corpus_dir or s.corpus_dir, index_dir=index_dir or s.index_dir)
    return replace(s, **{k: v for k, v in overrides.items() if v is not None})


@click.group(cls=_Group)
@click.version_option(package_name="rag")
def main() -> None:
    """Offline question answering over a folder of articles, with exact citations."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


@main.command()
@_folders
@click.option(
    "--model", default=None, help="sentence-transformers model name or folder (default: $RAG_MODEL)."
)
@click.option("--chunk-words", type=click.IntRange(min=10), default=None, help="Largest passage, in words.")
@click.option(
    "--overlap", type=click.IntRange(min=0, max=5), default=None, help="Sentences shared by neighbours."
)
@click.option(
    "--index-type",
    type=click.Choice(["auto", "flat", "hnsw"]),
    default=None,
    help="Vector index: exact (flat) below 50,000 passages, HNSW above (auto, default; or $RAG_INDEX_TYPE).",
)
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default=None,
    help="Passage embedding precision: bf16 where the CPU has it (auto, default; or $RAG_PRECISION).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be done, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--watch", is_flag=True, help="Keep running: build again whenever articles change on disk (Ctrl-C stops)."
)
def build(
    corpus_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    chunk_words: int | None,
    overlap: int | None,
    index_type: str | None,
    precision: str | None,
    dry_run: bool,
    as_json: bool,
    watch: bool,
) -> None:
    """Build or refresh the index; only new or changed passages are embedded."""
    from .build import build as run_build
    from .embed import SentenceTransformerEmbedder

    s = _settings(corpus_dir, index_dir, model=model, precision=precision)
    params = s.chunking
    if chunk_words is not None:
        params = replace(params, max_words=chunk_words)
    if overlap is not None:
        params = replace(params, overlap_sentences=overlap)
    embedder = SentenceTransformerEmbedder(s.model, batch_size=s.batch_size, precision=s.precision)

    def once() -> None:
        try:
            report = run_build(
                s.corpus_dir,
                s.index_dir,
                embedder,
                params,
                dry_run=dry_run,
                progress=True,
                index_type=index_type or s.index_type,
            )
        except OSError as exc:
            where = exc.filename or f"{s.index_dir}/"
            raise RagError(
                f"cannot write {where}: {exc.strerror} - free disk space or fix permissions; the previous index is untouched"
            ) from None
        if as_json:
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            for line in report.lines():
                click.echo(line)

    once()
    if watch and not dry_run:
        _watch_and_build(s.corpus_dir, once)


def _watch_and_build(corpus_dir: Path, once: Callable[[], None]) -> None:
    """Build again whenever articles change on disk, until Ctrl-C; a failed build is said and waited out."""
    import threading

    from .watch import watch_corpus

    click.echo(f"watching {corpus_dir}/ for changed articles (Ctrl-C stops)", err=True)

    def changed(paths: set[str]) -> None:
        click.echo(f"changed: {', '.join(sorted(paths))}", err=True)
        try:
            once()
        except RagError as exc:  # keep watching: the next save may fix it
            click.echo(f"error: {exc}", err=True)

    stop = threading.Event()
    try:
        watch_corpus(corpus_dir, changed, stop)
    except KeyboardInterrupt:
        stop.set()


@main.command()
@_folders
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many passages (default 5).")
@click.option("--model", default=None, help="Must be the model the index was built with.")
@_retrieval_options
@click.option(
    "--article",
    default=None,
    help="Only this article: its id or corpus-relative path (as `rag info --json` lists them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of passages.")
def search(
    corpus_dir: Path | None,
    index_dir: Path | None,
    question: str,
    k: int | None,
    model: str | None,
    mode: str | None,
    fusion: str | None,
    fusion_depth: int | None,
    rerank: str | None,
    article: str | None,
    as_json: bool,
) -> None:
    """Print the passages most relevant to QUESTION, with citations."""
    from .retrieve import Retriever, check_k, check_question

    s = _settings(
        corpus_dir, index_dir, retrieval=mode, fusion=fusion, fusion_depth=fusion_depth, rerank=rerank
    )
    check_question(question, s.max_question_chars)
    k = check_k(s.k if k is None else k)
    retriever = Retriever.from_settings(s, model=model)
    _note_fallback(retriever)
    passages = retriever.search(question, k, article=article)
    if as_json:
        click.echo(json.dumps([p.to_json() for p in passages], indent=2, ensure_ascii=False))
        return
    for p in passages:
        c = p.chunk
        where = f"{c.title}" + (f" > {c.section}" if c.section else "")
        found = ", ".join(f"{n} #{r[0]}" for n, r in p.why.rankers().items() if r)
        click.echo(f"[{p.rank}] {p.score:.3f}  {where}")
        click.echo(f"    {p.path}:{c.start}-{c.end}  (found by {found})")
        click.echo("    " + " ".join(c.text.split()))
        click.echo()


def _note_fallback(retriever: Any) -> None:
    if retriever.query_backend != "onnxruntime":
        click.echo(f"note: questions are embedded with {retriever.query_backend}", err=True)


@main.command()
@_folders
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many passages to answer from (default 5).")
@_retrieval_options
@click.option(
    "--no-abstain", is_flag=True, help="Always answer, even when the evidence is weak ($RAG_ABSTAIN=off)."
)
@click.option(
    "--llm-url", default=None, help="OpenAI-compatible endpoint for generative answers ($RAG_LLM_URL)."
)
@click.option("--llm-model", default=None, help="Model name at that endpoint ($RAG_LLM_MODEL).")
@click.option(
    "--history",
    "history",
    multiple=True,
    help="An earlier question of the conversation (repeat, oldest first); a follow-up is read with them.",
)
@click.option(
    "--article",
    default=None,
    help="Only this article: its id or corpus-relative path (as `rag info --json` lists them).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the answer, sources and evidence as JSON.")
def ask(
    corpus_dir: Path | None,
    index_dir: Path | None,
    question: str,
    k: int | None,
    mode: str | None,
    fusion: str | None,
    fusion_depth: int | None,
    rerank: str | None,
    no_abstain: bool,
    llm_url: str | None,
    llm_model: str | None,
    history: tuple[str, ...],
    article: str | None,
    as_json: bool,
) -> None:
    """Answer QUESTION from the articles, citing them, or say they do not cover it."""
    from .abstain import AbstentionPolicy
    from .ask import LLMEndpoint
    from .ask import ask as run_ask
    from .retrieve import Retriever, check_k, check_question

    s = _settings(
        corpus_dir,
        index_dir,
        retrieval=mode,
        fusion=fusion,
        fusion_depth=fusion_depth,
        rerank=rerank,
        llm_url=llm_url,
        llm_model=llm_model,
    )
    check_question(question, s.max_question_chars)
    k = check_k(s.k if k is None else k)
    retriever = Retriever.from_settings(s)
    _note_fallback(retriever)
    llm = LLMEndpoint(s.llm_url, s.llm_model) if s.llm_url else None
    policy = AbstentionPolicy(enabled=s.abstain and not no_abstain)
    reply = run_ask(retriever, question, k=k, policy=policy, llm=llm, history=history, article=article)
    if reply.understood_as:
        click.echo(f"(read as a follow-up: {reply.understood_as})", err=True)
    if as_json:
        click.echo(json.dumps(reply.to_json(), indent=2, ensure_ascii=False))
        return
    answer = reply.answer
    click.echo(answer.text)
    if answer.note:
        click.echo(f"({answer.note})")
    click.echo()
    if answer.abstained:
        click.echo("Closest we found:")
        for p in answer.closest[:3]:
            click.echo(
                f"  - {p.chunk.title}"
                + (f" > {p.chunk.section}" if p.chunk.section else "")
                + f"  {p.path}:{p.chunk.start}-{p.chunk.end}"
            )
        return
    for src in answer.sources:
        c = src.passage.chunk
        click.echo(f"[{src.number}] {c.title}" + (f" > {c.section}" if c.section else ""))
        click.echo(f"    {src.passage.path}:{src.start}-{src.end}")


@main.command()
@_folders
@click.option(
    "--verify", is_flag=True, help="Hash every index file (loading hashes only files up to 64 MiB)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(corpus_dir: Path | None, index_dir: Path | None, verify: bool, as_json: bool) -> None:
    """Summarise the index and say whether it is stale against the corpus."""
    from .status import index_status

    s = _settings(corpus_dir, index_dir)
    status = index_status(s.corpus_dir, s.index_dir, verify=verify)
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in status.lines():
            click.echo(line)
    if status.problem:
        sys.exit(1)


@main.command(name="eval")
@_folders
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
@_retrieval_options
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
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default=None,
    help="BEIR only: passage embedding precision (default auto: bf16 where the CPU has it).",
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
    default=Path("eval/runs"),
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
    mode: str | None,
    fusion: str | None,
    fusion_depth: int | None,
    rerank: str | None,
    model: str | None,
    chunk_words: int | None,
    overlap: int | None,
    precision: str | None,
    cache_dir: Path | None,
    out_dir: Path,
    compare_path: Path | None,
    as_json: bool,
) -> None:
    """Measure retrieval on QUERY_FILE (span-labelled JSONL) or a BEIR folder."""
    from . import evalreport
    from .errors import QueryError

    if (query_file is None) == (beir_dir is None):
        raise QueryError("give either a query file or --beir DIR - e.g. rag eval eval/queries.jsonl")
    before = evalreport.load_run(compare_path) if compare_path else None
    s = _settings(
        corpus_dir,
        index_dir,
        model=model,
        retrieval=mode,
        fusion=fusion,
        fusion_depth=fusion_depth,
        rerank=rerank,
        precision=precision,
    )
    if beir_dir is not None:
        run, label, published = _eval_beir(s, beir_dir, depth or 100, chunk_words, overlap, cache_dir)
    else:
        assert query_file is not None
        run, label, published = _eval_queries(s, query_file, depth or 10), query_file.stem, {}
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


def _eval_queries(s: Settings, query_file: Path, depth: int) -> Any:
    from .abstain import AbstentionPolicy
    from .evaluate import evaluate_query_file
    from .retrieve import Retriever
    from .status import index_status

    retriever = Retriever.from_settings(s)
    if index_status(s.corpus_dir, s.index_dir, retriever.index.manifest).stale:
        click.echo(
            f'warning: {s.index_dir}/ is stale against {s.corpus_dir}/ - run "rag build" first', err=True
        )
    policy = AbstentionPolicy() if s.abstain else None
    return evaluate_query_file(retriever, query_file, depth=depth, policy=policy, progress=True)


def _eval_beir(
    s: Settings,
    beir_dir: Path,
    depth: int,
    chunk_words: int | None,
    overlap: int | None,
    cache_dir: Path | None,
) -> tuple[Any, str, dict[str, float]]:

    from .beir import load_beir, published_figures, write_corpus
    from .build import build as run_build
    from .config import ChunkParams
    from .embed import SentenceTransformerEmbedder
    from .evaluate import evaluate_beir
    from .onnx_embed import cache_root
    from .retrieve import Retriever

    beir = load_beir(beir_dir)
    words = chunk_words or 0
    params = ChunkParams(max_words=words or 1_000_000, overlap_sentences=overlap or 0, prefix="none")
    base = cache_dir or cache_root() / "beir"
    root = base / f"{beir.name}-{beir.fingerprint[:12]}"
    write_corpus(beir, root / "corpus")
    short = s.model.rstrip("/").rsplit("/", 1)[-1]
    embedder = SentenceTransformerEmbedder(s.model, batch_size=s.batch_size, precision=s.precision)
    bf16 = "-bf16" if embedder.precision == "bf16" else ""  # its own index: vectors are reused by text
    index_dir = root / f"index-{short}-{words or 'whole'}-{params.overlap_sentences}{bf16}"
    report = run_build(root / "corpus", index_dir, embedder, params, progress=True)
    click.echo(f"benchmark index {index_dir}: " + "; ".join(report.lines()), err=True)
    retriever = Retriever.from_settings(s, index_dir, root / "corpus")
    settings = {
        "model": s.model,
        "precision": embedder.precision,
        "chunking": params.to_json(),
        "retrieval": s.retrieval,
        "fusion": s.fusion,
        "fusion_depth": s.fusion_depth,
        "rerank": s.rerank,
        "depth": depth,
        "build": report.to_json(),
    }
    run = evaluate_beir(
        retriever.search,
        beir.queries,
        beir.qrels,
        depth=depth,
        settings=settings,
        source=str(beir_dir),
        progress=True,
    )
    return run, f"beir-{beir.name}", published_figures(beir_dir, s.model)


@main.command(name="bench")
@_folders
@click.option(
    "--scales",
    default="seed,100k,1m",
    help="Index sizes: seed (the --corpus/--index articles) and passage counts such as 100k, 1m"
    " (default seed,100k,1m).",
)
@click.option(
    "--parts",
    default="latency,recall,http,memory,coldstart,build,rebuild",
    help="What to measure, a comma-separated subset of latency,recall,http,memory,coldstart,build,rebuild"
    " and scale-rebuild (rebuilds of a generated corpus at each non-seed scale; not in the default).",
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
    as_json: bool,
) -> None:
    """Measure latency, recall, build speed, rebuilds, memory and cold starts against their targets."""
    import time

    from .bench import BenchConfig, parse_parts, parse_scales, run_bench, table_lines
    from .onnx_embed import cache_root

    s = _settings(corpus_dir, index_dir)
    config = BenchConfig(
        corpus_dir=s.corpus_dir,
        index_dir=s.index_dir,
        beir_dir=beir_dir,
        cache_dir=cache_dir or cache_root() / "bench",
        model=s.model,
        precision=s.precision,
        scales=tuple(parse_scales(scales)),
        parts=parse_parts(parts),
        queries=n_queries,
        build_docs=build_docs,
        rebuild_docs=rebuild_docs,
    )
    out = out_path or Path("build/bench") / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    report = run_bench(config, out, say=lambda line: click.echo(line, err=True))
    lines = table_lines(report)
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(json.dumps(report, indent=2, ensure_ascii=False) if as_json else "\n".join(lines))
    click.echo(f"saved {out} and {out.with_suffix('.txt')}", err=True)
    if report["errors"]:
        raise click.ClickException(f"{len(report['errors'])} part(s) failed - see errors in {out}")


@main.command()
@click.argument("article")
@_folders
def remove(article: str, corpus_dir: Path | None, index_dir: Path | None) -> None:
    """Move an ARTICLE (its path in the corpus) to the trash beside the corpus; "rag trash restore" undoes it."""
    from .trash import move_to_trash, trash_dir

    s = _settings(corpus_dir, index_dir)
    item = move_to_trash(s.corpus_dir, article)
    click.echo(
        f"moved {item.rel_path} to {trash_dir(s.corpus_dir)}/ - undo with: rag trash restore {item.trash_id}"
    )
    click.echo('run "rag build" to drop it from the index')


@main.group(invoke_without_command=True)
@_folders
@click.pass_context
def trash(ctx: click.Context, corpus_dir: Path | None, index_dir: Path | None) -> None:
    """Removed articles, kept beside the corpus: list them (the default), restore one, or empty the trash."""
    ctx.obj = _settings(corpus_dir, index_dir)
    if ctx.invoked_subcommand is None:
        ctx.invoke(trash_list)


@trash.command(name="list")
@click.pass_obj
def trash_list(s: Settings) -> None:
    """What the trash holds, newest removal first."""
    from .trash import list_trash, trash_dir

    items = list_trash(s.corpus_dir)
    if not items:
        click.echo(f"the trash of {s.corpus_dir}/ is empty")
    for item in items:
        when = item.removed.strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"{item.trash_id}\t{item.rel_path}\tremoved {when}\t{item.size:,} bytes")
    if items:
        click.echo(f"({len(items)} in {trash_dir(s.corpus_dir)}/; restore one with: rag trash restore ID)")


@trash.command(name="restore")
@click.argument("trash_id")
@click.pass_obj
def trash_restore(s: Settings, trash_id: str) -> None:
    """Put TRASH_ID (or an article's path: its newest removal) back into the corpus."""
    from .trash import restore

    path = restore(s.corpus_dir, trash_id)
    click.echo(f'restored {path} - run "rag build" to index it again')


@trash.command(name="empty")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def trash_empty(s: Settings, yes: bool) -> None:
    """Delete everything in the trash for good."""
    from .trash import empty_trash, list_trash

    n = len(list_trash(s.corpus_dir))
    if n and not yes:
        click.confirm(f"delete {n} trashed article(s) for good?", abort=True)
    click.echo(f"deleted {empty_trash(s.corpus_dir)} trashed article(s) for good")
