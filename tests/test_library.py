"""Adding and removing articles from the app: checked, sanitised, never overwriting, nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import ChunkParams
from rag.errors import CorpusError
from rag.index.manifest import ArticleRecord, EmbedderInfo, Manifest
from rag.index.status import index_status
from rag.ingest.library import MAX_UPLOAD_BYTES, add_file, add_text, list_articles, remove, safe_name
from rag.ingest.read import read_article


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("notes.txt", "notes.txt"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("/abs/path/Article One.MD", "Article-One.md"),
        ("..\\..\\win.txt", "win.txt"),
        (".hidden.md", "hidden.md"),
        ("a<b>|c?.txt", "abc.txt"),
    ],
)
def test_safe_name(name: str, expected: str):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["x.docx", "x.exe", "noext", "...", "../.txt"])
def test_refused_names(name: str):
    with pytest.raises(CorpusError):
        safe_name(name)


def test_add_file_checks_before_writing(tmp_path: Path):
    corpus = tmp_path / "c"
    added = add_file(corpus, "../../evil/notes.txt", b"Some advice. It helps.\n")
    assert added == corpus / "notes.txt" and added.read_bytes() == b"Some advice. It helps.\n"
    with pytest.raises(CorpusError, match=r"notes.txt already exists - rename the new article"):
        add_file(corpus, "notes.txt", b"Replacement text.\n")
    assert added.read_bytes() == b"Some advice. It helps.\n"  # never overwritten
    for bad, msg in [(b"", "is empty"), (b"\x00\x01", "NUL bytes"), (b"\xff\xfe", "not valid UTF-8")]:
        with pytest.raises(CorpusError, match=msg):
            add_file(corpus, "bad.txt", bad)
    with pytest.raises(CorpusError, match=r"uploads are limited to 2 MiB"):
        add_file(corpus, "big.txt", b"x" * (MAX_UPLOAD_BYTES + 1))
    assert sorted(p.name for p in corpus.iterdir()) == ["notes.txt"]  # nothing half-written left behind


def test_add_text_writes_markdown_with_title(tmp_path: Path):
    path = add_text(tmp_path, 'Caring for "Sourdough"', "Feed it twice a day.\n\nKeep it warm.")
    assert path.name == "Caring-for-Sourdough.md"
    article = read_article(tmp_path, path)
    assert article.title == "Caring for 'Sourdough'" and article.title_source == "front_matter"
    with pytest.raises(CorpusError, match="has no title"):
        add_text(tmp_path, "  ", "text")
    with pytest.raises(CorpusError, match="has no text"):
        add_text(tmp_path, "Title", "   ")


def test_remove_only_articles_inside_the_corpus(tmp_path: Path):
    corpus = tmp_path / "c"
    add_file(corpus, "a.txt", b"Text here. More text.")
    outside = tmp_path / "keep.txt"
    outside.write_text("not an article")
    for target in ("../keep.txt", str(outside), "missing.txt", ""):
        with pytest.raises(CorpusError, match="is not an article in"):
            remove(corpus, target)
    assert outside.exists()
    remove(corpus, "a.txt")
    assert not (corpus / "a.txt").exists()


def test_list_articles_states(tmp_path: Path):
    corpus = tmp_path / "c"
    a = add_file(corpus, "a.txt", b"Alpha text. More.")
    add_file(corpus, "b.txt", b"Beta text. More.")
    from rag.ingest.read import file_sha256

    record = ArticleRecord("a.txt", file_sha256(a.read_bytes()), chunks=1, title="A")
    manifest = Manifest(EmbedderInfo("m", 8, "f"), ChunkParams(), {"a": record}, chunk_count=1)
    rows = {r.path: r for r in list_articles(index_status(corpus, tmp_path / "i", manifest))}
    assert rows["a.txt"].state == "indexed" and rows["a.txt"].passages == 1
    assert rows["b.txt"].state == "new" and rows["b.txt"].passages is None
    a.write_text("Changed text. Yes.")
    status = index_status(corpus, tmp_path / "i", manifest)
    assert {r.path: r.state for r in list_articles(status)}["a.txt"] == "changed"


def test_a_status_of_paths_only_reads_no_article(tmp_path: Path, monkeypatch):
    corpus = tmp_path / "c"
    a = add_file(corpus, "a.txt", b"Alpha text. More.")
    add_file(corpus, "b.txt", b"Beta text. More.")
    from rag.index import status as status_module
    from rag.ingest.read import file_sha256

    record = ArticleRecord("a.txt", file_sha256(a.read_bytes()), chunks=1, title="A")
    gone = ArticleRecord("gone.txt", file_sha256(b"x"), chunks=1, title="Gone")
    manifest = Manifest(EmbedderInfo("m", 8, "f"), ChunkParams(), {"a": record, "gone": gone}, chunk_count=2)
    a.write_text("Changed text. Yes.")
    read: list[str] = []
    real_hash = status_module.hash_path
    monkeypatch.setattr(status_module, "hash_path", lambda p: read.append(str(p)) or real_hash(p))
    quick = index_status(corpus, tmp_path / "i", manifest, contents=False)
    assert (quick.new, quick.missing, quick.changed) == (("b.txt",), ("gone.txt",), ())
    assert quick.stale and not quick.contents_checked and read == []
    full = index_status(corpus, tmp_path / "i", manifest)
    assert full.changed == ("a.txt",) and full.contents_checked and len(read) == 2
