"""The `rag` command: build, search, ask, info, eval, bench, serve, remove, trash.

Parses flags, resolves settings (flag > RAG_* environment variable > default; `config.ENV` names the
variables and the choices each flag offers), hands them to an `Assistant` (assistant.py, which builds
every object) and prints what it returns. Every RagError becomes one line on stderr with exit code 1.
Heavy libraries load only inside the commands that need them, so `rag --help` is instant.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import cli_eval, cli_trash
from .cli_options import folder_options, retrieval_options, setting_option, settings_from, store_option
from .config import Settings
from .errors import RagError

if TYPE_CHECKING:
    from .assistant import Assistant


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RagError as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:  # disk full, permission denied while writing
            raise click.ClickException(_write_error(exc)) from None


def _write_error(exc: OSError, where: str = "") -> str:
    where = exc.filename or where
    return (
        f"cannot write{f' {where}' if where else ''}: {exc.strerror} - free disk space or fix permissions;"
        " the previous index is untouched"
    )


def _assistant(corpus_dir: Path | None, index_dir: Path | None, **overrides: Any) -> Assistant:
    from .assistant import Assistant

    return Assistant(settings_from(corpus_dir, index_dir, **overrides))


@click.group(cls=_Group)
@click.version_option(package_name="rag")
def main() -> None:
    """Offline question answering over a folder of articles, with exact citations."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


@main.command()
@folder_options
@click.option(
    "--model", default=None, help="sentence-transformers model name or folder (default: $RAG_MODEL)."
)
@setting_option("--chunk-words", "chunking.max_words", "Largest passage, in words.")
@click.option(
    "--overlap", type=click.IntRange(min=0, max=5), default=None, help="Sentences shared by neighbours."
)
@setting_option(
    "--index-type",
    "index_type",
    "Vector index: exact (flat) below 50,000 passages, HNSW above (auto, default; or $RAG_INDEX_TYPE).",
)
@setting_option(
    "--precision",
    "precision",
    "Passage embedding precision: bf16 where the CPU has it (auto, default; or $RAG_PRECISION).",
)
@setting_option(
    "--store",
    "store",
    "Build into this PostgreSQL store (postgresql://user@host/db) instead of the index folder: only changed"
    " articles are written (default: none, or $RAG_STORE).",
    metavar="URL",
)
@click.option("--dry-run", is_flag=True, help="Print what would be done, change nothing.")
@click.option(
    "--compact", is_flag=True, help="Write the whole index again as one segment (changes are appended)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--watch", is_flag=True, help="Keep running: build again whenever articles change on disk (Ctrl-C stops)."
)
def build(
    corpus_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    chunking_max_words: int | None,
    overlap: int | None,
    index_type: str | None,
    precision: str | None,
    store: str | None,
    dry_run: bool,
    compact: bool,
    as_json: bool,
    watch: bool,
) -> None:
    """Build or refresh the index; only new or changed passages are embedded."""
    from .assistant import Assistant

    s = settings_from(
        corpus_dir, index_dir, model=model, precision=precision, index_type=index_type, store=store
    )
    if chunking_max_words is not None:
        s = replace(s, chunking=replace(s.chunking, max_words=chunking_max_words))
    if overlap is not None:
        s = replace(s, chunking=replace(s.chunking, overlap_sentences=overlap))
    assistant = Assistant(s)
    embedder = assistant.embedder()  # one model for every build of --watch

    def once() -> None:
        try:
            report = assistant.build(dry_run=dry_run, progress=True, embedder=embedder, compact=compact)
        except OSError as exc:  # said, and under --watch waited out, like any other failed build
            raise RagError(_write_error(exc, f"{s.index_dir}/")) from None
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

    from .ingest.watch import watch_corpus

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


# Both search and ask can be kept to one article.
_article_option = click.option(
    "--article",
    default=None,
    help="Only this article: its id or corpus-relative path (as `rag info --json` lists them).",
)


