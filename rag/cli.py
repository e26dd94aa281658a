"""The `rag` command: build, search, info.

Resolves settings (flag > RAG_* environment variable > default) and turns every RagError into one
line on stderr with exit code 1. Heavy libraries load only inside the commands that need them, so
`rag --help` is instant. The work itself lives in build.py, retrieve.py and index.py.
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
@click.option("--dry-run", is_flag=True, help="Print what would be done, change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def build(
    corpus_dir: Path | None,
    index_dir: Path | None,
    model: str | None,
    chunk_words: int | None,
    overlap: int | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Build or refresh the index; only new or changed passages are embedded."""
    from .build import build as run_build
    from .embed import SentenceTransformerEmbedder

    s = _settings(corpus_dir, index_dir, model=model)
    params = s.chunking
    if chunk_words is not None:
        params = replace(params, max_words=chunk_words)
    if overlap is not None:
        params = replace(params, overlap_sentences=overlap)
    embedder = SentenceTransformerEmbedder(s.model, batch_size=s.batch_size)
    report = run_build(s.corpus_dir, s.index_dir, embedder, params, dry_run=dry_run, progress=True)
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)


@main.command()
@_folders
@click.argument("question")
@click.option("-k", "k", type=int, default=None, help="How many passages (default 5).")
@click.option("--model", default=None, help="Must be the model the index was built with.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of passages.")
def search(
    corpus_dir: Path | None,
    index_dir: Path | None,
    question: str,
    k: int | None,
    model: str | None,
    as_json: bool,
) -> None:
    """Print the passages most relevant to QUESTION, with citations."""
    from .retrieve import Retriever, check_k, check_question

    s = _settings(corpus_dir, index_dir)
    check_question(question, s.max_question_chars)
    k = check_k(s.k if k is None else k)
    passages = Retriever.open(s.index_dir, s.corpus_dir, model=model).search(question, k)
    if as_json:
        click.echo(json.dumps([p.to_json() for p in passages], indent=2, ensure_ascii=False))
        return
    for p in passages:
        c = p.chunk
        where = f"{c.title}" + (f" > {c.section}" if c.section else "")
        click.echo(f"[{p.rank}] {p.score:.3f}  {where}")
        click.echo(f"    {p.path}:{c.start}-{c.end}")
        click.echo("    " + " ".join(c.text.split()))
        click.echo()


@main.command()
@_folders
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def info(corpus_dir: Path | None, index_dir: Path | None, as_json: bool) -> None:
    """Summarise the index and say whether it is stale against the corpus."""
    from .status import index_status

    s = _settings(corpus_dir, index_dir)
    status = index_status(s.corpus_dir, s.index_dir)
    if as_json:
        click.echo(json.dumps(status.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in status.lines():
            click.echo(line)
    if status.problem:
        sys.exit(1)
