"""The web app through its handlers and HTTP routes (the real model; no browser: see test_browser)."""

from __future__ import annotations

import shutil
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.cli import serve_settings
from rag.config import Settings
from rag.web import handlers, library_tab, server

from .conftest import SEED_FILES


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    base = tmp_path_factory.mktemp("app")
    corpus = base / "corpus"
    corpus.mkdir()
    for f in SEED_FILES:
        shutil.copy(f, corpus / f.name)
    (corpus / "xss.md").write_text(
        "---\ntitle: Notes With Markup\n---\nSome writers type <script>alert('x')</script> into notes. "
        "Others paste <img src=x onerror=alert(1)> by mistake.\n",
        encoding="utf-8",
    )
    a = Assistant(replace(Settings(), corpus_dir=corpus, index_dir=base / "index"))
    server.ensure_index(a)
    return a


def test_api_ask_returns_structured_cited_answer(assistant: Assistant):
    out = handlers.api_ask(assistant, "how do I avoid being clingy?")
    assert out["abstained"] is False and "clingy" in out["text"] and "[1]" in out["text"]
    for src in out["sources"]:
        original = Path(src["file"]).read_text(encoding="utf-8")
        assert " ".join(original[src["start"] : src["end"]].split()) in " ".join(src["passage_text"].split())
    assert "path" not in str(out.keys())  # renamed for gradio_client, see handlers._for_client
    hits = handlers.api_search(assistant, "trust", 3, "keyword")
    assert 1 <= len(hits) <= 3 and all("keyword_rank" in h["why"] for h in hits)


def test_on_ask_renders_answer_sources_and_viewer(assistant: Assistant):
    history, sources, viewer, cleared = handlers.on_ask(
        assistant, "how do I avoid being clingy?", [], 5, "hybrid", False
    )
    assert cleared == "" and [m["role"] for m in history] == ["user", "assistant"]
    assert 'href="/article?id=' in history[1]["content"] and 'target="viewer"' in history[1]["content"]
    assert (
        "<mark>" in sources
        and "dense #" in sources
        and "keyword #" in sources
        and "Why this source" in sources
    )
    assert 'src="/article?id=000_724d5b54972ab479' in viewer


def test_the_chat_and_the_api_read_a_follow_up_with_the_earlier_questions(assistant: Assistant):
    history, *_ = handlers.on_ask(assistant, "how do I avoid being clingy?", [], 5, "hybrid", False)
    alone, *_ = handlers.on_ask(assistant, "and what about texting?", [], 5, "hybrid", False)
    history, *_ = handlers.on_ask(assistant, "and what about texting?", history, 5, "hybrid", False)
    assert [m["role"] for m in history] == ["user", "assistant"] * 2
    assert history[-1]["content"] != alone[-1]["content"]  # read in context, not alone
    out = handlers.api_ask(assistant, "and what about texting?", history=["how do I avoid being clingy?"])
    assert out["understood_as"] == "how do I avoid being clingy? and what about texting?"
    assert "texting" in out["text"]
    assert handlers.api_ask(assistant, "and what about texting?")["understood_as"] == ""


def test_on_ask_errors_and_abstention_are_messages_not_tracebacks(assistant: Assistant):
    earlier = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    history, *_, box = handlers.on_ask(assistant, "   ", earlier, 5, "hybrid", False)
    assert history == earlier and box == ""  # nothing asked: no blank bubble, no error
    history, *_ = handlers.on_ask(assistant, "x" * 3000, [], 5, "hybrid", False)
    assert history[-1]["content"].startswith("⚠️ the question is 3,000 characters")
    history, sources, _, _ = handlers.on_ask(assistant, "How do I file my taxes?", [], 5, "hybrid", False)
    assert "The articles don’t cover this." in history[-1]["content"]
    assert "Closest they come (not an answer)" in history[-1]["content"] and sources == ""


def test_article_route_escapes_text_and_forbids_scripts(assistant: Assistant):
    from fastapi.testclient import TestClient

    with TestClient(server.create_app(assistant)) as client:
        page = client.get("/article", params={"id": "xss", "start": 0, "end": 20})
        assert page.status_code == 200
        assert (
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page.text and "<script>" not in page.text
        )
        assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
        assert "script-src" not in page.headers["content-security-policy"]
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        hit = client.get("/article", params={"id": "000_724d5b54972ab479", "start": 2045, "end": 2116})
        assert (
            '<mark id="hl">One surefire way to make sure someone doesn’t miss you is to be clingy.</mark>'
            in hit.text
        )
        two = client.get("/article", params={"id": "000_724d5b54972ab479", "q": "2045-2116,2313-2364"})
        assert two.text.count("<mark") == 2 and '<mark id="hl">One surefire way' in two.text
        assert "<mark>We all want to be a part of an exciting experience.</mark>" in two.text
        bogus = client.get("/article", params={"id": "xss", "start": 0, "end": 4, "q": "x-y,,9"})
        assert bogus.status_code == 200 and bogus.text.count("<mark") == 1  # malformed q: the start/end span
        assert client.get("/article", params={"id": "../../etc/passwd"}).status_code == 404
        assert client.get("/").status_code == 200


def test_login_protects_the_article_route(assistant: Assistant):
    from fastapi.testclient import TestClient

    with TestClient(server.create_app(assistant, auth=("reader", "s3cret"))) as client:
        assert client.get("/article", params={"id": "xss"}).status_code == 401
        assert client.post("/login", data={"username": "reader", "password": "wrong"}).status_code >= 400
        assert client.post("/login", data={"username": "reader", "password": "s3cret"}).status_code == 200
        assert client.get("/article", params={"id": "xss"}).status_code == 200


def test_paste_is_indexed_at_once_while_questions_are_answered(assistant: Assistant):
    before = assistant.retriever
    answers: list[bool] = []
    stop = threading.Event()

    def keep_asking() -> None:  # questions keep being answered from the old index while it indexes
        while not stop.is_set() or not answers:
            answers.append(not assistant.ask("how do I avoid being clingy?").answer.abstained)

    worker = threading.Thread(target=keep_asking)
    worker.start()
    views = list(
        library_tab.on_paste(
            assistant,
            "Caring For Sourdough Starter",
            "Feed a sourdough starter with equal weights of flour and water every twelve hours. "
            "Discard half of it before each feeding. It is ready when it doubles in size.",
        )
    )
    stop.set()
    worker.join(timeout=120)
    first, last = views[0], views[-1]
    assert first[0].startswith("Added Caring-For-Sourdough-Starter.md") and "Indexing it now" in first[0]
    assert any(r[0] == "Caring-For-Sourdough-Starter.md" and r[3] == "new" for r in first[2])
    assert "It is in the index now" in last[0] and last[-2:] == ("", "")  # the fields are emptied
    assert any(r[0] == "Caring-For-Sourdough-Starter.md" and r[3] == "indexed" for r in last[2])
    assert answers and all(answers)
    assert assistant.rebuild_state.error == "" and assistant.retriever is not before
    assert "Last rebuild:" in last[1]
    out = handlers.api_ask(assistant, "how often should I feed my sourdough starter?")
    assert out["abstained"] is False and any("Sourdough" in s["file"] for s in out["sources"])


def test_failed_rebuild_keeps_serving_the_previous_index(assistant: Assistant):
    serving = assistant.retriever
    bad = assistant.corpus_dir / "broken.txt"
    bad.write_bytes(b"\x00\x01\x02")
    try:
        last = list(library_tab.on_rebuild(assistant))[-1]
        assert "Indexing failed" in last[0] and "broken.txt contains NUL bytes" in last[0]
        assert "Last rebuild failed: " in last[1]
        assert assistant.retriever is serving
        assert not handlers.api_ask(assistant, "how do I avoid being clingy?")["abstained"]
    finally:
        bad.unlink()


def test_remove_asks_first_moves_to_the_trash_and_undo_restores(assistant: Assistant):
    from rag.ingest.trash import trash_dir

    rows = library_tab.library_rows(assistant)
    assert {r[0] for r in rows} >= {"000_724d5b54972ab479.txt", "xss.md"}
    hidden, said = library_tab.on_ask_remove(None)
    assert hidden["visible"] is False and "Pick an article" in said
    shown, said = library_tab.on_ask_remove("xss.md")
    assert shown["visible"] is True and "xss.md" in said and "trash" in said
    bad = list(library_tab.on_remove(assistant, "../outside.txt"))[-1]
    assert "⚠️" in bad[0] and "is not an article" in bad[0] and bad[5] == ""
    gone = list(library_tab.on_remove(assistant, "xss.md"))[-1]
    assert "Moved xss.md to the trash" in gone[0] and "out of the index now" in gone[0]
    assert "xss.md" not in {r[0] for r in gone[2]} and gone[5] in gone[4]["choices"]
    assert (trash_dir(assistant.corpus_dir) / gone[5]).is_file()
    back = list(library_tab.on_restore(assistant, gone[5]))[-1]  # what Undo does
    assert "Restored xss.md" in back[0] and "xss.md" in {r[0] for r in back[2]} and back[5] == ""
    assert (assistant.corpus_dir / "xss.md").is_file() and back[4]["choices"] == []


def test_the_library_is_read_per_page_load(assistant: Assistant):
    (assistant.corpus_dir / "copied-in.md").write_text(
        "# Copied\n\nAn article copied in by hand. It is new.\n"
    )
    try:
        view = library_tab.on_library_load(assistant)
        assert any(r[0] == "copied-in.md" and r[3] == "new" for r in view[2])
        assert view[3]["value"] is None and "Not indexed yet: 1 new" in view[1]
    finally:
        (assistant.corpus_dir / "copied-in.md").unlink()


def test_evaluate_tab(assistant: Assistant, monkeypatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)  # eval/runs is written under the working folder
    (tmp_path / "eval").mkdir()
    shutil.copy(Path(__file__).parent.parent / "eval" / "queries.jsonl", tmp_path / "eval" / "queries.jsonl")
    note, metrics, per_query, plot = handlers.on_evaluate(assistant)
    n = sum(1 for line in (tmp_path / "eval" / "queries.jsonl").read_text().splitlines() if line.strip())
    assert n >= 100 and note.startswith(f"Asked the {n} questions")
    names = [m[0] for m in metrics]
    assert {"R@5", "RR@10", "nDCG@10", "unanswerable abstained"} <= set(names)
    assert {"answer recall (train)", "answer recall (test)", "answer precision (test)"} <= set(names)
    assert all(len(m) == 3 and m[2].endswith(".") for m in metrics), "every figure says what it means"
    assert len(per_query) == n and plot and Path(plot).is_file()
    assert {row[1] for row in per_query} <= {"found", "not found", "declined", "answered"}


def test_serve_defaults(monkeypatch):
    monkeypatch.delenv("GRADIO_SERVER_PORT", raising=False)
    monkeypatch.delenv("RAG_HOST", raising=False)
    monkeypatch.delenv("RAG_AUTH", raising=False)
    s = serve_settings(None, None, None, None, None)
    assert (s.host, s.port, s.auth) == ("127.0.0.1", 7860, "")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    assert serve_settings(Path("c"), None, None, None, None).port == 7999
    assert serve_settings(Path("c"), None, "0.0.0.0", 8001, "a:b").port == 8001


def test_on_ask_keeps_the_conversation_as_gradio_hands_it(assistant: Assistant):
    # Gradio 6 gives a handler each message's content as a list of parts.
    earlier = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<p>hello</p>"}]},
        {"role": "user", "content": [{"type": "file", "file": {"path": "/etc/passwd"}}]},
    ]
    history, *_ = handlers.on_ask(assistant, "how do I avoid being clingy?", earlier, 5, "hybrid", False)
    assert [m["content"] for m in history[:2]] == ["hi", "<p>hello</p>"]
    assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
    assert "passwd" not in str(history)


