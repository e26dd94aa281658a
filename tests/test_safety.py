"""Data safety of the running app and clear errors (issue #16 items 6-10), with the real model.

- The app notices an index swapped in by another process (`rag build` in a terminal) and serves it.
- The article viewer flags a citation into an article changed since indexing instead of marking the
  wrong words.
- One bad article does not stop the app from serving its valid index; the Library says which file.
- The Library refuses an article whose id clashes with an existing one, and counts pasted bytes.
- An empty RAG_HOST means the default host; RAG_* numbers below their minimum are one-line errors.
- Invalid UTF-8 in a question and an unreadable corpus folder are one-line errors, not tracebacks.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.assistant import Assistant
from rag.cli import main, serve_settings
from rag.config import Settings
from rag.errors import CorpusError, RagError
from rag.index.build import build
from rag.index.index_folder import load_index
from rag.ingest.library import add_text
from rag.ingest.read import discover
from rag.web import library_tab, server
from rag.web.render import STALE_NOTE

from .conftest import SEED_FILES

ARTICLE = SEED_FILES[0].name


@pytest.fixture
def served(tmp_path: Path, seed_index) -> Assistant:
    """An Assistant serving a fresh copy of the seed corpus and index."""
    corpus_src, index_src = seed_index
    shutil.copytree(corpus_src, tmp_path / "corpus")
    shutil.copytree(index_src, tmp_path / "index")
    a = Assistant(replace(Settings(), corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))
    a.RECHECK_SECONDS = 0.0  # look at the manifest on every question (the app waits a second between looks)
    server.ensure_index(a)
    return a


def test_the_app_serves_an_index_built_by_another_process(served: Assistant, real_embedder):
    word = "Zanzibarian"
    assert not any(word in p.chunk.text for p in served.search(word, k=3, mode="keyword"))
    path = served.corpus_dir / ARTICLE
    path.write_text(
        path.read_text(encoding="utf-8") + f"\n\nA {word} proverb says patience wins.\n", encoding="utf-8"
    )
    build(
        served.corpus_dir, served.index_dir, real_embedder, served.settings.chunking
    )  # "rag build" elsewhere
    hits = served.search(word, k=3, mode="keyword")
    assert hits and word in hits[0].chunk.text
    assert served.status().stale is False


def test_the_viewer_flags_a_citation_into_a_changed_article(served: Assistant):
    from fastapi.testclient import TestClient

    article_id = Path(ARTICLE).stem
    with TestClient(server.create_app(served)) as client:
        fresh = client.get("/article", params={"id": article_id, "start": 10, "end": 40})
        assert fresh.status_code == 200 and "<mark" in fresh.text and STALE_NOTE not in fresh.text
        path = served.corpus_dir / ARTICLE
        path.write_text("Inserted at the top.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
        stale = client.get("/article", params={"id": article_id, "start": 10, "end": 40})
        assert stale.status_code == 200 and STALE_NOTE in stale.text and "<mark" not in stale.text


def test_a_bad_article_does_not_stop_the_app_serving_its_index(served: Assistant, capsys):
    (served.corpus_dir / "broken.txt").write_bytes(b"\xff\xfe not UTF-8 \x80\x81 at all")
    fresh = Assistant(served.settings)
    server.ensure_index(fresh)  # used to raise, and the app did not start
    assert "broken.txt" in fresh.problem
    assert fresh.search("how do I avoid being clingy?", k=1)  # the valid index serves
    assert "broken.txt" in library_tab.library_status(fresh)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning:") and "broken.txt" in err[0]


def test_the_library_refuses_an_id_that_clashes_and_counts_bytes(tmp_path: Path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED_FILES[0], corpus / ARTICLE)
    with pytest.raises(CorpusError, match="already has the id"):
        add_text(corpus, Path(ARTICLE).stem, "A pasted text. It has two sentences.")
    assert sorted(p.name for p in corpus.iterdir()) == [ARTICLE]
    with pytest.raises(CorpusError, match="limited to 2 MiB"):
        add_text(corpus, "big", "é" * 1_100_000)  # 1.1 M characters, 2.2 MB of UTF-8


def test_library_status_shows_names_as_text(served: Assistant):
    served.problem = "broken <img src=x onerror=alert(1)>.md cannot be read"
    line = library_tab.library_status(served)
    assert "<img" not in line and "&lt;img src=x onerror=alert(1)&gt;" in line


def test_empty_rag_host_means_the_default(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("RAG_HOST", "")
    assert serve_settings(None, None, None, None, None).host == "127.0.0.1"
    assert serve_settings(None, None, "", None, None).host == "127.0.0.1"  # --host ""
    monkeypatch.setenv("RAG_AUTH", "")
    assert serve_settings(None, None, None, None, None).auth == ""  # no login asked for


@pytest.mark.parametrize("value", ["0", "-5", "abc"])
def test_chunk_words_below_the_minimum_is_an_error_and_keeps_the_index(
    seed_index, tmp_path: Path, value: str
):
    corpus_src, index_src = seed_index
    shutil.copytree(index_src, tmp_path / "index")
    before = len(load_index(tmp_path / "index").chunks)
    env = {"RAG_CHUNK_WORDS": value, "RAG_CORPUS": str(corpus_src), "RAG_INDEX": str(tmp_path / "index")}
    result = CliRunner().invoke(main, ["build"], env=env)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert "RAG_CHUNK_WORDS" in result.output and "Traceback" not in result.output
    assert len(load_index(tmp_path / "index").chunks) == before
    with pytest.raises(RagError):
        Settings.from_env({"RAG_K": "0"})


def test_invalid_utf8_in_a_cli_question_is_one_line(seed_index):
    corpus_src, index_src = seed_index
    question = os.fsdecode(b"how do I \xff\xfe avoid being clingy?")  # what Python makes of such argv bytes
    for command in ("search", "ask"):
        result = CliRunner().invoke(
            main, [command, question, "--corpus", str(corpus_src), "--index", str(index_src)]
        )
        assert result.exit_code == 1, result.output
        assert "not valid text" in result.output and len(result.output.strip().splitlines()) == 1


def test_an_unreadable_corpus_folder_fails_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text("Alpha. Beta.")
    (corpus / "sub" / "b.txt").write_text("Gamma. Delta.")
    real_scandir = os.scandir

    def scandir(path: os.PathLike[str] | str = ".") -> object:
        if os.fspath(path).endswith("sub"):  # as root, permissions cannot make it unreadable
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(CorpusError, match="sub/ cannot be read"):
        discover(corpus)


def test_an_article_copied_into_the_corpus_is_indexed_by_itself(served: Assistant):
    import time

    from rag.ingest.watch import start_watching

    stop = start_watching(served.corpus_dir, lambda changed: served.rebuild_soon(), debounce_ms=300)
    try:
        time.sleep(0.5)  # the watcher is up
        (served.corpus_dir / "kites.md").write_text(
            "# Kites\n\nA Zanzibarian kite needs steady wind. It flies highest at dusk.\n", encoding="utf-8"
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            hits = served.search("Zanzibarian kite", k=1, mode="keyword")
            if hits and "Zanzibarian" in hits[0].chunk.text:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"the new article was not indexed: {served.rebuild_state}")
    finally:
        stop.set()
    served.wait_for_rebuild()
    assert served.rebuild_state.error == "" and not served.status().stale


def test_millions_of_short_lines_are_refused_before_any_cleaning(tmp_path: Path):
    # 10 MiB of "ab" lines took 70-80 s and 1.7 GB to clean (the per-line work is linear but not cheap).
    from rag.ingest.read import MAX_ARTICLE_LINES, read_article

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    path = corpus / "lines.txt"
    path.write_bytes(b"ab\n" * (10 * 1024 * 1024 // 3))
    with pytest.raises(CorpusError, match=f"the limit is {MAX_ARTICLE_LINES:,}"):
        read_article(corpus, path)
    path.write_bytes(b"ab\r" * (MAX_ARTICLE_LINES + 1))  # old-Mac line ends count too
    with pytest.raises(CorpusError, match="lines; the limit"):
        read_article(corpus, path)


def test_the_app_answers_before_hashing_the_articles_and_still_rebuilds_a_changed_one(
    tmp_path: Path, seed_index, monkeypatch
):
    """The start compares the articles' paths only; their hashes are compared in the background, and an
    article changed while the app was down is found there and indexed while the old index answers."""
    import threading

    from rag.index import status

    corpus_src, index_src = seed_index
    shutil.copytree(corpus_src, tmp_path / "corpus")
    shutil.copytree(index_src, tmp_path / "index")
    word = "Zanzibarian"
    path = tmp_path / "corpus" / ARTICLE
    path.write_text(path.read_text(encoding="utf-8") + f"\n\nA {word} proverb says wait.\n", encoding="utf-8")
    gate, hashed = threading.Event(), []
    real_hash = status.hash_path

    def slow_hash(p: str) -> str:  # as if the corpus took long to read
        gate.wait(120)
        hashed.append(p)
        return real_hash(p)

    monkeypatch.setattr(status, "hash_path", slow_hash)
    a = Assistant(replace(Settings(), corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))
    server.ensure_index(a)  # returns although no article could be hashed
    said: list[str] = []
    check = a.check_contents_later(said.append)
    assert check is not None and check.is_alive()
    assert a.search("how do I avoid being clingy?", k=1)  # the index answers during the check
    assert not any(word in p.chunk.text for p in a.search(word, k=3, mode="keyword"))
    assert hashed == [] and a.checked_status is None
    gate.set()
    check.join(120)
    assert a.checked_status is not None and a.checked_status.changed == (ARTICLE,)
    assert len(said) == 1 and "1 changed" in said[0] and "articles compared with the index in" in said[0]
    a.wait_for_rebuild()
    assert not a.rebuild_state.error
    hits = a.search(word, k=3, mode="keyword")
    assert hits and word in hits[0].chunk.text
    assert not a.status().stale
