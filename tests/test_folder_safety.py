"""A build replaces its index folder whole, so it must never replace a folder that is not an index.

Every option that names the folder a build writes is tried against folders that hold the user's own
files (a notes folder, the corpus itself, a project holding the corpus): each is a one-line error
naming the folder, exit code 1, and every file is still there afterwards. A missing or empty folder,
and a real index, are still built into.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.config import ChunkParams
from rag.errors import ForeignFolderError
from rag.index.build import build
from rag.index.folder_swap import refuse_foreign
from rag.index.index_folder import load_index
from rag.index.manifest import NAME as MANIFEST

from .conftest import ROOT, SEED_FILES


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """proj/ with corpus/ (the seed articles), notes/todo.txt and an empty folder."""
    proj = tmp_path / "proj"
    (proj / "corpus").mkdir(parents=True)
    for f in SEED_FILES:
        shutil.copy(f, proj / "corpus" / f.name)
    (proj / "notes").mkdir()
    (proj / "notes" / "todo.txt").write_text("buy milk\n", encoding="utf-8")
    (proj / "empty").mkdir()
    return proj


def _cli(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env)


@pytest.mark.parametrize(
    "index_name",
    ["notes", "corpus", "."],  # a notes folder, the corpus itself, the project that holds the corpus
)
def test_rag_build_refuses_a_folder_that_is_not_an_index(project: Path, index_name: str):
    before = _snapshot(project)
    result = _cli("build", "--corpus", str(project / "corpus"), "--index", str(project / index_name))
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is not an index folder" in lines[0] and "Traceback" not in result.output
    assert str(project / index_name) in lines[0]
    assert _snapshot(project) == before  # nothing deleted, nothing added


def test_rag_index_env_var_is_checked_the_same_way(project: Path):
    before = _snapshot(project)
    env = {"RAG_INDEX": str(project / "notes"), "RAG_CORPUS": str(project / "corpus")}
    result = _cli("build", env=env)
    assert result.exit_code == 1 and "is not an index folder" in result.output
    assert _snapshot(project) == before


def test_dry_run_says_the_same(project: Path):
    result = _cli(
        "build", "--dry-run", "--corpus", str(project / "corpus"), "--index", str(project / "notes")
    )
    assert result.exit_code == 1 and "is not an index folder" in result.output
    assert (project / "notes" / "todo.txt").is_file()


def test_app_refuses_to_build_into_a_documents_folder(project: Path):
    docs = project / "Documents"
    docs.mkdir()
    (docs / "letter.md").write_text("# Dear\n\nkeep me\n", encoding="utf-8")
    (docs / "photos").mkdir()
    (docs / "photos" / "a.jpg").write_bytes(b"\xff\xd8\xff")
    before = _snapshot(project)
    cmd = [sys.executable, "app.py", "--corpus", str(project / "corpus"), "--index", str(docs)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)  # serving = a bug
    err = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(err) == 1, done.stderr
    assert "is not an index folder" in err[0] and "letter.md" in err[0]
    assert _snapshot(project) == before


def test_a_file_saved_into_the_index_is_kept_too(project: Path, hasher):
    corpus_dir, index_dir = project / "corpus", project / "index"
    build(corpus_dir, index_dir, hasher, ChunkParams())
    (index_dir / "my-notes.txt").write_text("mine\n", encoding="utf-8")
    (corpus_dir / SEED_FILES[0].name).write_text("A changed article.\n\nIt has one paragraph now.\n")
    with pytest.raises(ForeignFolderError, match="my-notes.txt"):
        build(corpus_dir, index_dir, hasher, ChunkParams())
    assert (index_dir / "my-notes.txt").read_text() == "mine\n"
    load_index(index_dir)  # the old index is untouched and still loads


def test_missing_empty_and_real_index_folders_are_built_into(project: Path, hasher):
    corpus_dir = project / "corpus"
    for name in ("new-index", "empty"):
        build(corpus_dir, project / name, hasher, ChunkParams())
        assert (project / name / MANIFEST).is_file()
    refuse_foreign(project / "empty")  # a real index is recognised as one
    (corpus_dir / SEED_FILES[0].name).write_text("A changed article.\n\nIt has one paragraph now.\n")
    report = build(corpus_dir, project / "empty", hasher, ChunkParams())
    assert report.wrote and report.changed


def test_a_keyword_folder_with_foreign_files_is_refused(tmp_path: Path):
    (tmp_path / "idx" / "keyword").mkdir(parents=True)
    (tmp_path / "idx" / "keyword" / "diary.txt").write_text("x")
    with pytest.raises(ForeignFolderError, match="keyword/diary.txt"):
        refuse_foreign(tmp_path / "idx")
