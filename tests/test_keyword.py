"""Keyword (BM25) index: sane rankings, agreement with bm25s retrieve() and the hand-computed Lucene
formula, save/load round trips, clear errors for damaged files, and the incremental token cache."""

from __future__ import annotations

import hashlib
import json
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import bm25s
import numpy as np
import pytest

from rag.errors import IndexLoadError
from rag.index import storage
from rag.index.keyword import KeywordIndex, tokenize
from rag.index.keyword_segments import DF, PAIR, POSTING_ROWS, SEGMENT_FILES, TOKEN_IDS, VOCAB
from rag.index.keyword_store import META, TOKENIZER

SMALL = [
    "The history of the Roman aqueducts and their engineering.",
    "How to bake sourdough bread at home with a starter.",
    "She missed the last train and walked home in the rain.",
    "Gardening tips: when to plant tomatoes and how to water them.",
    "A short guide to the xylophone for beginners.",
    "Why people miss their friends after moving to a new city.",
]


def _random_corpus(seed: int, n: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}x" for i in range(300)]  # letters around the number, so no stemming surprises
    p = 1.0 / np.arange(1, len(words) + 1)  # Zipf-like: a few common words, many rare ones
    p /= p.sum()
    texts = [" ".join(rng.choice(words, size=rng.integers(5, 40), p=p)) for _ in range(n)]
    queries = [" ".join(rng.choice(words, size=rng.integers(1, 5))) + " the of" for _ in range(20)]
    return texts, queries


def test_rare_word_ranks_its_passage_first():
    index = KeywordIndex.build(SMALL)
    rows, scores = index.search("learning the xylophone", 3)
    assert rows.tolist() == [4]
    assert scores[0] > 0


def test_stemming_matches_word_forms():
    index = KeywordIndex.build(SMALL)
    rows, _ = index.search("missing", 5)
    assert sorted(rows.tolist()) == [2, 5]  # "missed" and "miss"
    assert tokenize(["Missing MISSED misses"]) == [["miss", "miss", "miss"]]


def test_stopwords_only_and_empty_queries_return_nothing():
    index = KeywordIndex.build(SMALL)
    for query in ("the and of to a", "", "   ", "?!", "unseenword"):
        rows, scores = index.search(query, 5)
        assert rows.shape == (0,) and scores.shape == (0,)
        assert rows.dtype == np.int64 and scores.dtype == np.float32


def test_results_are_best_first_positive_and_at_most_k():
    texts, queries = _random_corpus(3, 200)
    index = KeywordIndex.build(texts)
    for query in queries:
        rows, scores = index.search(query, 7)
        assert len(rows) <= 7 and (scores > 0).all()
        assert (np.diff(scores) <= 0).all()
    assert index.search(queries[0], 0)[0].shape == (0,)


def test_search_within_rows_ranks_only_those_passages_as_the_whole_search_does():
    texts, queries = _random_corpus(5, 200)
    index = KeywordIndex.build(texts)
    within = np.arange(40, 90, dtype=np.int64)  # one article's run of rows
    for query in queries:
        rows, scores = index.search(query, 5, within)
        everywhere, all_scores = index.search(query, len(texts))
        keep = np.isin(everywhere, within)
        assert scores.tolist() == all_scores[keep][:5].tolist()
        # The same passages, best first; which of several tied at the cut-off fills the last places is
        # arbitrary, as in any search of k.
        above = scores > scores[-1] if len(scores) else scores.astype(bool)
        assert rows[above].tolist() == everywhere[keep][:5][above].tolist()
        assert set(rows.tolist()) <= set(within.tolist())


def test_fast_path_agrees_with_bm25s_retrieve():
    texts, queries = _random_corpus(11, 500)
    index = KeywordIndex.build(texts)
    oracle = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    oracle.index(tokenize(texts), show_progress=False)
    identical = 0
    for query in queries:
        docs, ref_scores = oracle.retrieve(tokenize([query]), k=10, show_progress=False)
        ref = sorted((-s, r) for s, r in zip(ref_scores[0], docs[0], strict=True) if s > 0)
        rows, scores = index.search(query, 10)
        np.testing.assert_allclose(scores, [-s for s, _ in ref], rtol=1e-6)
        np.testing.assert_array_equal(oracle.get_scores(tokenize([query])[0])[rows], scores)
        # Tied rows come lowest row first; rows tied with the 10th score may be picked differently.
        cut = scores[-1] if len(scores) == 10 else 0
        assert [r for s, r in zip(scores, rows, strict=True) if s > cut] == [r for s, r in ref if -s > cut]
        identical += rows.tolist() == [r for _, r in ref]
    assert identical >= 18  # ties across the 10th place are rare on this corpus (20 of 20 today)


