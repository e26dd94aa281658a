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
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves route annotations from here

from rag.config import Settings
from rag.errors import RagError
from rag.service import Assistant
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
document.addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest('a[href^="/article?"]');
  const frame = document.getElementById("viewer-frame");
  if (!link || !frame) return;
  event.preventDefault();
  frame.src = link.getAttribute("href");
});
</script>"""


# ---- handlers: plain functions, tested directly -------------------------------------------------


def api_ask(assistant: Assistant, question: str, k: int = 5, mode: str = "hybrid") -> dict[str, Any]:
    """Structured answer: text, sources with file/start/end, abstention, evidence."""
    return _for_client(assistant.ask(question, k=int(k), mode=mode).to_json())


def api_search(assistant: Assistant, question: str, k: int = 5, mode: str = "hybrid") -> list[dict[str, Any]]:
    """Ranked passages with citations and why each was found."""
    return _for_client([p.to_json() for p in assistant.search(question, k=int(k), mode=mode)])


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

    history = list(history or [])
    history.append({"role": "user", "content": html.escape(question)})
    try:
        reply = assistant.ask(question, k=int(k), mode=mode, generative=generative)
    except RagError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {html.escape(str(exc))}"})
        return history, "", viewer_html(""), question
    history.append({"role": "assistant", "content": answer_html(reply)})
    first = reply.answer.sources[0] if reply.answer.sources else None
    url = article_url(first.passage.chunk.article_id, first.start, first.end, first.quotes) if first else ""
    return history, sources_html(reply), viewer_html(url), ""


def viewer_html(url: str) -> str:
    src = html.escape(url or "about:blank")
    return (
        f'<iframe id="viewer-frame" name="viewer" src="{src}" title="Article viewer"'
        ' style="width:100%;height:520px;border:1px solid #d0d7de;border-radius:6px"></iframe>'
    )


def library_rows(assistant: Assistant, status: IndexStatus | None = None) -> list[list[Any]]:
    """The Library table; `status` when the caller has just checked (each check walks the corpus)."""
    from rag.library import list_articles

    try:
        rows = list_articles(status or assistant.status())
    except RagError:
        return []
    return [[r.path, r.title, "" if r.passages is None else r.passages, r.state] for r in rows]


def library_status(assistant: Assistant, status: IndexStatus | None = None) -> str:
    state = assistant.rebuild_state
    status = status or assistant.status()
    if state.running:
        line = f"Rebuilding: {state.stage} ({state.fraction:.0%}). Questions are answered from the previous index."
    elif status.problem:
        line = f"Index: {status.problem}"
    elif status.stale:
        line = f"The index is stale: {len(status.new)} new, {len(status.changed)} changed, {len(status.missing)} removed article(s). Press Rebuild index."
    else:
        m = status.manifest
        from rag.status import question_backend

        line = (
            f"The index is up to date: {m['counts']['articles']} articles, {m['counts']['chunks']} passages."
            f" Questions are embedded with {question_backend(m['embedder'])}."
        )
    if state.error:
        line += f"\n\nLast rebuild failed: {state.error}"
    elif state.report is not None:
        line += "\n\nLast rebuild: " + "; ".join(state.report.lines())
    return line


def on_upload(assistant: Assistant, files: list[Any] | None) -> tuple[str, list[list[Any]], Any]:
    from rag.library import add_file

    messages = []
    for f in files or []:
        path = Path(f if isinstance(f, str) else f.name)
        try:
            added = add_file(assistant.corpus_dir, path.name, path.read_bytes())
            messages.append(f"Added {added.name}.")
        except RagError as exc:
            messages.append(f"⚠️ {exc}")
    return _after_change(assistant, messages or ["Choose .txt, .md, .html or .pdf files first."])


def on_paste(assistant: Assistant, title: str, text: str) -> tuple[str, list[list[Any]], Any]:
    from rag.library import add_text

    try:
        added = add_text(assistant.corpus_dir, title, text)
        return _after_change(assistant, [f"Added {added.name}."])
    except RagError as exc:
        return _after_change(assistant, [f"⚠️ {exc}"])


def on_remove(assistant: Assistant, rel_path: str | None) -> tuple[str, list[list[Any]], Any]:
    from rag.library import remove

    try:
        remove(assistant.corpus_dir, rel_path or "")
        return _after_change(assistant, [f"Removed {rel_path}."])
    except RagError as exc:
        return _after_change(assistant, [f"⚠️ {exc}"])


def on_set_title(assistant: Assistant, rel_path: str | None, title: str) -> tuple[str, list[list[Any]], Any]:
    from rag.library import set_title

    try:
        set_title(assistant.corpus_dir, rel_path or "", title)
        done = (
            f"Title of {rel_path} set to {' '.join(title.split())!r}."
            if title.strip()
            else f"Title of {rel_path} reset."
        )
        return _after_change(assistant, [done])
    except RagError as exc:
        return _after_change(assistant, [f"⚠️ {exc}"])


def _after_change(assistant: Assistant, messages: list[str]) -> tuple[str, list[list[Any]], Any]:
    import gradio as gr

    rows = library_rows(assistant)
    note = " ".join(messages) + " Press Rebuild index to include the change."
    return note, rows, gr.update(choices=[r[0] for r in rows], value=None)


def on_rebuild(assistant: Assistant, progress: Any = None) -> tuple[str, list[list[Any]]]:
    """Start a rebuild and report its progress until the new index serves (or the old one still does)."""
    if not assistant.start_rebuild():
        return "A rebuild is already running.", library_rows(assistant)
    while assistant.rebuild_state.running:
        if progress is not None:
            progress(assistant.rebuild_state.fraction, desc=assistant.rebuild_state.stage)
        time.sleep(0.2)
    status = assistant.status()
    return library_status(assistant, status), library_rows(assistant, status)


def on_evaluate(assistant: Assistant) -> tuple[str, list[list[Any]], list[list[Any]], str | None]:
    """(summary, metrics rows, per-query rows, plot path) for the committed query set."""
    from rag.abstain import AbstentionPolicy
    from rag.evalreport import save_run
    from rag.evaluate import evaluate_query_file

    try:
        run = evaluate_query_file(
            assistant.retriever, QUERY_FILE, policy=AbstentionPolicy(enabled=assistant.settings.abstain)
        )
    except RagError as exc:
        return f"⚠️ {exc}", [], [], None
    saved = save_run(run, Path("eval/runs"), "queries-app")
    metrics = [[name, round(value, 4)] for name, value in run.metrics.items()]
    metrics.append(["latency p50 (ms)", round(run.latency_ms["p50"], 1)])
    abst = run.abstention() or {}
    if abst:
        metrics.append(["unanswerable abstained", f"{abst['unanswerable_abstained']}/{abst['unanswerable']}"])
        metrics.append(
            ["answerable wrongly abstained", f"{abst['answerable_abstained']}/{abst['answerable']}"]
        )
    per_query = [
        [r.qid, r.question, r.answerable, r.first_relevant_rank or "-", r.abstained, r.top_text[:120]]
        for r in run.results
    ]
    return (
        f"Evaluated {len(run.results)} questions from {QUERY_FILE} in {run.seconds:.1f} s; saved {saved}.",
        metrics,
        per_query,
        str(saved.with_suffix(".png")),
    )


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
                    chat = gr.Chatbot(label="Conversation", height=460, elem_id="chat")
                    question = gr.Textbox(
                        label="Question", placeholder="how do I avoid being clingy?", elem_id="question"
                    )
                    ask_button = gr.Button("Ask", variant="primary", elem_id="ask")
                    gr.Examples(EXAMPLES, inputs=[question], label="Examples")
                    with gr.Accordion("Settings", open=False):
                        k = gr.Slider(
                            1, 10, value=assistant.settings.k, step=1, label="Passages to answer from (k)"
                        )
                        mode = gr.Radio(
                            ["hybrid", "dense", "keyword"],
                            value=assistant.settings.retrieval,
                            label="Retrieval",
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
        with gr.Tab("Library"):
            checked = assistant.status()
            status = gr.Markdown(library_status(assistant, checked), elem_id="library-status")
            rows = library_rows(assistant, checked)
            table = gr.Dataframe(
                rows, headers=["article", "title", "passages", "state"], interactive=False, elem_id="articles"
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
                choice = gr.Dropdown([r[0] for r in rows], label="Article", elem_id="remove-choice")
                new_title = gr.Textbox(
                    label="Correct its title (empty: the title found in it)", elem_id="new-title"
                )
                title_button = gr.Button("Set title", elem_id="set-title")
                remove_button = gr.Button("Remove article", variant="stop", elem_id="remove")
            rebuild_button = gr.Button("Rebuild index", variant="primary", elem_id="rebuild")
            changed = [status, table, choice]
            upload_button.click(bind(on_upload, assistant), [upload], changed, api_visibility="private")
            paste_button.click(bind(on_paste, assistant), [title, text], changed, api_visibility="private")
            remove_button.click(bind(on_remove, assistant), [choice], changed, api_visibility="private")
            title_button.click(
                bind(on_set_title, assistant), [choice, new_title], changed, api_visibility="private"
            )

            def rebuild(progress: gr.Progress = gr.Progress()) -> tuple[str, list[list[Any]]]:  # noqa: B008
                return on_rebuild(assistant, progress)

            rebuild_button.click(rebuild, [], [status, table], api_visibility="private")
        with gr.Tab("Evaluate"):
            gr.Markdown(f"Runs `rag eval {QUERY_FILE}` against the current index.")
            eval_button = gr.Button("Run evaluation", elem_id="evaluate")
            eval_note = gr.Markdown()
            with gr.Row():
                metrics = gr.Dataframe(headers=["metric", "value"], interactive=False)
                plot = gr.Image(label="Recall@k and first relevant ranks", type="filepath")
            per_query = gr.Dataframe(
                headers=["id", "question", "answerable", "first relevant rank", "abstained", "top passage"],
                interactive=False,
            )
            eval_button.click(
                bind(on_evaluate, assistant),
                [],
                [eval_note, metrics, per_query, plot],
                api_visibility="private",
            )

        def ask(question: str, k: int = 5, mode: str = "hybrid") -> dict[str, Any]:
            """Answer a question: text with [n] markers, cited sources with path/start/end."""
            return api_ask(assistant, question, k, mode)

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
    from rag.library import MAX_UPLOAD_BYTES
    from rag.render import ARTICLE_CSP, article_page, parse_spans

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
            text = cited_text(assistant.corpus_dir, meta["path"])  # as offsets count: no newline translation
        except (OSError, UnicodeDecodeError, RagError):
            return PlainTextResponse("the article file is gone - rebuild the index", status_code=410)
        page = article_page(
            meta.get("title") or id, cited_path(meta["path"]), text, parse_spans(start, end, q)
        )
        return HTMLResponse(
            page, headers={"Content-Security-Policy": ARTICLE_CSP, "X-Content-Type-Options": "nosniff"}
        )

    return gr.mount_gradio_app(
        app,
        build_ui(assistant),
        path="",
        auth=auth,
        max_file_size=MAX_UPLOAD_BYTES,
        head=HEAD,
        footer_links=["api"],
    )


def ensure_index(assistant: Assistant) -> None:
    """Build or refresh the index when it is missing or stale (as the README's main command promises)."""
    from rag.onnx_embed import read_export

    # Load the index once, so that status() reuses its manifest; if it is missing, damaged or of
    # another format, status() says which and a build follows.
    with contextlib.suppress(RagError):
        assistant.retriever  # noqa: B018
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
    for line in assistant.build_now().lines():
        print(line, flush=True)


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
        default=os.environ.get("RAG_HOST", "127.0.0.1"),
        help="address to serve on (default 127.0.0.1)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        help="port (default 7860, or $GRADIO_SERVER_PORT)",
    )
    parser.add_argument(
        "--auth", default=os.environ.get("RAG_AUTH"), help="USER:PASSWORD to require a login (or $RAG_AUTH)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = parse_args(argv)
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
    # What is loaded now (the index manifest alone is ~100,000 objects at a million passages) lives as
    # long as the process: keep it out of the garbage collector's full passes, which ran during requests.
    gc.freeze()
    print(f"serving on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
