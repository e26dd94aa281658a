"""The Library tab's handlers: the articles and the index's state, adding, retitling, removing and
restoring articles, each change indexed in the background while the previous index answers.

Plain functions of an Assistant (rag/assistant.py), tested directly; the files are handled by
rag/ingest/library.py and rag/ingest/trash.py, and what is shown is escaped text.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rag.assistant import Assistant
from rag.errors import RagError
from rag.index.status import IndexStatus


def library_rows(assistant: Assistant, status: IndexStatus | None = None) -> list[list[Any]]:
    """The Library table; `status` when the caller has just checked (each check walks the corpus)."""
    from rag.ingest.library import list_articles

    try:
        rows = list_articles(status or assistant.status())
    except RagError:
        return []
    return [[r.path, r.title, "" if r.passages is None else r.passages, r.state] for r in rows]


def library_status(assistant: Assistant, status: IndexStatus | None = None) -> str:
    """The index's state in plain words (what the Library shows at its top)."""
    state = assistant.rebuild_state
    status = status or assistant.status()
    if state.running:
        line = f"Indexing: {state.stage} ({state.fraction:.0%}). Questions are answered from the previous index meanwhile."
    elif status.problem:
        line = f"Index: {status.problem}"
    elif status.stale:
        line = (
            f"Not indexed yet: {len(status.new)} new, {len(status.changed)} changed, {len(status.missing)} removed"
            " article(s). Press Rebuild index to include them."
        )
    else:
        from rag.index.onnx_embed import NO_EXPORT
        from rag.index.status import question_backend

        m = status.manifest
        assert m is not None  # an index status without a problem has its manifest
        line = f"The index is up to date: {m.article_count} articles, {m.chunk_count} passages."
        if question_backend(m.embedder) == NO_EXPORT:  # a fallback is labelled as one
            line += f" Questions are embedded with {NO_EXPORT}."
    if assistant.problem:
        line = f"⚠️ {assistant.problem}\n\n{line}"
    if state.error:
        line += f"\n\nLast rebuild failed: {state.error}"
    elif state.report is not None:
        line += "\n\nLast rebuild: " + "; ".join(state.report.lines())
    return html.escape(line)  # file names and messages are shown as text, never as markup


# What every Library action updates, in this order: the note under the buttons, the status at the top,
# the table, the articles to pick from, the trash to pick from, and the removal that Undo takes back.
LibraryView = tuple[str, str, list[list[Any]], Any, Any, str]


def library_view(assistant: Assistant, note: str = "", undo: str = "") -> LibraryView:
    """The Library as it is on disk now (read per page load and after every change, never cached)."""
    import gradio as gr

    from rag.ingest.trash import list_trash

    status = assistant.status()
    rows = library_rows(assistant, status)
    trashed = [t.trash_id for t in list_trash(assistant.corpus_dir)]
    return (
        html.escape(note),
        library_status(assistant, status),
        rows,
        gr.update(choices=[r[0] for r in rows], value=None),  # nothing preselected
        gr.update(choices=trashed, value=None),
        undo,
    )


PROGRESS_SECONDS = 0.3
INDEXED = "It is in the index now: questions see it."


def _index_after(
    assistant: Assistant, note: str, undo: str = "", done: str = INDEXED
) -> Iterator[LibraryView]:
    """Show a change at once, then index it (the previous index answers meanwhile), showing progress
    in the note under the buttons the user just pressed; a failure is said as one."""
    import gradio as gr

    def progress(line: str) -> LibraryView:  # only the note changes
        skip = gr.skip()
        return (html.escape(f"{note} {line}"), skip, skip, skip, skip, undo)

    yield library_view(assistant, f"{note} Indexing it now…", undo)
    state = assistant.rebuild_state
    while not assistant.start_rebuild():  # one is running already and may predate this change: next
        yield progress(f"Waiting for the indexing under way ({state.fraction:.0%})…")
        time.sleep(PROGRESS_SECONDS)
    while state.running:
        yield progress(f"Indexing: {state.stage} ({state.fraction:.0%})…")
        time.sleep(PROGRESS_SECONDS)
    said = f"⚠️ Indexing failed: {state.error}" if state.error else done
    yield library_view(assistant, f"{note} {said}", undo)


def _change_then_index(
    assistant: Assistant, change: Callable[[], tuple[str, str]], done: str = INDEXED
) -> Iterator[LibraryView]:
    """Make a change to the corpus (it returns the note to show and the removal Undo takes back), then
    index it; a refused change is shown as one line and nothing is indexed."""
    try:
        note, undo = change()
    except RagError as exc:
        yield library_view(assistant, f"⚠️ {exc}")
        return
    yield from _index_after(assistant, note, undo, done=done)


