"""The corpus's trash: a removed article is moved here, not deleted, so every removal can be undone.

Layout: `<corpus>.trash/` beside the corpus folder (so outside what a build indexes), one folder per
removal named by its UTC time, holding the article at its corpus-relative path:

    corpus.trash/20261130T140512.123456Z/advice/clingy.md   (was corpus/advice/clingy.md)

Restoring moves it back to the same path and never overwrites an article that took its place; emptying
deletes for good and is the only thing here that does. It does not touch the index (a rebuild follows).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..errors import CorpusError

_STAMP = "%Y%m%dT%H%M%S.%fZ"


@dataclass(frozen=True)
class TrashedArticle:
    trash_id: str  # "<stamp>/<corpus-relative path>": what `rag trash restore` takes
    rel_path: str  # where the article lived in the corpus
    removed: datetime
    size: int


def trash_dir(corpus_dir: Path) -> Path:
    """The trash folder of a corpus: a sibling named `<corpus>.trash`."""
    resolved = corpus_dir.resolve()
    return resolved.parent / f"{resolved.name}.trash"


def move_to_trash(corpus_dir: Path, rel_path: str) -> TrashedArticle:
    """Move one article file of the corpus into the trash; CorpusError if it is not one."""
    from .library import article_file

    source = article_file(corpus_dir, rel_path)
    rel = source.relative_to(corpus_dir.resolve()).as_posix()
    now = datetime.now(UTC)
    slot = trash_dir(corpus_dir) / now.strftime(_STAMP)
    slot.mkdir(parents=True)  # exclusive: two removals never share a folder
    target = slot / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    _move(source, target)
    return TrashedArticle(f"{slot.name}/{rel}", rel, now, target.stat().st_size)


def list_trash(corpus_dir: Path) -> list[TrashedArticle]:
    """What the trash holds, newest removal first."""
    folder = trash_dir(corpus_dir)
    if not folder.is_dir():
        return []
    found = []
    for slot in folder.iterdir():
        try:
            removed = datetime.strptime(slot.name, _STAMP).replace(tzinfo=UTC)
        except ValueError:
            continue  # not one of ours
        for path in sorted(p for p in slot.rglob("*") if p.is_file()):
            rel = path.relative_to(slot).as_posix()
            found.append(TrashedArticle(f"{slot.name}/{rel}", rel, removed, path.stat().st_size))
    return sorted(found, key=lambda t: (t.removed, t.rel_path), reverse=True)


def restore(corpus_dir: Path, trash_id: str) -> Path:
    """Put a trashed article back where it was; never over an article that is there now."""
    item = _find(corpus_dir, trash_id)
    target = corpus_dir / item.rel_path
    if target.exists():
        raise CorpusError(
            f"{corpus_dir}/{item.rel_path} exists again - rename or remove it, then restore {trash_id}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    source = trash_dir(corpus_dir) / item.trash_id
    _move(source, target)
    _prune(source.parent, trash_dir(corpus_dir))
    return target


def empty_trash(corpus_dir: Path) -> int:
    """Delete everything in the trash for good; how many articles that was."""
    items = list_trash(corpus_dir)
    folder = trash_dir(corpus_dir)
    for slot in {item.trash_id.split("/", 1)[0] for item in items}:
        shutil.rmtree(folder / slot)
    return len(items)


def _find(corpus_dir: Path, trash_id: str) -> TrashedArticle:
    items = list_trash(corpus_dir)
    for item in items:  # an exact id, or the article's path (its newest removal)
        if trash_id in (item.trash_id, item.rel_path):
            return item
    raise CorpusError(
        f'{trash_id!r} is not in the trash of {corpus_dir}/ - run "rag trash list" to see what is'
        if items
        else f"the trash of {corpus_dir}/ is empty - nothing to restore"
    )


def _move(source: Path, target: Path) -> None:
    try:
        os.link(source, target)  # fails if the target appeared meanwhile: never overwrites
        os.unlink(source)
    except OSError:
        if target.exists():
            raise
        shutil.copy2(source, target)  # another file system (or no hard links): copy, then remove
        os.unlink(source)


def _prune(folder: Path, top: Path) -> None:
    """Remove folders left empty by a restore, up to the trash folder itself."""
    while folder != top and top in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent
