"""The web UI: ask the articles questions, manage the library, evaluate retrieval (Gradio Blocks).

    python app.py [--corpus DIR] [--index DIR] [--host 127.0.0.1] [--port 7860] [--auth USER:PASSWORD]

Builds or refreshes the index first when it is missing or stale, then serves on 127.0.0.1 (another host
only when asked). Citations open `/article`, a page with the article as text and the cited span marked.
The handlers are plain functions of an Assistant (rag/service.py), so tests call them without a browser;
named API endpoints `/ask` and `/search` return structured data to gradio_client.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves route annotations from here

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import RagError
from rag.status import IndexStatus

EXAMPLES = [
    "how do I avoid being clingy?",
    "why does a bit of mystery make someone think about you?",
    "should I post photos of fun nights out?",
    "who wrote the article about making a man miss you?",
]
QUERY_FILE = Path("eval/queries.jsonl")
HEAD = """<script>
// Citation links open in the article viewer beside the chat (also where a sanitiser drops target=).
// The viewer scrolls its own page to the first marked words; a #fragment would scroll this page too
// (the tabs jumped away on every answer, and on a phone the answer went off-screen).
function ragShowMark(frame) {
  try {
    const doc = frame.contentDocument, mark = doc && doc.getElementById("hl");
    if (mark) frame.contentWindow.scrollTo(0, Math.max(0, mark.offsetTop - frame.clientHeight / 3));
  } catch (e) { /* another origin: leave it */ }
}
document.addEventListener("load", (event) => {
  if (event.target && event.target.id === "viewer-frame") ragShowMark(event.target);
}, true);
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="/article?"]');
  const frame = document.getElementById("viewer-frame");
  if (!link || !frame) return;
  event.preventDefault();
  frame.src = link.getAttribute("href").split("#")[0];
});
</script>
<style>
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: .5rem .75rem; margin: 0 0 .5rem; }
.source-card p { margin: .2rem 0; }
.source-card .section { color: var(--body-text-color-subdued); }
#sources .source-card mark { background: #ffe58a !important; color: #1f2328 !important; padding: 0 .1em; }
.source-card details summary { cursor: pointer; color: var(--body-text-color-subdued); font-size: .85em; }
#viewer-frame { width: 100%; height: 520px; border: 1px solid var(--border-color-primary); border-radius: 6px; background: var(--background-fill-primary); }
</style>"""


# ---- handlers: plain functions, tested directly -------------------------------------------------


def api_ask(
    assistant: Assistant, question: Any, k: Any = 5, mode: Any = "hybrid", history: Any = None
) -> dict[str, Any]:
    """Structured answer: text, sources with file/start/end, abstention, evidence.

    `history`: the earlier questions of the conversation, oldest first (a follow-up is read with them).
    """
    q, k, mode = _api_args(assistant, question, k, mode)
    with _user_errors():
        if history is not None and not (
            isinstance(history, list) and all(isinstance(h, str) for h in history)
        ):
            raise RagError(f"history must be a list of the earlier questions (text), not {_kind(history)}")
        earlier = [h for h in history or [] if h.strip()][-20:]
        return _for_client(assistant.ask(q, k=k, mode=mode, history=earlier).to_json())


def api_search(assistant: Assistant, question: Any, k: Any = 5, mode: Any = "hybrid") -> list[dict[str, Any]]:
    """Ranked passages with citations and why each was found."""
    q, k, mode = _api_args(assistant, question, k, mode)
    with _user_errors():
        return _for_client([p.to_json() for p in assistant.search(q, k=k, mode=mode)])


MAX_K = 100


def _api_args(assistant: Assistant, question: Any, k: Any, mode: Any) -> tuple[str, int, str]:
    """The API's arguments checked: a bad one is a one-line error for the caller, not a traceback."""
    from rag.retrieve import MODES, check_question

    with _user_errors():
        if not isinstance(question, str):
            raise RagError(f"question must be text, not {_kind(question)} - send a string")
        q = check_question(question, assistant.settings.max_question_chars)
        if k is None:
            k = assistant.settings.k
        if (
            isinstance(k, bool)
            or not isinstance(k, int | float)
            or k != k
            or k in (float("inf"), float("-inf"))
        ):
            raise RagError(f"k must be a whole number from 1 to {MAX_K}, not {_kind(k)}")
        if k != int(k) or not 1 <= k <= MAX_K:
            raise RagError(f"k must be a whole number from 1 to {MAX_K} (got {k})")
        if mode is None:
            mode = assistant.settings.retrieval
        if mode not in MODES:
            raise RagError(f"mode must be one of {', '.join(MODES)} (got {str(mode)[:40]!r})")
        return q, int(k), mode


def _kind(value: Any) -> str:
    return "null" if value is None else "NaN" if value != value else type(value).__name__


@contextlib.contextmanager
def _user_errors() -> Any:
    """A RagError becomes a gradio Error: its one line reaches the caller, and no traceback is logged."""
    import gradio as gr

    try:
        yield
    except RagError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def _for_client(obj: Any) -> Any:
    """'path' keys renamed 'file': gradio_client downloads any {"path": str} it receives as a file."""
    if isinstance(obj, dict):
        return {("file" if key == "path" else key): _for_client(value) for key, value in obj.items()}
    if isinstance(obj, list):
        return [_for_client(v) for v in obj]
    return obj


def on_ask(
    assistant: Assistant, question: str, history: list[dict[str, Any]], k: int, mode: str, generative: bool
) -> tuple[list[dict[str, Any]], str, str, str]:
    """(chat history, sources panel, viewer, cleared question box) after one question."""
    from rag.render import answer_html, article_url, sources_html

    history = _text_only(history)
    if not isinstance(question, str) or not question.strip():
        return history, "", viewer_html(""), ""  # nothing asked: no empty bubble, no error
    # The chat's earlier questions, so a follow-up ("and what about texting?") is read in context.
    earlier = [html.unescape(m["content"]) for m in history if m["role"] == "user"]
    history.append({"role": "user", "content": html.escape(question)})
    try:
        reply = assistant.ask(question, k=int(k), mode=mode, generative=generative, history=earlier)
    except RagError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {html.escape(str(exc))}"})
        return history, "", viewer_html(""), question
    history.append({"role": "assistant", "content": answer_html(reply)})
    first = reply.answer.sources[0] if reply.answer.sources else None
    url = article_url(first.passage.chunk.article_id, first.start, first.end, first.quotes) if first else ""
    return history, sources_html(reply), viewer_html(url), ""


def _text_only(history: Any) -> list[dict[str, Any]]:
    """The chat history as text messages ({"role", "content": str}). Gradio hands a handler each
    message's content as a list of parts; the page never sends files, so a message with a file part is
    hostile (Gradio would copy the server path it names into its cache and serve it) and is dropped."""
    if not isinstance(history, list):
        return []
    kept = []
    for m in history:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            continue
        content = m.get("content")
        if isinstance(content, list):
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                continue
            content = "".join(str(p.get("text", "")) for p in content)
        if isinstance(content, str):
            kept.append({"role": m["role"], "content": content})
    return kept


VIEWER_PLACEHOLDER = (
    '<p style="font: 14px system-ui, sans-serif; color: #6e7781">'
    "Click a [n] in an answer to read the quoted words in their article.</p>"
)


def viewer_html(url: str) -> str:
    """The article viewer: the cited article (scrolled to its marked words by the page), or a hint."""
    if not url:
        return (
            f'<iframe id="viewer-frame" name="viewer" title="Article viewer"'
            f' srcdoc="{html.escape(VIEWER_PLACEHOLDER)}"></iframe>'
        )
    src = html.escape(url.split("#")[0])
    return f'<iframe id="viewer-frame" name="viewer" src="{src}" title="Article viewer"></iframe>'


def library_rows(assistant: Assistant, status: IndexStatus | None = None) -> list[list[Any]]:
    """The Library table; `status` when the caller has just checked (each check walks the corpus)."""
    from rag.library import list_articles

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
        from rag.onnx_embed import NO_EXPORT
        from rag.status import question_backend

        m = status.manifest
        line = (
            f"The index is up to date: {m['counts']['articles']} articles, {m['counts']['chunks']} passages."
        )
        if question_backend(m["embedder"]) == NO_EXPORT:  # a fallback is labelled as one
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

    from rag.trash import list_trash

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


def _index_after(
    assistant: Assistant, note: str, undo: str = "", done: str = "It is in the index now: questions see it."
) -> Iterator[LibraryView]:
    """Show a change at once, then index it (the previous index answers meanwhile), showing progress
    in the note under the buttons the user just pressed; a failure is said as one."""
    import gradio as gr

    skip = gr.skip()
    yield library_view(assistant, f"{note} Indexing it now…", undo)
    state = assistant.rebuild_state
    while not assistant.start_rebuild():  # one is running already and may predate this change: next
        yield (
            html.escape(f"{note} Waiting for the indexing under way ({state.fraction:.0%})…"),
            skip,
            skip,
            skip,
            skip,
            undo,
        )
        time.sleep(PROGRESS_SECONDS)
    while state.running:
        yield (
            html.escape(f"{note} Indexing: {state.stage} ({state.fraction:.0%})…"),
            skip,
            skip,
            skip,
            skip,
            undo,
        )
        time.sleep(PROGRESS_SECONDS)
    said = f"⚠️ Indexing failed: {state.error}" if state.error else done
    yield library_view(assistant, f"{note} {said}", undo)


def on_library_load(assistant: Assistant) -> LibraryView:
    return library_view(assistant)


def on_upload(assistant: Assistant, files: list[Any] | None) -> Iterator[tuple[Any, ...]]:
    """Add uploaded files, then index them; the upload box is emptied once they are in."""
    import gradio as gr

    from rag.library import add_file

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

    from rag.library import add_text

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
    from rag.library import set_title

    try:
        set_title(assistant.corpus_dir, rel_path or "", title or "")
    except RagError as exc:
        yield library_view(assistant, f"⚠️ {exc}")
        return
    words = " ".join((title or "").split())
    yield from _index_after(
        assistant, f"Title of {rel_path} set to {words!r}." if words else f"Title of {rel_path} reset."
    )


def on_ask_remove(rel_path: str | None) -> tuple[Any, str]:
    """First step of a removal: ask before anything moves (nothing is preselected, so nothing by accident)."""
    import gradio as gr

    if not rel_path:
        return gr.update(visible=False), "Pick an article first."
    question = f"Move **{html.escape(rel_path)}** to the trash? It leaves the index; Undo or the trash below bring it back."
    return gr.update(visible=True), question


def on_remove(assistant: Assistant, rel_path: str | None) -> Iterator[LibraryView]:
    """Move an article to the trash beside the corpus (never deleted here), then index the change."""
    from rag.trash import move_to_trash

    try:
        item = move_to_trash(assistant.corpus_dir, rel_path or "")
    except RagError as exc:
        yield library_view(assistant, f"⚠️ {exc}")
        return
    note = f"Moved {item.rel_path} to the trash (Undo puts it back)."
    yield from _index_after(assistant, note, item.trash_id, done="It is out of the index now.")


def on_restore(assistant: Assistant, trash_id: str | None) -> Iterator[LibraryView]:
    """Put a trashed article back (Undo, or a pick from the trash), then index it."""
    from rag.trash import restore

    try:
        path = restore(assistant.corpus_dir, trash_id or "")
    except RagError as exc:
        yield library_view(assistant, f"⚠️ {exc}")
        return
    yield from _index_after(assistant, f"Restored {path.relative_to(assistant.corpus_dir).as_posix()}.")


def on_rebuild(assistant: Assistant) -> Iterator[LibraryView]:
    """Index whatever changed on disk (articles edited or copied in outside the page)."""
    yield from _index_after(assistant, "Rebuilding the index.", done="The index is up to date.")


def _meaning(name: str) -> str:
    """One sentence on what an evaluation figure says."""
    if name.startswith("R@"):
        k = name[2:]
        return f"Share of the labelled evidence found in the first {k} passage{'s' if k != '1' else ''}."
    split = name[name.find("(") :] if "(" in name else ""
    meanings = {
        "RR@10": "How high the first right passage ranks: 1 = always first, 0.5 = on average second.",
        "nDCG@10": "How well the top 10 are ordered: 1 = every right passage above every other.",
        "latency p50 (ms)": "Half of the questions were searched faster than this.",
        "unanswerable abstained": "Questions the articles do not answer that were rightly declined.",
        "answerable wrongly abstained": "Questions the articles do answer that were declined anyway.",
        "answer recall": f"Share of answers that quote the words that answer the question {split}.".replace(
            " .", "."
        ),
        "answer precision": f"Share of quoted sentences that belong to the answer {split}.".replace(
            " .", "."
        ),
    }
    return meanings.get(name.split(" (")[0] if name.startswith("answer") else name, "")


def on_evaluate(
    assistant: Assistant, which: str = "test"
) -> tuple[str, list[list[Any]], list[list[Any]], str | None]:
    """(summary, figures with what each means, per-question rows, plot path) for the committed test
    questions ("test") or the readers' feedback ("feedback")."""
    from rag.abstain import AbstentionPolicy
    from rag.evalreport import save_run
    from rag.evaluate import evaluate_query_file
    from rag.render import preview

    query_file = assistant.settings.feedback_path if which == "feedback" else QUERY_FILE
    if which == "feedback" and not query_file.is_file():
        return "No feedback yet: give an answer a thumbs up or down on the Ask tab first.", [], [], None
    try:
        run = evaluate_query_file(
            assistant.retriever, query_file, policy=AbstentionPolicy(enabled=assistant.settings.abstain)
        )
    except RagError as exc:
        return f"⚠️ {html.escape(str(exc))}", [], [], None
    saved = save_run(run, Path("eval/runs"), "queries-app")
    figures: list[list[Any]] = [[name, round(value, 3)] for name, value in run.metrics.items()]
    figures.append(["latency p50 (ms)", round(run.latency_ms["p50"], 1)])
    abst = run.abstention() or {}
    if abst:
        figures.append(["unanswerable abstained", f"{abst['unanswerable_abstained']}/{abst['unanswerable']}"])
        figures.append(
            ["answerable wrongly abstained", f"{abst['answerable_abstained']}/{abst['answerable']}"]
        )
    for split, f in run.answers.items():  # answer-level figures (rag/answereval.py), per split
        figures.append([f"answer recall ({split})", round(f["answer_recall"], 3)])
        figures.append([f"answer precision ({split})", round(f["answer_precision"], 3)])
    rows = [[name, value, _meaning(name)] for name, value in figures]
    per_query = [
        [
            r.question,
            ("declined" if r.abstained else "answered")
            if not r.answerable
            else ("found" if r.first_relevant_rank else "not found"),
            r.first_relevant_rank or "",
            preview(r.top_text, 16),
        ]
        for r in run.results
    ]
    return (
        f"Asked the {len(run.results)} questions of {query_file} in {run.seconds:.1f} s (saved as {saved}).",
        rows,
        per_query,
        str(saved.with_suffix(".png")),
    )


def on_feedback(assistant: Assistant, history: Any, index: Any, liked: Any) -> tuple[str, Any, str]:
    """A thumbs up keeps the answer as a labelled test question; a thumbs down asks what was right.

    Returns (note, the correction row's visibility, the question awaiting a correction)."""
    import gradio as gr

    from rag.feedback import record
    from rag.render import REFUSAL, quoted_sentences

    messages = _text_only(history)
    at = index[0] if isinstance(index, list | tuple) else index
    if not isinstance(at, int) or not 0 <= at < len(messages) or messages[at]["role"] != "assistant":
        return "", gr.update(visible=False), ""
    asked = [m["content"] for m in messages[:at] if m["role"] == "user"]
    if not asked:
        return "", gr.update(visible=False), ""
    question = html.unescape(asked[-1])
    if liked is not True:
        return (
            "What would have been right? Paste the words of an article that answer it, or say the articles"
            " don't answer it.",
            gr.update(visible=True),
            question,
        )
    quotes = quoted_sentences(messages[at]["content"])
    refused = not quotes and REFUSAL in messages[at]["content"]
    try:
        record(
            assistant.settings.feedback_path,
            question,
            quotes=quotes,
            answerable=not refused,
            verdict="thumbs up",
        )
    except RagError as exc:
        return f"⚠️ {html.escape(str(exc))}", gr.update(visible=False), ""
    return (
        f"Thanks: kept as a test question in {assistant.settings.feedback_path}; Evaluate runs it.",
        gr.update(visible=False),
        "",
    )


def on_correct(assistant: Assistant, question: str, words: str, answerable: bool) -> tuple[str, Any, str]:
    """Keep a reader's correction: the words that answer the question, or 'not answered by the articles'."""
    import gradio as gr

    from rag.feedback import record
    from rag.queries import fold

    if not question:
        return "", gr.update(visible=False), ""
    if answerable:
        wanted = fold(words or "")
        if not wanted or not any(wanted in fold(t) for t in _article_texts(assistant)):
            return (
                "⚠️ Those words are not in any article - copy them exactly from the viewer.",
                gr.update(visible=True),
                question,
            )
    try:
        record(
            assistant.settings.feedback_path,
            question,
            quotes=[words] if answerable else [],
            answerable=answerable,
            verdict="corrected" if answerable else "should not have been answered",
        )
    except RagError as exc:
        return f"⚠️ {html.escape(str(exc))}", gr.update(visible=True), question
    return (
        f"Thanks: kept as a test question in {assistant.settings.feedback_path}; Evaluate runs it.",
        gr.update(visible=False),
        "",
    )


def _article_texts(assistant: Assistant) -> Iterator[str]:
    """The indexed articles as the viewer shows them (an HTML or PDF article's extracted text)."""
    from rag.extract import cited_text

    for meta in assistant.retriever.index.manifest["articles"].values():
        with contextlib.suppress(OSError, UnicodeDecodeError, RagError):
            yield cited_text(assistant.corpus_dir, meta["path"])


# ---- the page -------------------------------------------------------------------------------------


def build_ui(assistant: Assistant) -> Any:
    """The Gradio Blocks: Ask, Library and Evaluate tabs, and the /ask and /search API endpoints."""
    import functools

    import gradio as gr

    bind = functools.partial
    llm_ready = bool(assistant.settings.llm_url)
    with gr.Blocks(title="Ask the articles", analytics_enabled=False) as demo:
        gr.Markdown(
            "## Ask the articles\nAnswers are quoted from your articles; click a [n] to see it in place."
        )
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(
                        label="Conversation",
                        height=460,
                        elem_id="chat",
                        buttons=["copy"],
                        feedback_options=["Like", "Dislike"],
                    )
                    question = gr.Textbox(
                        label="Question", placeholder="how do I avoid being clingy?", elem_id="question"
                    )
                    ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
                    feedback_note = gr.Markdown(elem_id="feedback-note")
                    with gr.Row(visible=False, elem_id="correction") as correction:
                        words = gr.Textbox(
                            label="The words that answer it (copy them from the article)",
                            lines=2,
                            elem_id="correct-words",
                        )
                        with gr.Column(min_width=160):
                            save_words = gr.Button("Keep these words as the answer", elem_id="correct-save")
                            not_covered = gr.Button(
                                "The articles don't answer it", elem_id="correct-unanswerable"
                            )
                    pending = gr.State("")
                    examples = gr.Examples(EXAMPLES, inputs=[question], label="Examples")
                    with gr.Accordion("Settings", open=False):
                        k = gr.Slider(
                            1, 10, value=assistant.settings.k, step=1, label="Passages to answer from (k)"
                        )
                        mode = gr.Radio(
                            [
                                ("Meaning and words (best)", "hybrid"),
                                ("Meaning only", "dense"),
                                ("Words only", "keyword"),
                            ],
                            value=assistant.settings.retrieval,
                            label="Search by",
                        )
                        generative = gr.Checkbox(
                            value=False,
                            interactive=llm_ready,
                            label="Generative answers (local LLM)"
                            + ("" if llm_ready else " - set RAG_LLM_URL to enable"),
                        )
                with gr.Column(scale=2):
                    viewer = gr.HTML(viewer_html(""), elem_id="viewer")
                    sources = gr.HTML("", elem_id="sources", label="Sources")
            outputs = [chat, sources, viewer, question]
            inputs = [question, chat, k, mode, generative]
            ask_button.click(bind(on_ask, assistant), inputs, outputs, api_visibility="private")
            question.submit(bind(on_ask, assistant), inputs, outputs, api_visibility="private")
            examples.load_input_event.then(bind(on_ask, assistant), inputs, outputs, api_visibility="private")
            # The conversation survives a reload: kept in this browser's storage, never on the server.
            saved = gr.BrowserState([], storage_key="rag-conversation")
            quiet: dict[str, Any] = {"api_visibility": "private"}
            chat.change(_text_only, [chat], [saved], **quiet)
            demo.load(_text_only, [saved], [chat], **quiet)
            chat.clear(lambda: ("", viewer_html(""), []), None, [sources, viewer, saved], **quiet)

            def feedback(history: Any, data: Any) -> tuple[str, Any, str]:
                return on_feedback(assistant, history, data.index, data.liked)

            feedback.__annotations__["data"] = gr.LikeData  # Gradio passes the thumb by this annotation
            told = [feedback_note, correction, pending]
            chat.like(feedback, [chat], told, **quiet)
            save_words.click(lambda q, w: on_correct(assistant, q, w, True), [pending, words], told, **quiet)
            not_covered.click(lambda q: on_correct(assistant, q, "", False), [pending], told, **quiet)
        with gr.Tab("Library"):
            first = library_view(assistant)
            status = gr.Markdown(first[1], elem_id="library-status")
            table = gr.Dataframe(
                first[2],
                headers=["article", "title", "passages", "state"],
                interactive=False,
                elem_id="articles",
            )
            with gr.Row():
                with gr.Column():
                    upload = gr.File(
                        label="Upload .txt, .md, .html or .pdf",
                        file_types=[".txt", ".md", ".html", ".htm", ".pdf"],
                        file_count="multiple",
                        elem_id="upload",
                    )
                    upload_button = gr.Button("Add uploaded files", elem_id="add-upload")
                with gr.Column():
                    title = gr.Textbox(label="Title", elem_id="paste-title")
                    text = gr.Textbox(label="Article text", lines=6, elem_id="paste-text")
                    paste_button = gr.Button("Add pasted article", elem_id="add-paste")
            with gr.Row():
                choice = gr.Dropdown(
                    [r[0] for r in first[2]], value=None, label="Article", elem_id="remove-choice"
                )
                remove_button = gr.Button("Move to trash…", variant="stop", elem_id="remove")
            with gr.Row():
                new_title = gr.Textbox(
                    label="Correct the picked article's title (empty: the title found in it)",
                    elem_id="new-title",
                )
                title_button = gr.Button("Set title", elem_id="set-title")
            with gr.Row(visible=False, elem_id="confirm-remove") as confirm:
                confirm_text = gr.Markdown()
                yes = gr.Button("Yes, move it to the trash", variant="stop", elem_id="remove-yes")
                no = gr.Button("Cancel", elem_id="remove-no")
            note = gr.Markdown(elem_id="library-note")
            undone = gr.State("")
            undo = gr.Button("Undo", visible=False, elem_id="undo")
            with gr.Accordion("Trash (removed articles)", open=False):
                trashed = gr.Dropdown(
                    first[4]["choices"], value=None, label="Removed article", elem_id="trash-choice"
                )
                restore_button = gr.Button("Restore", elem_id="restore")
            rebuild_button = gr.Button("Rebuild index", variant="primary", elem_id="rebuild")
            view = [note, status, table, choice, trashed, undone]
            private: dict[str, Any] = {"api_visibility": "private"}
            upload_button.click(bind(on_upload, assistant), [upload], [*view, upload], **private)
            paste_button.click(bind(on_paste, assistant), [title, text], [*view, title, text], **private)
            remove_button.click(on_ask_remove, [choice], [confirm, confirm_text], **private)
            title_button.click(bind(on_set_title, assistant), [choice, new_title], view, **private)
            no.click(lambda: gr.update(visible=False), None, [confirm], **private)
            yes.click(lambda: gr.update(visible=False), None, [confirm], **private).then(
                bind(on_remove, assistant), [choice], view, **private
            )
            undone.change(lambda u: gr.update(visible=bool(u)), [undone], [undo], **private)
            undo.click(bind(on_restore, assistant), [undone], view, **private)
            restore_button.click(bind(on_restore, assistant), [trashed], view, **private)
            rebuild_button.click(bind(on_rebuild, assistant), None, view, **private)
            demo.load(bind(on_library_load, assistant), None, view, **private)  # true on every page load
        with gr.Tab("Evaluate"):
            gr.Markdown(
                f"Asks the test questions in `{QUERY_FILE}` (each labelled with the words that answer it, or"
                " marked as not answerable) and measures how often the right passage is found, how high it"
                " ranks, and whether answers quote it. The same as `rag eval` in a terminal."
            )
            which = gr.Radio(
                [
                    ("The test questions", "test"),
                    (f"Your feedback ({assistant.settings.feedback_path})", "feedback"),
                ],
                value="test",
                label="Questions to ask",
                elem_id="eval-which",
            )
            eval_button = gr.Button("Run evaluation", elem_id="evaluate")
            eval_note = gr.Markdown()
            with gr.Row():
                metrics = gr.Dataframe(
                    headers=["figure", "value", "what it means"],
                    interactive=False,
                    wrap=True,
                    column_widths=["22%", "12%", "66%"],
                    elem_id="eval-figures",
                )
                plot = gr.Image(label="Where the right passage ranked", type="filepath", show_label=False)
            per_query = gr.Dataframe(
                headers=["question", "result", "at rank", "top passage"],
                interactive=False,
                wrap=True,
                column_widths=["38%", "12%", "8%", "42%"],
                elem_id="eval-questions",
            )
            eval_button.click(
                bind(on_evaluate, assistant),
                [which],
                [eval_note, metrics, per_query, plot],
                api_visibility="private",
            )

        def ask(
            question: str, k: int = 5, mode: str = "hybrid", history: list[str] | None = None
        ) -> dict[str, Any]:
            """Answer a question: text with [n] markers, cited sources with path/start/end.

            history: the conversation's earlier questions, oldest first (optional).
            """
            return api_ask(assistant, question, k, mode, history)

        def search(question: str, k: int = 5, mode: str = "hybrid") -> list[dict[str, Any]]:
            """Ranked passages with citations and why each was found."""
            return api_search(assistant, question, k, mode)

        gr.api(ask, api_name="ask")
        gr.api(search, api_name="search")
    return demo