def test_scores_match_the_lucene_formula_by_hand():
    texts = [
        "Cats chase mice.",
        "The cat sleeps all day.",
        "Dogs chase cats, and cats chase cars.",
        "A bird sings.",
    ]
    # Expected tokens: stopwords (the, all, and, a) gone, plurals and verb forms stemmed.
    docs = [["cat", "chase", "mice"], ["cat", "sleep", "day"], ["dog", "chase", "cat", "cat", "chase", "car"]]
    docs.append(["bird", "sing"])
    assert tokenize(texts) == docs
    k1, b = 1.2, 0.6
    n, avgdl = len(docs), sum(map(len, docs)) / len(docs)

    def lucene(doc: list[str], terms: list[str]) -> float:
        total = 0.0
        for term in terms:
            df, tf = sum(term in d for d in docs), doc.count(term)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            total += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avgdl))
        return total

    index = KeywordIndex.build(texts, k1=k1, b=b)
    rows, scores = index.search("the cats chasing", 10)
    expected = {i: lucene(d, ["cat", "chase"]) for i, d in enumerate(docs) if lucene(d, ["cat", "chase"]) > 0}
    assert rows.tolist() == sorted(expected, key=lambda i: -expected[i]) == [2, 0, 1]
    # bm25s, like Lucene since 8.0, drops the constant (k1 + 1) factor: same ranking, scores / (k1 + 1).
    np.testing.assert_allclose(scores * (k1 + 1), [expected[r] for r in rows], rtol=1e-5)


def test_save_load_round_trip(tmp_path: Path):
    texts, queries = _random_corpus(5, 300)
    index = KeywordIndex.build(texts, k1=1.2, b=0.7)
    written = index.save(tmp_path / "keyword")
    assert [p.name for p in written] == [*SEGMENT_FILES, DF, META]
    assert sorted(p.name for p in (tmp_path / "keyword").iterdir()) == sorted(p.name for p in written)
    loaded = KeywordIndex.load(tmp_path / "keyword")
    assert len(loaded) == len(index) == 300 and (loaded.k1, loaded.b) == (1.2, 0.7)
    for query in queries:
        for a, b in zip(index.search(query, 10), loaded.search(query, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    assert loaded.tokens_by_key() == index.tokens_by_key()
    for name in (TOKEN_IDS, PAIR):  # index arrays that fit in 16 bits are stored so (half of int32)
        assert np.load(tmp_path / "keyword" / name).dtype == np.uint16
    with pytest.raises(ValueError):  # a loaded segment's files are linked, never written again
        loaded.save(tmp_path / "again")
    loaded.save(tmp_path / "linked", link_from=tmp_path / "keyword")
    for name in (*SEGMENT_FILES, DF):
        assert (tmp_path / "linked" / name).read_bytes() == (tmp_path / "keyword" / name).read_bytes()


@pytest.mark.parametrize(
    ("name", "damage"),
    [
        (POSTING_ROWS, "truncate"),
        (VOCAB, "flip"),
        (TOKEN_IDS, "flip"),
        (TOKEN_IDS, "delete"),
        (DF, "flip"),
        (META, "truncate"),
        (META, "delete"),
    ],
)
def test_damaged_files_give_one_line_errors(tmp_path: Path, name: str, damage: str):
    KeywordIndex.build(SMALL).save(tmp_path / "keyword")
    path = tmp_path / "keyword" / name
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 0xFF]) + data[-2:])
    else:
        path.unlink()
    with pytest.raises(IndexLoadError) as err:
        KeywordIndex.load(tmp_path / "keyword")
    message = str(err.value)
    assert "\n" not in message and name in message and 'run "rag build"' in message


def test_previous_index_retokenises_only_new_texts(tmp_path: Path):
    first = KeywordIndex.build(SMALL)
    assert first.tokenized == len(SMALL)
    first.save(tmp_path / "keyword")
    previous = KeywordIndex.load(tmp_path / "keyword")
    assert len(previous.tokens_by_key()) == len(SMALL)
    changed = [
        *SMALL[:4],
        "The xylophone, revised: mallets and scales.",
        SMALL[5],
        "A brand new passage on rain.",
    ]
    second = KeywordIndex.build(changed, previous=previous)
    assert second.tokenized == 2
    assert len(second.tokens_by_key()) == len(changed)  # the removed passage is not carried along
    fresh = KeywordIndex.build(changed)
    for query in ("xylophone scales", "rain home", "missing friends"):
        for a, b in zip(second.search(query, 5), fresh.search(query, 5), strict=True):
            np.testing.assert_array_equal(a, b)
    assert KeywordIndex.build(changed, previous=second).tokenized == 0