def on_library_load(assistant: Assistant) -> LibraryView:
    return library_view(assistant)


def on_upload(assistant: Assistant, files: list[Any] | None) -> Iterator[tuple[Any, ...]]:
    """Add uploaded files, then index them; the upload box is emptied once they are in."""
    import gradio as gr

    from rag.ingest.library import add_file

    uploads = Path(gr.utils.get_upload_folder()).resolve()
    added, problems = [], []
    for f in files or []:
        path = Path(f if isinstance(f, str) else getattr(f, "name", ""))
        try:
            if uploads not in path.resolve().parents:  # a server path in a crafted request
                raise RagError(f"{path.name} was not uploaded through this page - choose the file again")
            added.append(add_file(assistant.corpus_dir, path.name, path.read_bytes()).name)
        except RagError as exc:
            problems.append(f"⚠️ {exc}")
        except OSError as exc:
            problems.append(f"⚠️ could not add {path.name}: {exc.strerror or exc} - nothing was changed")
    if not files:
        problems.append("Choose .txt, .md, .html or .pdf files first.")
    note = " ".join([f"Added {', '.join(added)}." if added else "", *problems]).strip()
    if not added:
        yield (*library_view(assistant, note), gr.skip())
        return
    for view in _index_after(assistant, note):
        yield (*view, None)


def on_paste(assistant: Assistant, title: str, text: str) -> Iterator[tuple[Any, ...]]:
    """Save pasted text as an article, then index it; the fields are emptied once it is saved."""
    import gradio as gr

    from rag.ingest.library import add_text

    try:
        added = add_text(assistant.corpus_dir, title or "", text or "")
    except RagError as exc:
        yield (*library_view(assistant, f"⚠️ {exc}"), gr.skip(), gr.skip())
        return
    except OSError as exc:  # e.g. a full disk: nothing was written (the article is staged, then linked)
        note = f"⚠️ could not save the article: {exc.strerror or exc} - nothing was changed"
        yield (*library_view(assistant, note), gr.skip(), gr.skip())
        return
    for view in _index_after(assistant, f"Added {added.name}."):
        yield (*view, "", "")


def on_set_title(assistant: Assistant, rel_path: str | None, title: str) -> Iterator[LibraryView]:
    """Correct an article's title (kept beside it, so rebuilds keep it), then index the change."""
    from rag.ingest.library import set_title

    def change() -> tuple[str, str]:
        set_title(assistant.corpus_dir, rel_path or "", title or "")
        words = " ".join((title or "").split())
        return (f"Title of {rel_path} set to {words!r}." if words else f"Title of {rel_path} reset."), ""

    yield from _change_then_index(assistant, change)


def on_ask_remove(rel_path: str | None) -> tuple[Any, str]:
    """First step of a removal: ask before anything moves (nothing is preselected, so nothing by accident)."""
    import gradio as gr

    if not rel_path:
        return gr.update(visible=False), "Pick an article first."
    question = f"Move **{html.escape(rel_path)}** to the trash? It leaves the index; Undo or the trash below bring it back."
    return gr.update(visible=True), question


def on_remove(assistant: Assistant, rel_path: str | None) -> Iterator[LibraryView]:
    """Move an article to the trash beside the corpus (never deleted here), then index the change."""
    from rag.ingest.trash import move_to_trash

    def change() -> tuple[str, str]:
        item = move_to_trash(assistant.corpus_dir, rel_path or "")
        return f"Moved {item.rel_path} to the trash (Undo puts it back).", item.trash_id

    yield from _change_then_index(assistant, change, done="It is out of the index now.")


def on_restore(assistant: Assistant, trash_id: str | None) -> Iterator[LibraryView]:
    """Put a trashed article back (Undo, or a pick from the trash), then index it."""
    from rag.ingest.trash import restore

    def change() -> tuple[str, str]:
        path = restore(assistant.corpus_dir, trash_id or "")
        return f"Restored {path.relative_to(assistant.corpus_dir).as_posix()}.", ""

    yield from _change_then_index(assistant, change)


def on_rebuild(assistant: Assistant) -> Iterator[LibraryView]:
    """Index whatever changed on disk (articles edited or copied in outside the page)."""
    yield from _index_after(assistant, "Rebuilding the index.", done="The index is up to date.")
