"""Removing an article moves it to the trash beside the corpus; it can be listed, restored and emptied."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.errors import CorpusError
from rag.ingest.read import discover
from rag.ingest.trash import empty_trash, list_trash, move_to_trash, restore, trash_dir

from .conftest import SEED_FILES


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    (folder / "advice").mkdir(parents=True)
    shutil.copy(SEED_FILES[0], folder / SEED_FILES[0].name)
    (folder / "advice" / "space.md").write_text(
        "# Space\n\nDesire needs space. Give it some.\n", encoding="utf-8"
    )
    return folder


def test_a_removed_article_is_kept_outside_the_corpus_and_comes_back(corpus: Path):
    original = (corpus / "advice" / "space.md").read_bytes()
    item = move_to_trash(corpus, "advice/space.md")
    assert not (corpus / "advice" / "space.md").exists()
    assert trash_dir(corpus) == corpus.parent / "corpus.trash"
    assert [p.name for p in discover(corpus)] == [SEED_FILES[0].name]  # a build no longer sees it
    assert [(t.trash_id, t.rel_path) for t in list_trash(corpus)] == [(item.trash_id, "advice/space.md")]
    restored = restore(corpus, item.trash_id)
    assert restored == corpus / "advice" / "space.md" and restored.read_bytes() == original
    assert list_trash(corpus) == [] and not any(p.is_file() for p in trash_dir(corpus).rglob("*"))


def test_restore_never_overwrites_and_finds_the_newest_by_path(corpus: Path):
    move_to_trash(corpus, "advice/space.md")
    (corpus / "advice" / "space.md").write_text("A new article in its place. It stays.\n", encoding="utf-8")
    second = move_to_trash(corpus, "advice/space.md")
    (corpus / "advice" / "space.md").write_text("Third. Also stays.\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="exists again"):
        restore(corpus, "advice/space.md")
    assert (corpus / "advice" / "space.md").read_text() == "Third. Also stays.\n"
    (corpus / "advice" / "space.md").unlink()
    assert restore(corpus, "advice/space.md").read_text() == "A new article in its place. It stays.\n"
    assert second.trash_id not in {t.trash_id for t in list_trash(corpus)} and len(list_trash(corpus)) == 1


def test_only_articles_inside_the_corpus_can_be_trashed(corpus: Path, tmp_path: Path):
    outside = tmp_path / "keep.txt"
    outside.write_text("not an article")
    for target in ("../keep.txt", str(outside), "missing.txt", "", "advice"):
        with pytest.raises(CorpusError, match="is not an article in"):
            move_to_trash(corpus, target)
    assert outside.exists()
    with pytest.raises(CorpusError, match="is empty"):
        restore(corpus, "nothing")


def test_the_cli_removes_lists_restores_and_empties(corpus: Path):
    run = CliRunner()
    folders = ["--corpus", str(corpus)]
    out = run.invoke(main, ["remove", "advice/space.md", *folders])
    assert out.exit_code == 0 and "rag trash restore" in out.output, out.output
    listed = run.invoke(main, ["trash", *folders])
    assert listed.exit_code == 0 and "advice/space.md" in listed.output
    trash_id = listed.output.split("\t", 1)[0]
    assert run.invoke(main, ["trash", *folders, "restore", trash_id]).exit_code == 0
    assert (corpus / "advice" / "space.md").is_file()
    run.invoke(main, ["remove", SEED_FILES[0].name, *folders])
    refused = run.invoke(main, ["trash", *folders, "empty"], input="n\n")
    assert refused.exit_code == 1 and len(list_trash(corpus)) == 1  # asked, and the answer was no
    done = run.invoke(main, ["trash", *folders, "empty", "--yes"])
    assert done.exit_code == 0 and "deleted 1" in done.output and list_trash(corpus) == []
    bad = run.invoke(main, ["remove", "../etc/passwd", *folders])
    assert bad.exit_code == 1 and len(bad.output.strip().splitlines()) == 1


def test_empty_counts_what_it_deleted(corpus: Path):
    move_to_trash(corpus, "advice/space.md")
    move_to_trash(corpus, SEED_FILES[0].name)
    assert empty_trash(corpus) == 2 and list_trash(corpus) == []
