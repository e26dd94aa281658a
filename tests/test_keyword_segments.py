"""The keyword index in segments: after appended changes and deletions, saved and loaded through linked
files, it ranks and scores exactly as a whole bm25s Lucene index built afresh over the live passages."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

from rag.index.keyword import KeywordIndex, tokenize
from rag.index.keyword_segments import DF, SEGMENT_FILES

WORDS = [f"w{i}x" for i in range(400)]  # letters around the number, so no stemming surprises


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    p = 1.0 / np.arange(1, len(WORDS) + 1)  # Zipf-like: a few common words, many rare ones
    p /= p.sum()
    return [" ".join(rng.choice(WORDS, size=rng.integers(3, 40), p=p)) for _ in range(n)]


def _step(
    rng: np.random.Generator, live: list[tuple[int, str]], stored: int
) -> tuple[list[tuple[int, str]], list[str]]:
    """One build's change: some passages removed, some edited, some added, in corpus order; (the new
    passages as (physical row, text), the texts of the new segment in physical order)."""
    out: list[tuple[int, str]] = []
    fresh: list[str] = []
    for row, text in live:
        roll = rng.random()
        if roll < 0.05:  # removed
            continue
        if roll < 0.10:  # edited: a new row in the segment, the old one dead
            fresh.append(text + " " + " ".join(rng.choice(WORDS, size=3)))
            out.append((stored + len(fresh) - 1, fresh[-1]))
            continue
        out.append((row, text))
        if roll > 0.97:  # an article added after it
            for text in _texts(rng, int(rng.integers(1, 4))):
                fresh.append(text)
                out.append((stored + len(fresh) - 1, text))
    return out, fresh


def _oracle(texts: list[str]) -> bm25s.BM25:
    oracle = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    oracle.index(tokenize(texts), show_progress=False)
    return oracle


def _assert_same_as_whole(index: KeywordIndex, texts: list[str], queries: list[str]) -> None:
    fresh = KeywordIndex.build(texts)
    oracle = _oracle(texts)
    assert len(index) == len(texts)
    for query in queries:
        rows, scores = index.search(query, 10)
        ref_rows, ref_scores = fresh.search(query, 10)
        np.testing.assert_array_equal(rows, ref_rows)  # ties go to the lower row in both
        np.testing.assert_array_equal(scores, ref_scores)
        if len(rows):  # and bm25s' own scoring of the live passages gives the very same floats
            np.testing.assert_array_equal(oracle.get_scores(tokenize([query])[0])[rows], scores)
        within = np.arange(min(10, len(texts)), min(60, len(texts)), dtype=np.int64)
        for a, b in zip(index.search(query, 5, within), fresh.search(query, 5, within), strict=True):
            np.testing.assert_array_equal(a, b)
        assert index.coverage(query, texts[:5]) == pytest.approx(fresh.coverage(query, texts[:5]), abs=1e-12)
    for word in ["w1x", "w399x", "w250x", "nowhere", "the"]:
        assert index.holds(word) == fresh.holds(word)
    assert index.tokens_by_key() == fresh.tokens_by_key()
    assert index.text_keys() == fresh.text_keys()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_appended_segments_score_as_a_whole_index_over_the_live_passages(tmp_path: Path, seed: int):
    rng = np.random.default_rng(seed)
    texts = _texts(rng, 300)
    queries = [" ".join(rng.choice(WORDS[:200], size=rng.integers(1, 5))) + " the of" for _ in range(25)]
    queries += ["w399x w398x w397x"]  # rare words: some held only by dead rows after a few changes
    live = list(enumerate(texts))
    stored = len(texts)
    folder = tmp_path / "k0"
    KeywordIndex.build(texts).save(folder)
    prefixes = [("", len(texts))]
    index = KeywordIndex.load(folder, segments=prefixes)  # a format-3 index: its rows are the passages
    for step in range(1, 6):
        live, fresh = _step(rng, live, stored)
        rows = np.array([row for row, _ in live], dtype=np.int64)
        grown = index.appended(f"seg{step}.", rows, fresh)
        assert grown.tokenized == len(fresh)
        stored += len(fresh)
        prefixes.append((f"seg{step}.", len(fresh)))
        _assert_same_as_whole(grown, [t for _, t in live], queries)
        written = grown.save(tmp_path / f"k{step}", link_from=folder)
        new_files = {p.name for p in written if p.stat().st_nlink == 1}
        assert new_files == {f"seg{step}.{name}" for name in SEGMENT_FILES} | {DF, "keyword.json"}
        folder = tmp_path / f"k{step}"
        loaded = KeywordIndex.load(folder, rows=rows, segments=prefixes)
        _assert_same_as_whole(loaded, [t for _, t in live], queries)
        index = loaded
    # A full build from the segmented index (compaction) reuses every token and is one segment again.
    compacted = KeywordIndex.build([t for _, t in live], previous=index)
    assert compacted.tokenized == 0
    _assert_same_as_whole(compacted, [t for _, t in live], queries)


def test_a_removed_passage_leaves_no_trace(tmp_path: Path):
    texts = ["alpha beta", "gamma delta", "unique zebra words", "alpha gamma"]
    index = KeywordIndex.build(texts)
    rows = np.array([0, 1, 3], dtype=np.int64)  # the zebra passage removed, nothing added
    grown = index.appended("seg1.", rows, [])
    assert not grown.holds("zebra") and grown.search("zebra", 5)[0].shape == (0,)
    _assert_same_as_whole(grown, [texts[i] for i in rows], ["alpha", "zebra gamma", "delta"])


def test_rows_that_do_not_follow_the_stored_ones_are_refused():
    index = KeywordIndex.build(["alpha beta", "gamma delta"])
    with pytest.raises(ValueError):
        index.appended("seg1.", np.array([0, 1, 5], dtype=np.int64), ["new text"])


def test_segments_that_disagree_with_the_manifest_are_one_line_errors(tmp_path: Path):
    index = KeywordIndex.build(["alpha beta", "gamma delta", "epsilon"])
    index.save(tmp_path / "k")
    from rag.errors import IndexLoadError

    for segments, rows in (([("", 2)], None), ([("", 3), ("seg1.", 1)], np.arange(3))):
        with pytest.raises(IndexLoadError) as err:
            KeywordIndex.load(tmp_path / "k", segments=segments, rows=rows)
        assert "\n" not in str(err.value) and 'run "rag build"' in str(err.value)
