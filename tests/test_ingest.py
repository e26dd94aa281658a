"""Reading the corpus: each bad file gets one line naming it and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.errors import CorpusError
from rag.ingest import MAX_ARTICLE_BYTES, article_id_for, discover, read_article


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


def test_discover(tmp_path: Path):
    with pytest.raises(CorpusError, match=r"does not exist - create it"):
        discover(tmp_path / "nope")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    (tmp_path / ".hidden.txt").write_text("h")
    assert [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)] == ["a.txt", "sub/b.md"]
    assert article_id_for("sub/b.md") == "sub/b" and article_id_for("noext") == "noext"