def create_app(assistant: Assistant, auth: tuple[str, str] | None = None) -> Any:
    """A FastAPI app serving the UI at / and the article viewer at /article."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Mount

    from rag.extract import cited_path, cited_text
    from rag.ingest import article_sha256
    from rag.library import MAX_UPLOAD_BYTES
    from rag.render import ARTICLE_CSP, STALE_NOTE, article_page, parse_spans

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def logged_in(request: Request) -> bool:
        if auth is None:
            return True
        ui = next(r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "tokens"))
        token = request.cookies.get(f"access-token-{ui.cookie_id}") or request.cookies.get(
            f"access-token-unsecure-{ui.cookie_id}"
        )
        return token in ui.tokens

    @app.get("/article")
    def article(request: Request, id: str, start: int = 0, end: int = 0, q: str = "") -> Any:
        if not logged_in(request):
            return PlainTextResponse("log in first", status_code=401)
        meta = assistant.retriever.index.manifest["articles"].get(id)
        if meta is None:  # only articles of the index are served: no paths from the request
            return PlainTextResponse("no such article in the index", status_code=404)
        try:
            data = (assistant.corpus_dir / meta["path"]).read_bytes()
            text = cited_text(assistant.corpus_dir, meta["path"])  # as offsets count: no newline translation
        except (OSError, UnicodeDecodeError, RagError):
            return PlainTextResponse("the article file is gone - rebuild the index", status_code=410)
        spans = parse_spans(start, end, q)
        note = ""
        # offsets into a changed article would mark the wrong words
        if article_sha256(assistant.corpus_dir / meta["path"], data) != meta.get("sha256"):
            spans, note = [], STALE_NOTE
        page = article_page(meta.get("title") or id, cited_path(meta["path"]), text, spans, note=note)
        return HTMLResponse(
            page, headers={"Content-Security-Policy": ARTICLE_CSP, "X-Content-Type-Options": "nosniff"}
        )

    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", str(KEPT_SESSIONS))  # read when the queue is made
    demo = build_ui(assistant)
    # Gradio keeps a copy of the page's configuration (~100 kB) for each session, 10,000 by default, and
    # every API call is a session of its own: memory grew by ~108 kB a request. Nothing here keeps state
    # between requests (the chat history lives in the page), so a few hundred sessions is plenty.
    demo.state_session_capacity = KEPT_SESSIONS
    mounted = gr.mount_gradio_app(
        app,
        demo,
        path="",
        auth=auth,
        max_file_size=MAX_UPLOAD_BYTES,
        head=HEAD,
        footer_links=["api"],
        blocked_paths=[str(assistant.corpus_dir.resolve()), str(assistant.index_dir.resolve())],
    )
    # mount_gradio_app does not mark the Blocks launched, and until then Gradio skips its check that a
    # file named in a request was uploaded: any server path in a file part would be copied and served.
    demo.has_launched = True
    from gradio.utils import LRUCache

    demo._queue.pending_messages_per_session = LRUCache(KEPT_SESSIONS * 2)  # Gradio keeps 2,000 (~20 kB each)
    _prune_finished_sessions(app, demo)
    return mounted


KEPT_SESSIONS = 200


def _prune_finished_sessions(app: Any, demo: Any) -> None:
    """Gradio's queue keeps an (empty) set of pending events for every session it has seen; drop the
    empty ones now and then, on the event loop that owns them, so memory stays flat under API traffic."""
    seen = {"requests": 0}

    @app.middleware("http")
    async def prune(request: Request, call_next: Any) -> Any:
        seen["requests"] += 1
        if seen["requests"] % KEPT_SESSIONS == 0 and (queue := getattr(demo, "_queue", None)) is not None:
            pending = queue.pending_event_ids_session
            for session in [s for s, ids in pending.items() if not ids]:
                pending.pop(session, None)
        return await call_next(request)


def ensure_index(assistant: Assistant) -> None:
    """Build or refresh the index when it is missing or stale (as the README's main command promises)."""
    from rag.onnx_embed import read_export

    # Load the index once, so that status() reuses its manifest; if it is missing, damaged or of
    # another format, status() says which and a build follows.
    try:
        assistant.retriever  # noqa: B018
        serving = True
    except RagError:
        serving = False
    status = assistant.status()
    if not status.stale:
        if read_export(status.manifest["embedder"]["fingerprint"]) is None:
            print("exporting the model for torch-free questions (once per machine)", flush=True)
            assistant.build_now()  # an up-to-date build only makes the export
        return
    print(
        f"index: {status.problem or 'stale against ' + str(assistant.corpus_dir) + '/'} - building",
        flush=True,
    )
    try:
        for line in assistant.build_now().lines():
            print(line, flush=True)
    except RagError as exc:
        if not serving:
            raise
        # One bad article must not take the whole library offline: serve the index as it is, say why.
        assistant.problem = (
            f"The index could not be refreshed: {exc}. Questions are answered from the index as it was."
        )
        print(f"warning: {exc} - serving the index as it was", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Ask your articles questions in a web page.")
    parser.add_argument(
        "--corpus", type=Path, default=None, help="articles folder (default corpus/, or $RAG_CORPUS)"
    )
    parser.add_argument(
        "--index", type=Path, default=None, help="index folder (default index/, or $RAG_INDEX)"
    )
    parser.add_argument(
        "--host",
        default=os.environ.get("RAG_HOST") or "127.0.0.1",  # empty means unset: never every interface
        help="address to serve on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=os.environ.get("GRADIO_SERVER_PORT") or "7860",
        help="port (default 7860, or $GRADIO_SERVER_PORT)",
    )
    parser.add_argument(
        "--no-watch",
        action="store_true",
        help="do not index articles changed on disk by themselves (Rebuild index does it)",
    )
    parser.add_argument(
        "--auth",
        default=os.environ.get("RAG_AUTH") or None,
        help="USER:PASSWORD to require a login (or $RAG_AUTH)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
    args.host = args.host or "127.0.0.1"  # an empty --host means the default, not every interface
    settings = Settings.from_env()
    settings = replace(
        settings, corpus_dir=args.corpus or settings.corpus_dir, index_dir=args.index or settings.index_dir
    )
    auth = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep or not user or not password:
            print("error: --auth must be USER:PASSWORD", file=sys.stderr)
            return 2
        auth = (user, password)
    assistant = Assistant(settings)
    try:
        ensure_index(assistant)
        assistant.retriever  # load the model and index before the first question  # noqa: B018
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    import gc

    import uvicorn

    app = create_app(assistant, auth)
    if not args.no_watch:  # articles edited or copied in while the app runs are indexed by themselves
        from rag.watch import start_watching

        start_watching(assistant.corpus_dir, lambda changed: assistant.rebuild_soon())
    # What is loaded now (the index manifest alone is ~100,000 objects at a million passages) lives as
    # long as the process: keep it out of the garbage collector's full passes, which ran during requests.
    gc.freeze()
    print(f"serving on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