def test_asking_within_one_article_cites_only_it_and_a_gone_article_falls_back(assistant: Assistant):
    picker = handlers.article_choices(assistant)
    ids = [value for _, value in picker["choices"]]
    assert ids[0] == "" and {"000_724d5b54972ab479", "002_28c6eb84cb694cfe", "xss"} <= set(ids)
    assert picker["value"] == ""  # nothing picked: all articles
    titles = dict((value, label) for label, value in picker["choices"])
    assert titles["xss"] == "Notes With Markup"  # by title, not file name
    trust = "002_28c6eb84cb694cfe"
    history, sources, *_ = handlers.on_ask(
        assistant, "how do I make someone miss me?", [], 5, "hybrid", False, trust
    )
    assert "only:" in history[1]["content"] and "/article?id=000_" not in history[1]["content"]
    assert f"/article?id={trust}" in history[1]["content"] and f"/article?id={trust}" in sources
    assert handlers.article_choices(assistant, trust)["value"] == trust  # kept while it is indexed
    assert handlers.article_choices(assistant, "gone")["value"] == ""  # removed meanwhile: back to all
    history, *_ = handlers.on_ask(assistant, "trust?", [], 5, "hybrid", False, "gone")
    assert history[1]["content"].startswith("⚠️") and "no longer in the index" in history[1]["content"]


def test_a_session_works_out_the_page_config_only_when_read(assistant: Assistant):
    """Each API call is a session; Gradio's made a copy of all 79 blocks' configuration for each (read
    only by deep links), and each call set its inputs' and output's values in it. Ours makes it when read,
    with the values set before, equal to Gradio's, and the queue API still answers."""
    from fastapi.testclient import TestClient
    from gradio import state_holder
    from starlette.routing import Mount

    app = server.create_app(assistant)
    demo = next(r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "state_holder")).blocks
    ours = state_holder.SessionState(demo)
    gradios = next(c for c in type(ours).__mro__ if c.__module__ == "gradio.state_holder")(demo)
    assert ours._configs is None  # nothing worked out when the session was made
    assert set(vars(gradios)) - {"config_values"} <= set(vars(ours))
    textbox = next(k for k, b in demo.blocks.items() if type(b).__name__ == "Textbox")
    for session in (ours, gradios):
        session._update_value_in_config(textbox, "a question")
    assert ours._configs is None and ours._values == {textbox: "a question"}  # kept aside
    assert ours.config_values == gradios.config_values and len(ours.config_values) == len(demo.blocks)
    assert list(ours.config_values) == list(gradios.config_values)  # in the same order
    for session in (ours, gradios):  # once made, a value goes straight in
        session._update_value_in_config(textbox, "another")
    assert (
        ours.config_values[textbox]["props"]["value"] == "another"
        and ours.config_values == gradios.config_values
    )
    with TestClient(app) as client:
        body = {"data": ["how do I avoid being clingy?", 3, "hybrid"]}
        event = client.post("/gradio_api/call/search", json=body).json()["event_id"]
        stream = client.get(f"/gradio_api/call/search/{event}").text
        assert "event: complete" in stream and "clingy" in stream
    called = list(demo.state_holder.session_data.values())[-1]
    assert called._configs is None and 1 <= len(called._values) <= 4  # the call's 3 inputs, its output
    assert demo._queue.cached_event_analytics_summary == {"functions": {}}  # no pandas summary per event


def test_sessions_with_nothing_pending_are_dropped_every_kept_sessions_requests(assistant: Assistant):
    import asyncio

    from starlette.routing import Mount

    from rag.web import sessions

    app = server.create_app(assistant)
    assert any(m.cls is sessions._PruneSessions for m in app.user_middleware)
    demo = next(r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "state_holder")).blocks
    pending = demo._queue.pending_event_ids_session
    pending.update({"done": set(), "busy": {"event"}})
    served = []

    async def inner(scope: dict, receive: object, send: object) -> None:
        served.append(scope["type"])

    prune = sessions._PruneSessions(inner, demo=demo)
    for _ in range(sessions.KEPT_SESSIONS - 1):
        asyncio.run(prune({"type": "http"}, None, None))
    assert "done" in pending and len(served) == sessions.KEPT_SESSIONS - 1
    asyncio.run(prune({"type": "http"}, None, None))
    assert "done" not in pending and pending["busy"] == {"event"}
