"""Web pages, PDFs and Windows text end to end: build, search, the --json recipe, the viewer, uploads and
corrected titles (the real model, through the app's handlers and routes)."""

from __future__ import annotations

import html
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.config import Settings
from rag.web import handlers, library_tab, server

from .test_formats import PAGE, _pdf

CRLF_TEXT = (
    "Skip to content\r\nHome › Advice\r\n\r\nHow To Share Chores Fairly\r\n\r\nBy Kim Ortiz\r\n\r\n"
    "Make a list of every chore in the house, including the invisible ones like planning meals.\r\n\r\n"
    "Trade chores\r\n\r\nSwap one chore each month so that nobody is stuck with the worst job forever.\r\n"
)


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Assistant:
    base = tmp_path_factory.mktemp("web")
    corpus = base / "corpus"
    corpus.mkdir()
    (corpus / "chores.txt").write_bytes(CRLF_TEXT.encode())
    (corpus / "promises.html").write_text(PAGE, encoding="utf-8")
    a = Assistant(replace(Settings(), corpus_dir=corpus, index_dir=base / "index"))
    server.ensure_index(a)
    return a


def _open(path: str) -> str:
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


@pytest.mark.parametrize(
    ("question", "words"),
    [
        ("how do we stop one person doing the worst chore?", "Swap one chore"),
        ("where do we write promises?", "shared calendar"),
    ],
)
def test_citations_open_exactly_with_the_readme_recipe(assistant: Assistant, question: str, words: str):
    hits = handlers.api_search(assistant, question, 3, "hybrid")
    hit = next(h for h in hits if words in h["text"])
    assert _open(hit["file"])[hit["start"] : hit["end"]] == hit["text"]
    from fastapi.testclient import TestClient

    with TestClient(server.create_app(assistant)) as client:
        page = client.get(
            "/article", params={"id": hit["article_id"], "start": hit["start"], "end": hit["end"]}
        )
    marked = page.text.split('<mark id="hl">', 1)[1].split("</mark>", 1)[0]
    assert html.unescape(marked) == hit["text"]  # the viewer marks the cited words, \r\n or not


def test_upload_html_and_pdf_then_correct_a_title(assistant: Assistant, tmp_path: Path):
    _pdf(
        tmp_path / "plans.pdf",
        [("Making Plans Together", 20), ("Agree on one plan for the weekend, then stick to it.", 11)],
    )
    (tmp_path / "promises-again.htm").write_text(
        PAGE.replace("Keeping Promises", "Keeping Small Promises"), encoding="utf-8"
    )
    (tmp_path / "scan.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    import gradio as gr

    uploads = Path(gr.utils.get_upload_folder()) / f"test-{os.getpid()}"  # where Gradio keeps uploads
    uploads.mkdir(parents=True, exist_ok=True)
    files = [
        str(shutil.copy(tmp_path / n, uploads / n)) for n in ("plans.pdf", "promises-again.htm", "scan.pdf")
    ]
    first, *_, last = list(library_tab.on_upload(assistant, files))
    assert "Added plans.pdf, promises-again.htm." in first[0] and "It is in the index now" in last[0]
    assert "⚠️" in first[0] and "scan.pdf" in first[0]
    views = list(library_tab.on_set_title(assistant, "chores.txt", "Sharing the chores"))
    assert views[0][0].startswith("Title of chores.txt set to &#x27;Sharing the chores&#x27;.")
    assert any(r[0] == "chores.txt" and r[3] == "changed" for r in views[0][2])
    assert "⚠️" in list(library_tab.on_set_title(assistant, "../elsewhere.txt", "x"))[-1][0]
    titles = {r[0]: r[1] for r in library_tab.library_rows(assistant)}
    assert titles["chores.txt"] == "Sharing the chores"
    assert titles["plans.pdf"] == "Making Plans Together"
    assert titles["promises-again.htm"] == "Keeping Small Promises in a Relationship"
    hit = handlers.api_search(assistant, "plan for the weekend", 1, "keyword")[0]
    assert (
        hit["file"].endswith(".text/plans.pdf.txt")
        and _open(hit["file"])[hit["start"] : hit["end"]] == hit["text"]
    )
