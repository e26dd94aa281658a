"""The library commands of `rag`: `rag remove` (an article to the trash beside the corpus) and `rag trash`
(list, restore, empty).

Like cli.py, they parse flags and print; trash.py does the work.
"""

from __future__ import annotations

from pathlib import Path

import click

from .cli_options import folder_options, settings_from
from .config import Settings


@click.command()
@click.argument("article")
@folder_options
def remove(article: str, corpus_dir: Path | None, index_dir: Path | None) -> None:
    """Move an ARTICLE (its path in the corpus) to the trash beside the corpus; "rag trash restore" undoes it."""
    from .ingest.trash import move_to_trash, trash_dir

    s = settings_from(corpus_dir, index_dir)
    item = move_to_trash(s.corpus_dir, article)
    click.echo(
        f"moved {item.rel_path} to {trash_dir(s.corpus_dir)}/ - undo with: rag trash restore {item.trash_id}"
    )
    click.echo('run "rag build" to drop it from the index')


@click.group(invoke_without_command=True)
@folder_options
@click.pass_context
def trash(ctx: click.Context, corpus_dir: Path | None, index_dir: Path | None) -> None:
    """Removed articles, kept beside the corpus: list them (the default), restore one, or empty the trash."""
    ctx.obj = settings_from(corpus_dir, index_dir)
    if ctx.invoked_subcommand is None:
        ctx.invoke(trash_list)


@trash.command(name="list")
@click.pass_obj
def trash_list(s: Settings) -> None:
    """What the trash holds, newest removal first."""
    from .ingest.trash import list_trash, trash_dir

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
    from .ingest.trash import restore

    path = restore(s.corpus_dir, trash_id)
    click.echo(f'restored {path} - run "rag build" to index it again')


@trash.command(name="empty")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def trash_empty(s: Settings, yes: bool) -> None:
    """Delete everything in the trash for good."""
    from .ingest.trash import empty_trash, list_trash

    n = len(list_trash(s.corpus_dir))
    if n and not yes:
        click.confirm(f"delete {n} trashed article(s) for good?", abort=True)
    click.echo(f"deleted {empty_trash(s.corpus_dir)} trashed article(s) for good")
