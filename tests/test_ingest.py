"""Reading the corpus: each bad file gets one line naming it and the fix."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest import read as ingest
from rag.ingest.read import (
    MAX_ARTICLE_BYTES,
    SUFFIXES,
    article_id_for,
    discover,
    discover_paths,
    file_sha256,
    hash_path,
    read_article,
)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", r"x\.txt is empty - add the article's text"),
        (b" \n\t\n\xc2\xa0\n", r"x\.txt holds only whitespace"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"x\.txt contains NUL bytes, so it looks binary"),
        (
            "caf\u00e9 au lait".encode("latin-1"),
            r"x\.txt is not valid UTF-8 \(byte 3\) - re-save it as UTF-8",
        ),
        (b"Related: only a link\n\nPages: 1 2\n", r"x\.txt has no text besides headings and boilerplate"),
    ],
)
def test_bad_files(tmp_path: Path, content: bytes, message: str):
    (tmp_path / "x.txt").write_bytes(content)
    with pytest.raises(CorpusError, match=message) as err:
        read_article(tmp_path, tmp_path / "x.txt")
    assert "\n" not in str(err.value)


def test_too_large(tmp_path: Path):
    (tmp_path / "x.txt").write_bytes(b"word " * (MAX_ARTICLE_BYTES // 5 + 1))
    with pytest.raises(CorpusError, match=r"x\.txt is 10\.5 MB; the limit is 10 MiB - split it"):
        read_article(tmp_path, tmp_path / "x.txt")


def test_file_hash_is_remembered_only_while_the_file_is_unchanged(tmp_path: Path, monkeypatch):
    reads = []
    real_digest = ingest.hashlib.file_digest
    monkeypatch.setattr(
        ingest.hashlib, "file_digest", lambda fh, name: reads.append(1) or real_digest(fh, name)
    )
    f = tmp_path / "a.txt"
    f.write_bytes(b"first")
    assert hash_path(f) == file_sha256(b"first") and hash_path(f) == file_sha256(b"first")
    assert len(reads) == 2  # changed less than two seconds ago: read every time
    monkeypatch.setattr(ingest, "SETTLED_NS", 0)
    assert hash_path(f) == file_sha256(b"first") and hash_path(f) == file_sha256(b"first")
    assert len(reads) == 3  # settled: the second call trusted the stat
    mtime = f.stat().st_mtime_ns
    f.write_bytes(b"other")  # same size, in place (same inode)
    os.utime(f, ns=(mtime, mtime))  # and the old mtime put back, as touch -r or cp -p do
    assert hash_path(f) == file_sha256(b"other")  # the inode change time gave it away
    assert len(reads) == 4
    ingest.forget_hashes(tmp_path, keep=set())
    assert hash_path(f) == file_sha256(b"other") and len(reads) == 5
    with pytest.raises(FileNotFoundError):
        hash_path(tmp_path / "missing.txt")


def test_an_article_that_cannot_be_looked_at_is_an_error_not_a_gap(tmp_path: Path, monkeypatch):
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "locked.txt").write_text("b")
    (tmp_path / "link.txt").symlink_to(tmp_path / "a.txt")
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.fspath(path).endswith(("locked.txt", "link.txt")):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)  # as inside a folder that can be listed but not entered
    with pytest.raises(PermissionError):  # a link is followed: a build must not take it for a removal
        discover_paths(tmp_path)
    (tmp_path / "link.txt").unlink()
    # A regular file is known from the folder's listing (no stat each: 105,000 of them at 1M passages);
    # it stays in the corpus, and reading it is the error, never a removed article.
    assert discover_paths(tmp_path) == ["a.txt", "locked.txt"]
    with pytest.raises(PermissionError):
        hash_path(tmp_path / "locked.txt")


def test_discover(tmp_path: Path):
    with pytest.raises(CorpusError, match=r"does not exist - create it"):
        discover(tmp_path / "nope")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "notes.docx").write_bytes(b"PK")  # not an article format
    (tmp_path / ".hidden.txt").write_text("h")
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == ["a.txt", "sub/b.md"]
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.txt").write_text("c")
    (tmp_path / "sub" / "deeper").mkdir()
    (tmp_path / "sub" / "deeper" / "D.TXT").write_text("d")
    (tmp_path / "linked").symlink_to(tmp_path / "sub", target_is_directory=True)  # not followed
    (tmp_path / "alias.txt").symlink_to(tmp_path / "a.txt")  # a symlinked file is an article
    (tmp_path / "gone.txt").symlink_to(tmp_path / "missing.txt")  # a broken link is not
    expected = ["a.txt", "alias.txt", "sub/b.md", "sub/deeper/D.TXT"]
    assert discover_paths(tmp_path) == expected
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == expected
    legacy = sorted(  # what Path.rglob gives, as discover once did
        p.relative_to(tmp_path).as_posix()
        for p in tmp_path.rglob("*")
        if not any(part.startswith(".") for part in p.relative_to(tmp_path).parts)
        and p.suffix.lower() in SUFFIXES
        and p.is_file()
    )
    assert legacy == expected
    assert article_id_for("sub/b.md") == "sub/b" and article_id_for("noext") == "noext"
