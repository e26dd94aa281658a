"""Appended segments (format 8): a change writes only its passages, searches as a full rebuild does."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import ChunkParams
from rag.errors import IndexLoadError
from rag.index import append, keyword_segments
from rag.index import manifest as manifest_io
from rag.index.build import build
from rag.index.index_folder import LoadedIndex, load_index
from rag.index.keyword import KeywordIndex
from rag.index.manifest import Manifest

from .conftest import HashingEmbedder
from .test_crash import _corpus
from .test_keyword import write_format1

# a full build's passage files: the base segment (int4 sentence vectors have no scales file, format 7)
BASE_FILES = tuple(name for name in manifest_io.SEGMENT_FILES if name != manifest_io.SENTENCE_SCALES)
KEYWORD_FILES = keyword_segments.SEGMENT_FILES  # and its keyword files (in keyword/)
QUERIES = ["trust promises", "space lets desire breathe", "note 0-7", "listen on hard days", "surprises"]


def _edit(corpus: Path, name: str, variant: str) -> None:
    path = corpus / name
    path.write_text(
        path.read_text(encoding="utf-8") + f"\nA paragraph added, {variant}. It is new.\n", "utf-8"
    )


def _full(corpus: Path, tmp: Path, index_type: str) -> LoadedIndex:
    """A full build of a copy of the corpus: what the appended index must search like."""
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(corpus, tmp / "corpus")
    build(tmp / "corpus", tmp / "index", HashingEmbedder(), ChunkParams(), index_type=index_type)
    return load_index(tmp / "index")


def _assert_same(got: LoadedIndex, full: LoadedIndex) -> None:
    assert [c.to_json() for c in got.chunks] == [c.to_json() for c in full.chunks]
    assert np.array_equal(got.exact.all(), full.exact.all())
    assert got.sentences is not None and full.sentences is not None
    for row in range(len(full.chunks)):
        spans, vectors = got.sentences.passage(row)
        want_spans, want_vectors = full.sentences.passage(row)
        assert spans == want_spans and np.array_equal(vectors, want_vectors), row
    embedder = HashingEmbedder()
    for query in QUERIES:
        rows, scores = got.keyword.search(query, 20)
        want_rows, want_scores = full.keyword.search(query, 20)
        assert np.array_equal(rows, want_rows) and np.array_equal(scores, want_scores), query
        vector = embedder.embed([query])
        found, want = got.dense_search(vector, 10), full.dense_search(vector, 10)
        if full.slots is None:  # exact search: the same rows and scores
            assert np.array_equal(found[1], want[1]) and np.allclose(found[0], want[0]), query
        exact = np.sort(full.exact.all() @ vector[0])[::-1][:10]
        assert np.allclose(found[0], exact, atol=1e-6), query  # the graph finds the true top 10 here


def test_one_changed_article_writes_only_its_passages(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 40, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    inodes = {name: os.stat(index / name).st_ino for name in BASE_FILES}
    keyword_inodes = {name: os.stat(index / "keyword" / name).st_ino for name in KEYWORD_FILES}
    _edit(corpus, "a0007.txt", "one")

    report = build(corpus, index, HashingEmbedder(), ChunkParams())

    loaded = load_index(index)
    article = [c for c in loaded.chunks if c.article_id == "a0007"]
    assert report.changed == ("a0007",) and report.segment == len(article) and not report.full_write
    assert {name: os.stat(index / name).st_ino for name in BASE_FILES} == inodes  # linked, not rewritten
    assert loaded.manifest.format == manifest_io.FORMAT_VERSION == 8
    assert [s["rows"] for s in loaded.manifest.segments or ()] == [80, len(article)]
    assert np.load(index / "seg1.chunks.offsets.npy").shape == (-(-len(article) // 4) + 1,)  # blocks of 4
    written = {p.name for p in index.iterdir() if p.is_file() and os.stat(p).st_ino not in inodes.values()}
    assert written == {
        "manifest.json",
        "rows.npy",
        manifest_io.FACTS,  # what each article file was (line_facts.py), small and written again
        *(f"seg1.{name}" for name in BASE_FILES),
    }
    assert report.embedded == 1 and report.reused == report.passages - 1  # only the edited passage
    # The keyword index too: its base segment linked, only the new segment and the statistics written.
    assert {name: os.stat(index / "keyword" / name).st_ino for name in KEYWORD_FILES} == keyword_inodes
    written = {
        p.name for p in (index / "keyword").iterdir() if os.stat(p).st_ino not in keyword_inodes.values()
    }
    assert written == {"df.npy", "keyword.json", *(f"seg1.{name}" for name in KEYWORD_FILES)}


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_appended_index_searches_as_a_full_rebuild(tmp_path: Path, index_type: str):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 60, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type)
    for step in range(3):
        _edit(corpus, f"a{step + 7:04d}.txt", f"step {step}")
        (corpus / f"a{step + 20:04d}.txt").unlink()
        (corpus / f"a{step + 30:04d}.txt").rename(corpus / f"z{step}.txt")
        shutil.copy(corpus / "a0040.txt", corpus / f"copy{step}.txt")
        report = build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type)
        assert report.segment > 0 and not report.full_write, report.lines()
        _assert_same(load_index(index), _full(corpus, tmp_path / "full", index_type))
    assert len(load_index(index).manifest.segments or ()) == 4
    assert build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type).up_to_date


def test_compaction_rewrites_one_base_with_the_same_content(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 40, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams(), index_type="hnsw")
    _edit(corpus, "a0001.txt", "one")
    build(corpus, index, HashingEmbedder(), ChunkParams(), index_type="hnsw")
    assert (index / "seg1.vectors.npy").exists()

    report = build(corpus, index, HashingEmbedder(), ChunkParams(), index_type="hnsw", compact=True)

    assert report.wrote and report.full_write and report.embedded == 0
    loaded = load_index(index)
    assert loaded.manifest.format == manifest_io.BASE_FORMAT and loaded.manifest.segments is None
    assert not list(index.glob("seg*")) and not (index / "rows.npy").exists()
    assert not list((index / "keyword").glob("seg*"))
    _assert_same(loaded, _full(corpus, tmp_path / "full", "hnsw"))


def test_many_dead_rows_compact_by_themselves(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 10, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    _edit(corpus, "a0001.txt", "one")
    assert build(corpus, index, HashingEmbedder(), ChunkParams()).segment > 0
    for name in ("a0002.txt", "a0003.txt"):  # 3 of 10 articles changed: over 20% of the rows dead
        _edit(corpus, name, "two")
    report = build(corpus, index, HashingEmbedder(), ChunkParams())
    assert report.full_write and report.segment == 0
    assert load_index(index).manifest.segments is None
    _assert_same(load_index(index), _full(corpus, tmp_path / "full", "flat"))


def test_a_segmented_manifest_is_checked(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 20, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    _edit(corpus, "a0001.txt", "one")
    build(corpus, index, HashingEmbedder(), ChunkParams())
    (index / "seg1.chunks.zlib").unlink()
    with pytest.raises(IndexLoadError, match=r"seg1.chunks.zlib is missing - .*rag build"):
        load_index(index)
    report = build(corpus, index, HashingEmbedder(), ChunkParams())  # an unusable index: rebuilt whole
    assert report.full_rebuild and load_index(index).manifest.segments is None


def test_a_format_8_manifest_without_its_segments_is_a_one_line_error(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 20, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    _edit(corpus, "a0001.txt", "one")
    build(corpus, index, HashingEmbedder(), ChunkParams())
    obj = json.loads((index / manifest_io.NAME).read_text(encoding="utf-8"))
    assert Manifest.from_json(obj).segments == tuple(obj["segments"])
    del obj["segments"]
    (index / manifest_io.NAME).write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(IndexLoadError, match=r"is damaged \(format is 8 but segments is None\) - run"):
        load_index(index)


def test_an_hnsw_change_links_the_graph_and_searches_its_new_passages_exactly(tmp_path: Path, monkeypatch):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 40, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams(), index_type="hnsw")
    graph = os.stat(index / manifest_io.GRAPH).st_ino
    _edit(corpus, "a0007.txt", "one")
    report = build(corpus, index, HashingEmbedder(), ChunkParams(), index_type="hnsw")

    loaded = load_index(index)
    assert os.stat(index / manifest_io.GRAPH).st_ino == graph  # linked: not written again
    assert loaded.tail is not None and 0 < len(loaded.tail[0]) <= report.segment
    new_row = int(loaded.tail[0][0])
    scores, rows = loaded.dense_search(loaded.exact.take(np.array([new_row])), 5)
    assert rows[0, 0] == new_row and scores[0, 0] == pytest.approx(1.0, abs=1e-5)  # found without a node

    monkeypatch.setattr(append, "MAX_TAIL", 0)  # past the tail's limit the graph takes it in
    _edit(corpus, "a0009.txt", "two")
    build(corpus, index, HashingEmbedder(), ChunkParams(), index_type="hnsw")
    again = load_index(index)
    assert os.stat(index / manifest_io.GRAPH).st_ino != graph and again.tail is None
    assert again.slots is not None and loaded.slots is not None and len(again.slots) > len(loaded.slots)
    _assert_same(again, _full(corpus, tmp_path / "full", "hnsw"))


def test_a_format_1_keyword_index_loads_and_the_next_build_writes_it_in_segments(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 20, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    texts = [c.embed_text for c in load_index(index).chunks]
    shutil.rmtree(index / "keyword")
    write_format1(index / "keyword", texts)
    old = load_index(index)
    assert old.keyword.outdated and len(old.keyword) == len(texts)
    fresh = KeywordIndex.build(texts)
    for query in QUERIES:  # it searches as before
        for a, b in zip(old.keyword.search(query, 10), fresh.search(query, 10), strict=True):
            assert np.array_equal(a, b), query

    report = build(corpus, index, HashingEmbedder(), ChunkParams())  # nothing changed but the format

    assert report.wrote and "format 1" in report.full_write and report.embedded == 0
    assert json.loads((index / "keyword" / "keyword.json").read_text())["format"] == 2
    assert not load_index(index).keyword.outdated
    _edit(corpus, "a0003.txt", "after")
    assert build(corpus, index, HashingEmbedder(), ChunkParams()).segment > 0
    _assert_same(load_index(index), _full(corpus, tmp_path / "full", "flat"))


def _extension_by_loop(slots: np.ndarray, previous_rows: np.ndarray) -> tuple[list[int], list[int]]:
    """ann.extension's plan as a loop over the rows: each takes its old row's node, the first one wins."""
    slot_of = {int(row): i for i, row in enumerate(slots.tolist()) if row >= 0}
    out, fresh = [-1] * len(slots), []
    for row, old in enumerate(previous_rows.tolist()):
        slot = slot_of.get(old, -1) if old >= 0 else -1
        if slot >= 0 and out[slot] < 0:
            out[slot] = row
        else:
            fresh.append(row)
    return out, fresh


@pytest.mark.parametrize("seed", range(5))
def test_graph_extension_plan_matches_a_loop_over_the_rows(seed: int):
    from rag.index import ann

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 300))
    slots = rng.permutation(n + 20)[: n + 5].astype(np.int64)  # some nodes dead (-1), rows shuffled
    slots[rng.random(len(slots)) < 0.1] = -1
    kept = rng.permutation(slots[slots >= 0])  # rows moved, some new (-1), some texts found twice
    previous_rows = np.concatenate(
        [kept, np.full(int(rng.integers(0, 5)), -1), kept[: int(rng.integers(0, 3))]]
    )
    if seed % 2:  # anything at all: often too many dead nodes, then a fresh graph is due
        previous_rows = rng.integers(-1, n + 20, size=int(rng.integers(0, 350)))
    previous_rows = previous_rows.astype(np.int64)
    graph = ann.Graph(None, slots, ann.HNSW)
    planned = ann.extension(graph, previous_rows)
    want_slots, want_fresh = _extension_by_loop(slots, previous_rows)
    if planned is None:  # too many dead nodes: a fresh graph
        dead = (len(slots) - len(previous_rows) + len(want_fresh)) / max(len(slots) + len(want_fresh), 1)
        assert dead > ann.MAX_DEAD
        return
    assert planned[0].tolist() == want_slots and planned[1] == want_fresh


def _copy(base: Path, to: Path) -> tuple[Path, Path]:
    shutil.copytree(base / "corpus", to / "corpus")
    shutil.copytree(base / "index", to / "index", copy_function=os.link)  # as the builds link them
    return to / "corpus", to / "index"


@pytest.mark.parametrize("index_type", ["flat", "hnsw"])
def test_past_max_segments_the_appended_ones_merge_and_the_base_stays(
    tmp_path: Path, index_type: str, monkeypatch
):
    monkeypatch.setattr(append, "MAX_SEGMENTS", 3)
    corpus, index = tmp_path / "a" / "corpus", tmp_path / "a" / "index"
    corpus.parent.mkdir()
    _corpus(corpus, 60, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type)
    base = {name: os.stat(index / name).st_ino for name in BASE_FILES}
    keyword_base = {name: os.stat(index / "keyword" / name).st_ino for name in KEYWORD_FILES}
    for step in range(3):  # three small segments, with dead rows in them and in the base
        _edit(corpus, f"a{step + 7:04d}.txt", f"step {step}")
        _edit(corpus, "a0011.txt", f"again {step}")  # its rows die in each later segment
        (corpus / f"a{step + 20:04d}.txt").unlink()
        assert build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type).merged == 0
    assert len(load_index(index).manifest.segments or ()) == 4
    shutil.copy(corpus / "a0040.txt", corpus / "copy.txt")
    _edit(corpus, "a0008.txt", "the merging build")
    (corpus / "a0007.txt").unlink()  # rows of a merged segment that die now
    unmerged_corpus, unmerged = _copy(tmp_path / "a", tmp_path / "b")

    report = build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type)

    assert report.merged == 3 and report.carried > 0 and not report.full_write, report.lines()
    assert "merged with 3 appended segments" in "\n".join(report.lines())
    loaded = load_index(index)
    segments = loaded.manifest.segments or ()
    assert [s["prefix"] for s in segments] == ["", "seg4."]
    assert loaded.layout is not None
    in_base = int((loaded.layout.rows < segments[0]["rows"]).sum())
    # the merged segments' dead rows dropped out; the base keeps its own
    assert segments[1]["rows"] == report.segment + report.carried == len(loaded.chunks) - in_base
    assert {name: os.stat(index / name).st_ino for name in BASE_FILES} == base  # the base: linked
    assert {name: os.stat(index / "keyword" / name).st_ino for name in KEYWORD_FILES} == keyword_base
    assert not list(index.glob("seg[123].*")) and not list((index / "keyword").glob("seg[123].*"))
    assert sum(s["sentences"] for s in segments) == loaded.manifest.sentences["count"]  # type: ignore[index]
    # Searches as the same index without the merge and as a full rebuild: same passages, vectors,
    # sentences, keyword scores (bit for bit) and dense top-k.
    monkeypatch.setattr(append, "MAX_SEGMENTS", 16)
    report = build(unmerged_corpus, unmerged, HashingEmbedder(), ChunkParams(), index_type=index_type)
    assert report.merged == 0
    assert len(load_index(unmerged).manifest.segments or ()) == 5
    _assert_same(loaded, load_index(unmerged))
    _assert_same(loaded, _full(corpus, tmp_path / "full", index_type))
    _edit(corpus, "a0009.txt", "after the merge")  # and the next change appends to the merged index
    assert build(corpus, index, HashingEmbedder(), ChunkParams(), index_type=index_type).merged == 0
    assert len(load_index(index).manifest.segments or ()) == 3
    _assert_same(load_index(index), _full(corpus, tmp_path / "full", index_type))


@pytest.mark.parametrize(("share", "rows"), [(0.01, 20_000), (1.0, 5)])  # one article: 2 rows of 120
def test_a_merge_past_max_appendix_of_the_base_compacts_instead(tmp_path: Path, monkeypatch, share, rows):
    monkeypatch.setattr(append, "MAX_SEGMENTS", 2)
    monkeypatch.setattr(append, "MAX_APPENDIX", share)
    monkeypatch.setattr(append, "MAX_MERGE_ROWS", rows)
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 60, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    for step in range(2):
        _edit(corpus, f"a{step + 7:04d}.txt", f"step {step}")
        assert build(corpus, index, HashingEmbedder(), ChunkParams()).segment > 0
    _edit(corpus, "a0009.txt", "the third")
    report = build(corpus, index, HashingEmbedder(), ChunkParams())
    assert "would merge into 6 passages, over" in report.full_write and report.segment == 0
    assert load_index(index).manifest.segments is None
    _assert_same(load_index(index), _full(corpus, tmp_path / "full", "flat"))
