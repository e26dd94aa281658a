"""What the index keeps of each article file (line_facts.py): a build that trusts it finds what a build from
scratch finds (the same recurring lines, passages and cleaning), reads only what changed, and a damaged or
foreign facts file is read around, never believed."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import ChunkParams
from rag.index import line_facts
from rag.index import manifest as manifest_io
from rag.index.build import build
from rag.index.index_folder import load_index
from rag.ingest import read
from rag.ingest.lines import line_keys
from rag.ingest.read import discover

from .conftest import HashingEmbedder

MENU = "Home | Dates | Letters | About us"
FOOTER = "Lovenotes readers get a free guide to better dates every single week."
SIGN_OFF = "Thanks for reading, and see you next week."


def _page(title: str, body: str, *furniture: str) -> str:
    lines = [title, "", *(f"{f}\n" for f in furniture[:1]), body, "", *(f"{f}\n" for f in furniture[1:])]
    return "\n".join(lines) + "\nThat is all there is to it, really, for this week.\n"


@pytest.fixture(autouse=True)
def _fresh_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every build here as a new process makes it: nothing remembered in memory, only what the index
    keeps; and files trusted by their stat at once (the tests edit them within the settling time, and
    change their size when they do)."""
    monkeypatch.setattr(read, "SETTLED_NS", -1)
    monkeypatch.setattr(read, "_facts", {})
    monkeypatch.setattr(read, "_hashes", {})


def _forget() -> None:
    read._facts.clear()
    read._hashes.clear()


def _build(corpus: Path, index: Path):
    _forget()
    return build(corpus, index, HashingEmbedder(), ChunkParams())


def _state(index: Path) -> tuple[list[dict], dict]:
    loaded = load_index(index)
    records = {aid: r.to_json() for aid, r in loaded.manifest.articles.items()}
    return [c.to_json() for c in loaded.chunks], records


def _from_scratch(corpus: Path, tmp: Path) -> tuple[list[dict], dict]:
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(corpus, tmp / "corpus")
    _build(tmp / "corpus", tmp / "index")
    return _state(tmp / "index")


def _site(corpus: Path) -> None:
    corpus.mkdir()
    (corpus / "a.txt").write_text(_page("How To Listen", "Listen first and talk later.", MENU, FOOTER))
    (corpus / "b.txt").write_text(_page("How To Apologise", "Say sorry and name it.", MENU, FOOTER))
    (corpus / "c.txt").write_text(_page("How To Plan A Date", "Pick a place you both like.", SIGN_OFF))
    (corpus / "d.txt").write_text(_page("How To Argue Well", "Stay on the one topic at hand."))


def _texts(index: Path, article: str) -> str:
    return " ".join(c.text for c in load_index(index).chunks if c.article_id == article)


