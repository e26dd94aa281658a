"""HTML and PDF articles, line endings, byte order marks, and titles the user corrects."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import ChunkParams
from rag.errors import CorpusError
from rag.ingest.chunk import chunk_article
from rag.ingest.extract import cited_path, cited_text, text_copy_path
from rag.ingest.read import article_sha256, hash_path, read_article
from rag.ingest.titles import set_title, title_from_filename

PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Keeping Promises | Example Love</title>
<meta property="og:title" content="Keeping Promises in a Relationship">
</head><body>
<header><a href="/">Example Love</a><nav><a href="/">Home</a> <a href="/dating">Dating</a></nav></header>
<main><article><h1>Keeping Promises in a Relationship</h1>
<p class="byline">By Ann Lee · 4 min read</p>
<p>Small promises matter more than <em>grand</em> ones. Keeping them is how trust_is built day by day.</p>
<h2>Write them down</h2>
<p>Put the promises you make in a shared calendar. A written promise is harder to forget.</p>
<div class="ad">Advertisement</div>
<p>Review the calendar together every Sunday evening, and celebrate the promises you kept.</p>
</article></main>
<footer>© 2025 Example Love. All rights reserved.</footer>
</body></html>
"""


def _passages(corpus: Path, name: str):
    a = read_article(corpus, corpus / name)
    return a, chunk_article(a, ChunkParams())


def test_html_article_cites_into_its_extracted_copy(tmp_path: Path):
    (tmp_path / "promises.html").write_text(PAGE, encoding="utf-8")
    a, chunks = _passages(tmp_path, "promises.html")
    assert (a.title, a.title_source) == ("Keeping Promises in a Relationship", "html")
    assert text_copy_path(tmp_path, "promises.html").is_file()
    assert cited_path("promises.html") == ".text/promises.html.txt"
    copy = cited_text(tmp_path, "promises.html")
    assert copy == a.text
    body = " ".join(c.text for c in chunks)
    assert "more than grand ones" in body and "trust_is built" in body  # no Markdown marks or escapes
    assert "every Sunday evening" in body
    for bad in ("Advertisement", "Home", "All rights reserved", "4 min read"):
        assert bad not in body
    assert {c.section for c in chunks} == {"", "Write them down"}
    with open(tmp_path / cited_path("promises.html"), encoding="utf-8", newline="") as fh:
        raw = fh.read()
    assert all(raw[c.start : c.end] == c.text for c in chunks)
    text_copy_path(tmp_path, "promises.html").unlink()  # a lost copy is extracted again, identical
    assert (
        cited_text(tmp_path, "promises.html") == raw and text_copy_path(tmp_path, "promises.html").is_file()
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html><body><script>render()</script></body></html>", "no article text found"),
        (b"", "is empty"),
        (b"\x00\x01\x02 not html at all", "contains NUL bytes"),
    ],
)
def test_html_without_an_article_is_a_one_line_error(tmp_path: Path, content: bytes, message: str):
    (tmp_path / "page.htm").write_bytes(content)
    with pytest.raises(CorpusError, match=message) as exc:
        read_article(tmp_path, tmp_path / "page.htm")
    assert "page.htm" in str(exc.value) and "\n" not in str(exc.value)


def _pdf(path: Path, paragraphs: list[tuple[str, int]], **encryption: str) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    for text, size in paragraphs:
        pdf.set_font("Helvetica", style="B" if size > 12 else "", size=size)
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    if encryption:
        pdf.set_encryption(**encryption)
    pdf.output(str(path))


LONG = (
    "When you disagree about plans, say what matters to you about the plan before you argue about the"
    " details, because the details are rarely what the disagreement is about."
)


def test_pdf_article_joins_wrapped_lines_and_finds_the_title(tmp_path: Path):
    _pdf(
        tmp_path / "plans.pdf",
        [
            ("Making Plans Together", 20),
            (LONG, 11),
            ("Say yes to small things", 14),
            ("Agree on one thing a week.", 11),
        ],
    )
    a, chunks = _passages(tmp_path, "plans.pdf")
    assert (a.title, a.title_source) == ("Making Plans Together", "pdf")
    assert any(c.text == LONG for c in chunks)  # one paragraph again, though the PDF wrapped it
    assert [c.section for c in chunks] == ["", "Say yes to small things"]
    copy = cited_text(tmp_path, "plans.pdf")
    assert all(copy[c.start : c.end] == c.text for c in chunks)