@pytest.mark.parametrize("texts", [[], ["the and of", "a"]])
def test_corpus_without_words(tmp_path: Path, texts: list[str]):
    index = KeywordIndex.build(texts)
    assert len(index) == len(texts) and index.search("anything at all", 5)[0].shape == (0,)
    assert [p.name for p in index.save(tmp_path / "keyword")] == [*SEGMENT_FILES, DF, META]
    loaded = KeywordIndex.load(tmp_path / "keyword")
    assert len(loaded) == len(texts) and loaded.search("anything", 5)[0].shape == (0,)
    assert loaded.tokens_by_key() == {k: [] for k in index.tokens_by_key()}


def test_concurrent_searches_match_sequential():
    texts, queries = _random_corpus(9, 500)
    index = KeywordIndex.build(texts)
    expected = [index.search(q, 10) for q in queries]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda q: index.search(q, 10), queries * 20))
    for i, (rows, scores) in enumerate(got):
        np.testing.assert_array_equal(rows, expected[i % len(queries)][0])
        np.testing.assert_array_equal(scores, expected[i % len(queries)][1])


def test_build_from_the_previous_index_equals_a_fresh_build(tmp_path: Path):
    texts, queries = _random_corpus(5, 300)
    KeywordIndex.build(texts).save(tmp_path / "keyword")
    previous = KeywordIndex.load(tmp_path / "keyword")
    changed = texts[50:] + ["a brand new passage about kites and wind", texts[3] + " and more"] + texts[:40]
    grown = KeywordIndex.build(changed, previous=previous)
    fresh = KeywordIndex.build(changed)
    assert grown.tokenized == 2 and len(grown) == len(changed)
    for query in [*queries, "kites wind"]:
        rows, scores = grown.search(query, 10)
        ref_rows, ref_scores = fresh.search(query, 10)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-6)
        assert (
            set(rows[scores > scores[-1]]) == set(ref_rows[ref_scores > ref_scores[-1]])
            if len(rows)
            else True
        )
    assert grown.tokens_by_key() == fresh.tokens_by_key()


def write_format1(keyword_dir: Path, texts: list[str]) -> None:
    """A keyword folder as format 1 wrote it: bm25s' own files, tokens.npz, keyword.json."""
    tokens = tokenize(texts)
    bm25 = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    bm25.index(tokens, show_progress=False)
    bm25.save(keyword_dir, show_progress=False)
    vocab = bm25.vocab_dict
    ids = [vocab[t] for row in tokens for t in row]
    sha = np.array([list(hashlib.sha256(t.encode()).digest()) for t in texts], dtype=np.uint8).reshape(-1, 32)
    offsets = np.cumsum([0, *map(len, tokens)], dtype=np.int64)
    with (keyword_dir / "tokens.npz").open("wb") as fh:
        np.savez(fh, sha256=sha, offsets=offsets, ids=np.array(ids, dtype=np.int32))
    files = {p.name: storage.record(p) for p in keyword_dir.iterdir()}
    meta = {"format": 1, "passages": len(texts), "k1": 1.5, "b": 0.75, "method": "lucene"}
    meta |= {"tokenizer": TOKENIZER, "files": files}
    (keyword_dir / META).write_text(json.dumps(meta))


def test_a_format_1_folder_loads_searches_as_before_and_is_outdated(tmp_path: Path):
    texts, queries = _random_corpus(7, 200)
    write_format1(tmp_path / "keyword", texts)
    loaded = KeywordIndex.load(tmp_path / "keyword")
    assert loaded.outdated and len(loaded) == len(texts)
    fresh = KeywordIndex.build(texts)
    for query in queries:
        for a, b in zip(loaded.search(query, 10), fresh.search(query, 10), strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError):  # never appended to: the next build writes it whole
        loaded.appended("seg1.", np.arange(len(texts) + 1), ["new"])
    rebuilt = KeywordIndex.build(texts, previous=loaded)
    assert (
        rebuilt.tokenized == 0 and not rebuilt.outdated and rebuilt.tokens_by_key() == fresh.tokens_by_key()
    )


def test_a_newer_format_is_a_one_line_error(tmp_path: Path):
    KeywordIndex.build(SMALL).save(tmp_path / "keyword")
    meta = json.loads((tmp_path / "keyword" / META).read_text())
    (tmp_path / "keyword" / META).write_text(json.dumps(meta | {"format": 3}))
    with pytest.raises(IndexLoadError) as err:
        KeywordIndex.load(tmp_path / "keyword")
    assert "\n" not in str(err.value) and "format 3" in str(err.value) and 'run "rag build"' in str(err.value)