def test_furniture_found_from_kept_facts_is_what_a_build_from_scratch_finds(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _site(corpus)
    _build(corpus, index)
    assert (index / manifest_io.FACTS).is_file()
    assert manifest_io.FACTS in load_index(index).manifest.files
    assert "Lovenotes" not in _texts(index, "a") and "Thanks for reading" in _texts(index, "c")

    steps = [
        # added: shares c's sign-off, which now recurs, so c is cleaned again though its bytes did not change
        ("e.txt", _page("How To Say Thanks", "Say it often and mean it.", SIGN_OFF), ("e",), ("c",)),
        # changed: b drops the site's menu and footer, so a's are no longer furniture
        ("b.txt", _page("How To Apologise", "Say sorry and name what you did."), (), ("a", "b")),
        # changed: d takes the footer a still has
        ("d.txt", _page("How To Argue Well", "Stay on topic.", FOOTER), (), ("a", "d")),
        # removed: e goes, and c's sign-off is c's own again
        ("e.txt", None, (), ("c",)),
    ]
    for n, (name, text, added, changed) in enumerate(steps):
        if text is None:
            (corpus / name).unlink()
        else:
            (corpus / name).write_text(text)
        report = _build(corpus, index)
        assert report.added == added and report.changed == changed, name
        assert _state(index) == _from_scratch(corpus, tmp_path / f"scratch{n}"), name
    assert "Lovenotes" not in _texts(index, "a") and "Thanks for reading" in _texts(index, "c")
    assert _build(corpus, index).up_to_date


def test_a_build_reads_only_the_files_whose_stat_changed(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _site(corpus)
    _build(corpus, index)
    files = discover(corpus)
    known = line_facts.read_known(index, load_index(index).manifest)
    assert known is not None
    _forget()
    assert line_facts.survey(corpus, files, known).read_files == 0
    with (corpus / "d.txt").open("a") as fh:
        fh.write("One more line of the argument.\n")
    _forget()
    found = line_facts.survey(corpus, files, known)
    assert found.read_files == 1 and not found.reread
    recurs = [line for line in (MENU, FOOTER, SIGN_OFF) if all(k in found.common for k in line_keys(line))]
    assert recurs == [MENU, FOOTER]


@pytest.mark.parametrize("mtime", ["moved on", "set back"])
def test_a_file_rewritten_to_the_same_size_is_read_again(tmp_path: Path, mtime: str):
    """Only the whole stat vouches for a file: the same size with a new mtime, or with the mtime set back
    (cp -p, touch -r: the inode change time still moves), is a file to read again."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _site(corpus)
    d = corpus / "d.txt"
    os.utime(d, ns=(10**18, 10**18))
    _build(corpus, index)
    d.write_text(d.read_text().replace("one topic", "one issue"))
    os.utime(d, ns=(10**18, 10**18 + (1 if mtime == "moved on" else 0)))
    report = _build(corpus, index)
    assert report.changed == ("d",) and "one issue" in _texts(index, "d")


def test_a_file_changed_within_the_settling_time_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _site(corpus)
    monkeypatch.setattr(read, "SETTLED_NS", 3600 * 10**9)  # every file changed "just now"
    _build(corpus, index)
    known = line_facts.read_known(index, load_index(index).manifest)
    assert known is not None and not any(any(s) for s in known.stamps)  # no stat vouches for anything
    _forget()
    assert line_facts.survey(corpus, discover(corpus), known).read_files == 4


@pytest.mark.parametrize("damage", ["bytes", "swapped", "missing from the manifest"])
def test_a_damaged_or_foreign_facts_file_is_read_around(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _site(corpus)
    _build(corpus, index)
    older = (index / manifest_io.FACTS).read_bytes()
    (corpus / "e.txt").write_text(_page("How To Say Thanks", "Say it often.", SIGN_OFF))
    _build(corpus, index)
    facts = index / manifest_io.FACTS
    data = facts.read_bytes()
    facts.unlink()  # the file may be linked into nothing else, but is never changed in place
    if damage == "bytes":
        facts.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    elif damage == "swapped":
        facts.write_bytes(older)  # a valid facts file, of another build: it would name e.txt unseen
    else:
        facts.write_bytes(data)
        raw = manifest_io.read(index)
        (index / manifest_io.NAME).unlink()
        files = {k: v for k, v in raw.files.items() if k != manifest_io.FACTS}
        manifest_io.write(index, raw.with_files(files))
    manifest = load_index(index).manifest  # the index itself loads and serves as before
    with caplog.at_level(logging.WARNING):
        assert line_facts.read_known(index, manifest) is None
    if damage != "missing from the manifest":
        assert "articles.facts.npz is unusable" in caplog.text and "read again" in caplog.text
    (corpus / "b.txt").write_text(_page("How To Apologise", "Say sorry and name what you did."))
    report = _build(corpus, index)
    assert report.changed == ("a", "b")
    assert _state(index) == _from_scratch(corpus, tmp_path / "scratch")
    assert line_facts.read_known(index, load_index(index).manifest) is not None  # written afresh


def test_facts_arrays_that_do_not_fit_together_are_refused():
    good = {
        "version": np.array([line_facts.VERSION]),
        "paths": np.frombuffer(b"a.txt\0b.txt", np.uint8),
        "stamps": np.zeros((2, 4), np.int64),
        "sha": np.zeros((2, 32), np.uint8),
        "text": np.zeros((2, 32), np.uint8),
        "offsets": np.array([0, 1, 2]),
        "keys": np.array([5, 6], np.uint64),
        "common": np.zeros(0, np.uint64),
    }
    assert line_facts._known(good).rows == {"a.txt": 0, "b.txt": 1}
    for name, bad in [
        ("version", np.array([99])),
        ("offsets", np.array([0, 2, 1])),
        ("offsets", np.array([0, 1, 3])),
        ("stamps", np.zeros((3, 4), np.int64)),
        ("keys", np.array([5, 6], np.int64)),
    ]:
        with pytest.raises(ValueError):
            line_facts._known(good | {name: bad})