def test_scanned_encrypted_and_broken_pdfs_are_one_line_errors(tmp_path: Path):
    from fpdf import FPDF

    scan = FPDF()
    scan.add_page()
    scan.rect(20, 20, 100, 150, style="F")  # a page with a picture and no text layer
    scan.output(str(tmp_path / "scan.pdf"))
    _pdf(tmp_path / "locked.pdf", [(LONG, 11)], owner_password="owner", user_password="secret")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ntruncated")
    (tmp_path / "fake.pdf").write_bytes(b"this is a text file named .pdf")
    for name, message in [
        ("scan.pdf", "has no text layer"),
        ("locked.pdf", "is an encrypted PDF"),
        ("broken.pdf", "is not a readable PDF|has no text layer"),
        ("fake.pdf", "is not a PDF file"),
    ]:
        with pytest.raises(CorpusError, match=message) as exc:
            read_article(tmp_path, tmp_path / name)
        assert name in str(exc.value) and "\n" not in str(exc.value)


TEXT = "Trust After A Fight\n\nBy Sam Lee\n\nTalk when you are calm. Then listen.\n\nKeep promises\n\nCall when you said you would call.\n"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("lf.txt", TEXT.encode()),
        ("crlf.txt", TEXT.replace("\n", "\r\n").encode()),
        ("cr.txt", TEXT.replace("\n", "\r").encode()),
        ("bom.txt", b"\xef\xbb\xbf" + TEXT.replace("\n", "\r\n").encode()),
    ],
)
def test_line_endings_and_bom_keep_offsets_exact(tmp_path: Path, name: str, data: bytes):
    (tmp_path / name).write_bytes(data)
    a, chunks = _passages(tmp_path, name)
    assert a.title == "Trust After A Fight" and a.author == "Sam Lee"
    assert [c.section for c in chunks] == ["", "Keep promises"]
    # docs/usage.md's recipe: open(path, encoding="utf-8", newline="").read()[start:end] == text
    with open(tmp_path / cited_path(name), encoding="utf-8", newline="") as fh:
        raw = fh.read()
    assert [raw[c.start : c.end] for c in chunks] == [c.text for c in chunks]
    assert chunks[0].text.startswith("Talk when") and chunks[1].text == "Call when you said you would call."


def test_single_newline_copy_keeps_its_structure(tmp_path: Path):
    lines = [
        "Skip to content",
        "Home › Love › Advice",
        "Why Small Habits Matter in Love",
        "By Jo Park | May 2, 2024",
        "Couples who last share small daily habits. They make time for each other.",
        "Say good morning",
        "A warm greeting sets the tone for the whole day, even on busy mornings.",
        "Advertisement",
        "It takes ten seconds and costs nothing at all.",
        "© 2024 Love Site. All rights reserved.",
    ]
    (tmp_path / "habits.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    a, chunks = _passages(tmp_path, "habits.txt")
    assert a.title == "Why Small Habits Matter in Love"
    assert [c.section for c in chunks] == [
        "",
        "Say good morning",
        "Say good morning",
    ]  # the ad splits no section
    assert not any("Skip" in c.text or "Advertisement" in c.text or "©" in c.text for c in chunks)


def test_titles_from_file_names_are_readable():
    assert (
        title_from_filename("dailyledger_rebuild-trust-after-fight.txt")
        == "Dailyledger rebuild trust after fight"
    )
    assert title_from_filename("2024-05-02-how-to-listen.md") == "How to listen"
    assert title_from_filename("sub/000_724d5b54972ab479.txt") == "000 724d5b54972ab479"


def test_a_corrected_title_is_kept_and_changes_the_fingerprint(tmp_path: Path):
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    before = article_sha256(tmp_path / "a.txt", TEXT.encode())
    assert hash_path(tmp_path / "a.txt") == before
    set_title(tmp_path / "a.txt", "  A Better   Title ")
    a = read_article(tmp_path, tmp_path / "a.txt")
    assert (a.title, a.title_source) == ("A Better Title", "user")
    after = article_sha256(tmp_path / "a.txt", TEXT.encode())
    assert after != before and a.sha256 == after and hash_path(tmp_path / "a.txt") == after
    set_title(tmp_path / "a.txt", "")
    assert read_article(tmp_path, tmp_path / "a.txt").title == "Trust After A Fight"
