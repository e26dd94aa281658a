"""The web page's event handlers and the /ask and /search API: plain functions of an Assistant.

Each takes what the page or an API client sent, checks it, asks the Assistant (rag/assistant.py) and
returns what the page shows (HTML from render.py) or the API's JSON; tests call them without a browser.
A user error is a visible message, never a traceback. The Library tab's handlers are in library_tab.py,
the page itself in layout.py.
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import Iterator
from typing import Any

from rag.assistant import Assistant
from rag.errors import RagError


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
    from rag.config import MODES
    from rag.search.retrieve import check_question

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


ALL_ARTICLES = ("All articles", "")


def article_choices(assistant: Assistant, current: Any = "") -> Any:
    """The "Ask within" picker: every indexed article by title, read anew (a page load, the Ask tab
    shown again after the Library changed); a picked article that is gone falls back to all."""
    import gradio as gr

    try:
        articles = assistant.indexed_articles()
    except RagError:  # no index yet: nothing to pick
        articles = {}
    choices = [ALL_ARTICLES] + [(a.title or a_id, a_id) for a_id, a in articles.items()]
    keep = current if isinstance(current, str) and current in articles else ""
    return gr.update(choices=choices, value=keep)


def on_ask(
    assistant: Assistant,
    question: str,
    history: list[dict[str, Any]],
    k: int,
    mode: str,
    generative: bool,
    article: str = "",
) -> tuple[list[dict[str, Any]], str, str, str]:
    """(chat history, sources panel, viewer, cleared question box) after one question.

    `article`: an article id to answer from that article only; "" for all of them."""
    from .render import answer_html, article_url, sources_html, within_html

    history = _text_only(history)
    if not isinstance(question, str) or not question.strip():
        return history, "", viewer_html(""), ""  # nothing asked: no empty bubble, no error
    # The chat's earlier questions, so a follow-up ("and what about texting?") is read in context.
    earlier = [html.unescape(m["content"]) for m in history if m["role"] == "user"]
    history.append({"role": "user", "content": html.escape(question)})
    try:
        within = article if isinstance(article, str) and article else None
        record = assistant.indexed_articles().get(within) if within else None
        if within is not None and record is None:
            raise RagError("that article is no longer in the index - pick another under “Ask within”")
        reply = assistant.ask(
            question, k=int(k), mode=mode, generative=generative, history=earlier, article=within
        )
    except RagError as exc:
        history.append({"role": "assistant", "content": f"⚠️ {html.escape(str(exc))}"})
        return history, "", viewer_html(""), question
    note = within_html(record) if record is not None else ""
    history.append({"role": "assistant", "content": note + answer_html(reply)})
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
    from rag.evaluation.evalreport import save_run

    from .render import preview

    s = assistant.settings
    query_file = s.feedback_path if which == "feedback" else s.query_path
    if which == "feedback" and not query_file.is_file():
        return "No feedback yet: give an answer a thumbs up or down on the Ask tab first.", [], [], None
    try:
        run = assistant.evaluate(query_file)
    except RagError as exc:
        return f"⚠️ {html.escape(str(exc))}", [], [], None
    saved = save_run(run, s.runs_dir, "queries-app")
    figures: list[list[Any]] = [[name, round(value, 3)] for name, value in run.metrics.items()]
    figures.append(["latency p50 (ms)", round(run.latency_ms["p50"], 1)])
    abst = run.abstention() or {}
    if abst:
        figures.append(["unanswerable abstained", f"{abst['unanswerable_abstained']}/{abst['unanswerable']}"])
        figures.append(
            ["answerable wrongly abstained", f"{abst['answerable_abstained']}/{abst['answerable']}"]
        )
    for split, f in run.answers.items():  # answer-level figures (rag/evaluation/answereval.py), per split
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

    from rag.evaluation.feedback import record

    from .render import REFUSAL, quoted_sentences

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

    from rag.evaluation.feedback import record
    from rag.evaluation.queries import fold

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
    from rag.ingest.extract import cited_text

    for meta in assistant.indexed_articles().values():
        with contextlib.suppress(OSError, UnicodeDecodeError, RagError):
            yield cited_text(assistant.corpus_dir, meta.path)
