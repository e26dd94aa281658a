"""The page: Gradio Blocks with the Ask, Library and Evaluate tabs, wired to the handlers, and the
named /ask and /search API endpoints.

Only layout and wiring: what each event does is in handlers.py and library_tab.py.
"""

from __future__ import annotations

from typing import Any

from rag.assistant import Assistant
from rag.config import MODES

from .handlers import (
    ALL_ARTICLES,
    _text_only,
    api_ask,
    api_search,
    article_choices,
    on_ask,
    on_correct,
    on_evaluate,
    on_feedback,
    viewer_html,
)
from .library_tab import (
    on_ask_remove,
    on_library_load,
    on_paste,
    on_rebuild,
    on_remove,
    on_restore,
    on_set_title,
    on_upload,
)

MODE_LABELS = {"hybrid": "Meaning and words (best)", "dense": "Meaning only", "keyword": "Words only"}
EXAMPLES = [
    "how do I avoid being clingy?",
    "why does a bit of mystery make someone think about you?",
    "should I post photos of fun nights out?",
    "who wrote the article about making a man miss you?",
]
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
        with gr.Tab("Ask") as ask_tab:
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
                    within = gr.Dropdown([ALL_ARTICLES], value="", label="Ask within", elem_id="ask-within")
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
                            [(MODE_LABELS[m], m) for m in MODES],
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
            inputs = [question, chat, k, mode, generative, within]
            # Straight to the handler (one request, no queue join and event stream: about 25 ms less from
            # Enter to the answer), and a small spinner instead of a timer over all four outputs (the
            # page's own work, about 40 ms): issue #18's browser round trip, `rag bench --parts browser`.
            asked: dict[str, Any] = {"api_visibility": "private", "queue": False, "show_progress": "minimal"}
            ask_button.click(bind(on_ask, assistant), inputs, outputs, **asked)
            question.submit(bind(on_ask, assistant), inputs, outputs, **asked)
            examples.load_input_event.then(bind(on_ask, assistant), inputs, outputs, **asked)
            # The conversation survives a reload: kept in this browser's storage, never on the server.
            saved = gr.BrowserState([], storage_key="rag-conversation")
            quiet: dict[str, Any] = {"api_visibility": "private"}
            chat.change(_text_only, [chat], [saved], **quiet)
            demo.load(_text_only, [saved], [chat], **quiet)
            chat.clear(lambda: ("", viewer_html(""), []), None, [sources, viewer, saved], **quiet)
            # The articles to ask within, read on every page load and whenever the tab is shown again
            # (the Library may have added or removed one meanwhile).
            demo.load(bind(article_choices, assistant), [within], [within], **quiet)
            ask_tab.select(bind(article_choices, assistant), [within], [within], **quiet)

            def feedback(history: Any, data: Any) -> tuple[str, Any, str]:
                return on_feedback(assistant, history, data.index, data.liked)

            feedback.__annotations__["data"] = gr.LikeData  # Gradio passes the thumb by this annotation
            told = [feedback_note, correction, pending]
            chat.like(feedback, [chat], told, **quiet)
            save_words.click(lambda q, w: on_correct(assistant, q, w, True), [pending, words], told, **quiet)
            not_covered.click(lambda q: on_correct(assistant, q, "", False), [pending], told, **quiet)
        with gr.Tab("Library") as library_tab:
            # Filled when the tab is shown (each time: the corpus may have changed on disk), not when the
            # page is built: at 100,000 articles the table took seconds to build before the first answer,
            # and every API call's session copied it.
            status = gr.Markdown("Reading the library…", elem_id="library-status")
            table = gr.Dataframe(
                [],
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
                choice = gr.Dropdown([], value=None, label="Article", elem_id="remove-choice")
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
                trashed = gr.Dropdown([], value=None, label="Removed article", elem_id="trash-choice")
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
            library_tab.select(bind(on_library_load, assistant), None, view, **private)
        with gr.Tab("Evaluate"):
            gr.Markdown(
                f"Asks the test questions in `{assistant.settings.query_path}` (each labelled with the words that answer it, or"
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
                    column_widths=["26%", "16%", "58%"],  # "value" fits on a phone
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
