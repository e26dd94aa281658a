"""Fusion of rankings, checked against sums worked out by hand (no model needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.search.fuse import merge_overlapping, reciprocal_rank_fusion, zscore_fusion
from rag.types import Chunk, Passage, Why
from rag.web.render import why_text


def _z(values: list[float]) -> list[float]:
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / sd for v in values]


def test_zscore_sums_standardised_scores_and_fills_missing_rows_with_the_lowest():
    dense = ([10, 11, 12], [0.9, 0.5, 0.4])
    keyword = ([12, 13], [8.0, 2.0])
    fused = {row: (score, ranks) for row, score, ranks in zscore_fusion({"dense": dense, "keyword": keyword})}
    zd, zk = _z(dense[1]), _z(keyword[1])  # zk == [1, -1]
    expected = {
        10: zd[0] + min(zk),  # keyword never returned it: its lowest score
        11: zd[1] + min(zk),
        12: zd[2] + zk[0],
        13: min(zd) + zk[1],
    }
    assert set(fused) == set(expected)
    for row, value in expected.items():
        assert fused[row][0] == pytest.approx(value)
    assert fused[12][1] == {"dense": 3, "keyword": 1} and fused[13][1] == {"keyword": 2}


def test_zscore_order_follows_the_confident_ranker_where_rrf_ties():
    # dense is sure of row 1 (far ahead of the rest); keyword barely prefers row 2 over row 1.
    dense = ([1, 2, 3, 4], [0.90, 0.30, 0.29, 0.28])
    keyword = ([2, 1, 3, 4], [5.01, 5.00, 1.0, 0.9])
    assert [row for row, _, _ in zscore_fusion({"dense": dense, "keyword": keyword})][:2] == [1, 2]
    rrf = reciprocal_rank_fusion({"dense": dense[0], "keyword": keyword[0]})
    assert rrf[0][1] == pytest.approx(rrf[1][1])  # ranks alone cannot tell rows 1 and 2 apart


def test_zscore_ranker_with_equal_scores_adds_nothing():
    dense = ([5, 6, 7], [0.8, 0.6, 0.1])
    flat = ([7, 6, 5], [3.0, 3.0, 3.0])
    assert [row for row, _, _ in zscore_fusion({"dense": dense, "keyword": flat})] == [5, 6, 7]


def test_zscore_weights_and_empty_rankings():
    dense = ([1, 2], [0.9, 0.1])
    keyword = ([2, 1], [9.0, 1.0])
    both = zscore_fusion({"dense": dense, "keyword": keyword})
    assert both[0][1] == pytest.approx(both[1][1])  # symmetric: a tie, first ranking's order kept
    assert [r for r, _, _ in both] == [1, 2]
    leaning = zscore_fusion({"dense": dense, "keyword": keyword}, weights={"keyword": 2.0})
    assert [r for r, _, _ in leaning] == [2, 1]
    alone = zscore_fusion({"dense": dense, "keyword": ([], [])})
    assert [(r, ranks) for r, _, ranks in alone] == [(1, {"dense": 1}), (2, {"dense": 2})]
    assert zscore_fusion({}) == []


def test_zscore_one_keyword_match_stands_out_when_the_ranker_says_what_it_left_out():
    dense = (list(range(10)), [0.50 - 0.01 * i for i in range(10)])
    keyword = ([9], [4.0])  # the one passage holding a rare word; BM25 scored the other 9 zero
    alone = zscore_fusion({"dense": dense, "keyword": keyword})
    assert alone[0][0] == 0  # a list of one has no spread: keyword adds nothing
    told = zscore_fusion({"dense": dense, "keyword": keyword}, unreturned={"keyword": (9, 0.0)})
    assert told[0][0] == 9
    zk = _z([4.0] + [0.0] * 9)
    zd = _z(dense[1])
    scores = {row: score for row, score, _ in told}
    assert scores[9] == pytest.approx(zd[9] + zk[0])
    assert scores[0] == pytest.approx(zd[0] + zk[1])  # missing from keyword: the zero score's z


@pytest.mark.parametrize("seed", range(20))
def test_zscore_longer_lists_add_rows_below_but_never_reorder_the_window(seed: int):
    rng = np.random.default_rng(seed)
    pool = rng.permutation(60)
    dense_rows, keyword_rows = pool[:30].tolist(), rng.permutation(pool[10:50])[:30].tolist()
    dense = np.sort(rng.normal(0.4, 0.1, 30))[::-1].round(2).tolist()  # rounded: ties happen
    keyword = np.sort(rng.gamma(2.0, 2.0, 30))[::-1].round(1).tolist()

    def fuse(n: int) -> list[int]:
        lists = {"dense": (dense_rows[:n], dense[:n]), "keyword": (keyword_rows[:n], keyword[:n])}
        return [row for row, _, _ in zscore_fusion(lists, window=10)]

    short, longer = fuse(10), fuse(30)
    assert longer[: len(short)] == short
    assert set(longer[len(short) :]).isdisjoint(short)


def test_zscore_counts_a_non_finite_score_as_the_lowest():
    dense = ([1, 2, 3], [0.9, float("nan"), 0.1])
    keyword = ([2, 3], [5.0, 1.0])
    fused = zscore_fusion({"dense": dense, "keyword": keyword})
    assert all(math.isfinite(score) for _, score, _ in fused)
    expected = zscore_fusion({"dense": ([1, 2, 3], [0.9, 0.1, 0.1]), "keyword": keyword})
    assert fused == expected


def test_zscore_refuses_rows_and_scores_of_different_lengths():
    with pytest.raises(ValueError, match="has 2 rows but 1 scores"):
        zscore_fusion({"dense": ([1, 2], [0.5])})


def test_rrf_sums_weighted_reciprocal_ranks():
    fused = reciprocal_rank_fusion({"dense": [1, 2], "keyword": [2, 3]}, k=10, weights={"keyword": 2.0})
    scores = {row: score for row, score, _ in fused}
    assert scores == pytest.approx({1: 1 / 11, 2: 1 / 12 + 2 / 11, 3: 2 / 12})
    assert [row for row, _, _ in fused] == [2, 3, 1]


def test_fusion_is_a_setting():
    from rag.config import Settings

    assert Settings().fusion == "zscore"
    assert Settings.from_env({"RAG_FUSION": "rrf"}).fusion == "rrf"


def test_why_says_each_ranking_and_step_in_the_order_the_api_returns():
    why = Why.found({"dense": 2, "keyword": 1}, {"dense": 0.51234567, "keyword": 7.0}, fused_score=1.25)
    assert why.to_json() == {
        "dense_rank": 2,
        "dense_score": 0.512346,
        "keyword_rank": 1,
        "keyword_score": 7.0,
        "fused_score": 1.25,
    }
    reranked = why.reranked(3, 0.7, 0.0123456789)
    assert list(reranked.to_json())[-3:] == ["sentence_rank", "sentence_score", "rerank_score"]
    assert reranked.rerank_score == 0.012346 and reranked.rankers() == {
        "dense": (2, 0.512346),
        "keyword": (1, 7.0),
    }
    keyword_only = Why.found({"keyword": 4}, {"keyword": 2.5})
    assert keyword_only.to_json() == {"keyword_rank": 4, "keyword_score": 2.5}
    assert keyword_only.rankers() == {"dense": None, "keyword": (4, 2.5)}
    assert Why().to_json() == {}
    with pytest.raises(ValueError, match="unknown rankers"):
        Why.found({"sparse": 1}, {"sparse": 1.0})


def test_merging_records_the_merged_passage_in_why():
    a = Chunk("a#0", "a", "a.txt", "T", "", 0, 10, "0123456789", "")
    b = Chunk("a#1", "a", "a.txt", "T", "", 5, 15, "56789abcde", "")
    first = Passage(a, 1, 0.9, "a.txt", Why.found({"dense": 1}, {"dense": 0.9}))
    merged = merge_overlapping(
        [first, Passage(b, 2, 0.8, "a.txt", Why.found({"dense": 2}, {"dense": 0.8}))], 5
    )
    assert len(merged) == 1 and merged[0].chunk.text == "0123456789abcde"
    assert merged[0].why.to_json() == {"dense_rank": 1, "dense_score": 0.9, "merged_with": "a#1"}
    assert "its meaning is close to the question (#1)" in why_text(merged[0])
    assert why_text(merged[0]).endswith("Scores: dense #1 (0.90), not in keyword results.")