@main.command()
@folder_options
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many passages (default 5).")
@click.option("--model", default=None, help="Must be the model the index was built with.")
@retrieval_options
@store_option
@_article_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of passages.")
def search(
    corpus_dir: Path | None,
    index_dir: Path | None,
    question: str,
    k: int | None,
    model: str | None,
    article: str | None,
    as_json: bool,
    **retrieval: Any,
) -> None:
    """Print the passages most relevant to QUESTION, with citations."""
    from .assistant import Assistant

    assistant = Assistant(settings_from(corpus_dir, index_dir, **retrieval), query_model=model)
    passages = assistant.search(question, k=k, article=article)
    _note_fallback(assistant)
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


def _note_fallback(assistant: Assistant) -> None:
    backend = assistant.retriever.query_backend
    if backend != "onnxruntime":
        click.echo(f"note: questions are embedded with {backend}", err=True)


@main.command()
@folder_options
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many passages to answer from (default 5).")
@retrieval_options
@store_option
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
@_article_option
@click.option("--json", "as_json", is_flag=True, help="Print the answer, sources and evidence as JSON.")
def ask(
    corpus_dir: Path | None,
    index_dir: Path | None,
    question: str,
    k: int | None,
    no_abstain: bool,
    llm_url: str | None,
    llm_model: str | None,
    history: tuple[str, ...],
    article: str | None,
    as_json: bool,
    **retrieval: Any,
) -> None:
    """Answer QUESTION from the articles, citing them, or say they do not cover it."""
    assistant = _assistant(
        corpus_dir,
        index_dir,
        llm_url=llm_url,
        llm_model=llm_model,
        abstain=False if no_abstain else None,
        **retrieval,
    )
    reply = assistant.ask(question, k=k, generative=True, history=history, article=article)
    _note_fallback(assistant)
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
@folder_options
@store_option
@click.option(
    "--verify", is_flag=True, help="Hash every index file (loading hashes only files up to 64 MiB)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(
    corpus_dir: Path | None, index_dir: Path | None, store: str | None, verify: bool, as_json: bool
) -> None:
    """Summarise the index (or the store) and say whether it is stale against the corpus."""
    status = _assistant(corpus_dir, index_dir, store=store).status(verify=verify)
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in status.lines():
            click.echo(line)
    if status.problem:
        sys.exit(1)


@main.command()
@folder_options
@setting_option("--host", "host", "Address to serve on (default 127.0.0.1, or $RAG_HOST).")
@setting_option("--port", "port", "Port (default 7860, or $GRADIO_SERVER_PORT).")
@setting_option("--auth", "auth", "USER:PASSWORD to require a login (or $RAG_AUTH).")
@store_option
@setting_option(
    "--pool-size",
    "pool_size",
    "With --store: connections to the store this process keeps at most (default 4, or $RAG_POOL_SIZE).",
)
@click.option(
    "--no-watch",
    is_flag=True,
    help="Do not index articles changed on disk by themselves (Rebuild index does it).",
)
def serve(
    corpus_dir: Path | None,
    index_dir: Path | None,
    host: str | None,
    port: int | None,
    auth: str | None,
    store: str | None,
    pool_size: int | None,
    no_watch: bool,
) -> None:
    """Serve the web UI (the same as `python app.py`): build or refresh the index first."""
    from .web.server import serve as run_server

    s = serve_settings(corpus_dir, index_dir, host, port, auth, store=store, pool_size=pool_size)
    sys.exit(run_server(s, watch=not no_watch))


def serve_settings(
    corpus_dir: Path | None,
    index_dir: Path | None,
    host: str | None,
    port: int | None,
    auth: str | None,
    **store: Any,
) -> Settings:
    """What `rag serve` serves: an empty --host or $RAG_HOST means 127.0.0.1, never every interface;
    `store`: the store and pool_size flags."""
    return settings_from(corpus_dir, index_dir, host=host or None, port=port, auth=auth or None, **store)


for command in (cli_eval.eval_, cli_eval.bench, cli_trash.remove, cli_trash.trash):
    main.add_command(command)
