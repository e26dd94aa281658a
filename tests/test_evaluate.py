"""Evaluation: the relevance rule, query-file errors, metric values, BEIR handling, runs and comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.errors import QueryError
from rag.evaluation.beir import load_beir, published_figures, write_corpus
from rag.evaluation.evalreport import compare, load_run
from rag.evaluation.evaluate import evaluate_beir, evaluate_queries, score
from rag.evaluation.queries import Query, QuoteLocator, fold, load_queries
from rag.types import Chunk, Passage

ART = "Intro line.\n\nDesire needs space. Like fire needs air.\n\nIt’s “counterintuitive” but true. The end."


def _chunk(cid: str, start: int, end: int, path: str = "a.txt") -> Chunk:
    return Chunk(cid, "a", path, "T", "", start, end, ART[start:end], ART[start:end])


def _passages(*chunks: Chunk) -> list[Passage]:
    return [Passage(c, rank, 1.0 / rank, c.path) for rank, c in enumerate(chunks, start=1)]


# --- the relevance rule -------------------------------------------------------------------------


def test_quote_inside_a_passage_with_typographic_quotes_and_spacing():
    loc = QuoteLocator({"a.txt": ART})
    c = _chunk("c", ART.index("It’s"), len(ART))
    assert loc.covers(c, 'it\'s "counterintuitive"   but TRUE.')  # case, quotes, whitespace all folded
    assert not loc.covers(c, "Desire needs space.")
    assert fold("  A\u00a0 “B”\n") == 'a "b"'


def test_quote_split_across_two_passages_counts_where_half_of_it_lies():
    loc = QuoteLocator({"a.txt": ART})
    quote = "Desire needs space. Like fire needs air."
    start = ART.index(quote)
    cut = start + 8  # "Desire n" | "eeds space. Like fire needs air."
    left, right = _chunk("l", 0, cut), _chunk("r", cut, len(ART))
    assert not loc.covers(left, quote) and loc.covers(right, quote)
    middle = start + len(quote) // 2
    assert loc.covers(_chunk("l2", 0, middle), quote) and loc.covers(_chunk("r2", middle, len(ART)), quote)
    assert not loc.covers(_chunk("elsewhere", 0, cut, path="b.txt"), quote)  # spans are per file


def test_quote_found_in_no_article_names_query_and_quote():
    loc = QuoteLocator({"a.txt": ART})
    with pytest.raises(QueryError, match=r"query q7: the quote 'Desire is overrated' occurs in no article"):
        loc.check([Query("q7", "?", ("Desire is overrated",))])


# --- query files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"id": "q1", "question": "a?", "quotes": ["x"]}', "{oops"], r"line 2 is not valid JSON"),
        (['{"question": "a?", "quotes": ["x"]}'], r"line 1 has no \"id\""),
        (['{"id": "q1", "quotes": ["x"]}'], r"line 1 \(id q1\) has no \"question\""),
        (['{"id": "q1", "question": "a?", "quotes": "x"}'], r"\"quotes\" must be a list"),
        (['{"id": "q1", "question": "a?"}'], r"has no quotes - add the words that answer it"),
        (
            ['{"id": "q1", "question": "a?", "quotes": ["x"], "answerable": false}'],
            r"unanswerable but has quotes",
        ),
        (['{"id": "q1", "question": "a?", "quotes": ["x"]}'] * 2, r"line 2: id 'q1' is used twice"),
        (["[1, 2]"], r"line 1 is not a JSON object"),
        ([""], r"holds no queries"),
    ],
)
def test_query_file_errors(tmp_path: Path, lines: list[str], message: str):
    path = tmp_path / "q.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(QueryError, match=message) as err:
        load_queries(path)
    assert "\n" not in str(err.value)


def test_committed_query_set_is_well_formed():
    queries = load_queries(Path(__file__).parent.parent / "eval" / "queries.jsonl")
    assert len(queries) >= 40
    assert sum(not q.answerable for q in queries) >= 6
    assert queries[0].question == "how do I avoid being clingy?"


# --- metric values ---------------------------------------------------------------------------------


def test_library_metrics_on_hand_made_rankings():
    qrels = {"q1": {"d1": 1}, "q2": {"d1": 1, "d2": 1}, "q3": {"d9": 1}}
    run = {
        "q1": {"x": 3.0, "d1": 2.0, "y": 1.0},  # first relevant at rank 2
        "q2": {"d2": 3.0, "x": 2.0, "d1": 1.0},  # relevant at ranks 1 and 3
        # q3 retrieves nothing: it must count as 0, not be dropped from the mean
    }
    means, per_query = score(qrels, run, ("R@1", "R@3", "RR@10", "nDCG@10"))
    assert per_query["q1"]["RR@10"] == pytest.approx(0.5)
    assert per_query["q1"]["nDCG@10"] == pytest.approx(1 / math.log2(3))
    assert per_query["q2"]["R@1"] == pytest.approx(0.5) and per_query["q2"]["R@3"] == pytest.approx(1.0)
    ideal = 1 + 1 / math.log2(3)
    assert per_query["q2"]["nDCG@10"] == pytest.approx((1 + 1 / math.log2(4)) / ideal)
    assert per_query["q3"]["RR@10"] == 0.0
    assert means["RR@10"] == pytest.approx((0.5 + 1.0 + 0.0) / 3)
    assert means["R@3"] == pytest.approx((1 + 1 + 0) / 3)


def test_beir_run_keeps_the_order_the_search_returned():
    # A reranked head scores on another scale than the tail: here the tail's scores are higher.
    ids = ["d1", "d2", "d1", "d3"]  # d1's second passage ranks below its first and is not counted again
    chunks = [Chunk(f"{d}#{i}", d, f"{d}.txt", "T", "", 0, 4, "text", "text") for i, d in enumerate(ids)]
    scores = [0.2, 0.1, 5.0, 4.0]

    def search(question: str, k: int) -> list[Passage]:
        return [Passage(c, r, s, c.path) for r, (c, s) in enumerate(zip(chunks, scores, strict=True), 1)]

    run = evaluate_beir(search, [Query("q", "claim")], {"q": {"d3": 1}}, depth=10)
    assert run.results[0].first_relevant_rank == 3  # d1, d2, d3: by position, not by score
    assert run.metrics["RR@10"] == pytest.approx(1 / 3)


def test_evidence_counts_once_and_quotes_in_one_passage_are_one_piece():
    loc = QuoteLocator({"a.txt": ART})
    s1 = ART.index("Desire")
    s2 = ART.index("It’s")
    a, b = _chunk("a", 0, s2 - 2), _chunk("b", s1, len(ART))  # overlap: both hold the Desire paragraph
    c = _chunk("c", 0, 11)
    together = Query("q1", "?", ("Desire needs space.", "Like fire needs air."))
    apart = Query("q2", "?", ("Desire needs space.", "The end."))
    chunks = [c, a, b]
    assert loc.evidence_groups(together, chunks) == [(0, 1)]
    assert len(loc.evidence_groups(apart, chunks)) == 1  # b holds both quotes, so one piece of evidence

    def search(question: str, k: int) -> list[Passage]:
        return _passages(c, a, b)[:k]

    run = evaluate_queries(search, [together], loc, chunks, depth=3)
    assert run.metrics["R@1"] == 0 and run.metrics["R@3"] == 1.0
    assert run.metrics["RR@10"] == pytest.approx(0.5)  # a at rank 2; b (same evidence) adds nothing
    assert run.results[0].first_relevant_rank == 2


# --- BEIR -------------------------------------------------------------------------------------------


def _beir(tmp_path: Path) -> Path:
    d = tmp_path / "tiny"
    (d / "qrels").mkdir(parents=True)
    docs = [
        ("d1", "Vitamin D", "Vitamin D deficiency is linked to bone loss in the elderly."),
        ("d2", "Sleep", "Short sleep raises the risk of obesity in children."),
        ("d3", "Coffee", "Coffee drinking is associated with lower liver disease mortality."),
        ("d4", "Exercise", "Aerobic exercise improves memory in older adults."),
    ]
    (d / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in docs)
    )
    queries = [
        ("1", "Does coffee protect the liver?"),
        ("2", "Is lack of sleep tied to childhood obesity?"),
        ("3", "unjudged query"),
    ]
    (d / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td3\t1\n2\td2\t1\n")
    (d / "README.md").write_text(
        "| system | nDCG@10 | Recall@100 |\n|---|---|---|\n| all-MiniLM-L6-v2, dense | 0.6451 | 0.9250 |\n"
    )
    return d


def test_beir_loading_and_corpus_files(tmp_path: Path):
    beir = load_beir(_beir(tmp_path))
    assert [q.qid for q in beir.queries] == ["1", "2"]  # only judged queries are test queries
    assert beir.qrels == {"1": {"d3": 1}, "2": {"d2": 1}}
    write_corpus(beir, tmp_path / "c")
    files = sorted((tmp_path / "c").glob("*.txt"))
    assert len(files) == 4 and "Vitamin D Vitamin D deficiency" in files[0].read_text()
    assert published_figures(tmp_path / "tiny", "sentence-transformers/all-MiniLM-L6-v2") == {
        "nDCG@10": 0.6451,
        "R@100": 0.925,
    }


def test_beir_format_errors(tmp_path: Path):
    d = _beir(tmp_path)
    (d / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\nnot json\n')
    with pytest.raises(QueryError, match=r"corpus.jsonl line 2 is not a JSON object"):
        load_beir(d)
    d = _beir(tmp_path / "again")
    (d / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n1\td3\n")
    with pytest.raises(QueryError, match=r"test.tsv line 2 is not 'query-id<TAB>corpus-id<TAB>score'"):
        load_beir(d)
    with pytest.raises(QueryError, match=r"corpus.jsonl is missing"):
        load_beir(tmp_path / "nowhere")


@pytest.mark.slow  # the real model
def test_cli_beir_eval_with_real_model_and_compare(tmp_path: Path):
    d = _beir(tmp_path)
    args = ["eval", "--beir", str(d), "--cache", str(tmp_path / "cache"), "--out", str(tmp_path / "runs")]
    first = CliRunner().invoke(main, [*args, "--json"])
    assert first.exit_code == 0, first.output
    out = json.loads(first.output[first.output.index("{") :])
    assert out["metrics"]["nDCG@10"] == pytest.approx(1.0) and out["metrics"]["R@100"] == 1.0
    assert out["published"] == {"nDCG@10": 0.6451, "R@100": 0.925}
    saved = Path(out["run"])
    assert saved.is_file() and saved.with_suffix(".png").stat().st_size > 1000
    second = CliRunner().invoke(main, [*args, "--compare", str(saved)])
    assert second.exit_code == 0, second.output
    assert "0 improved, 0 regressed, 2 unchanged" in second.output
    assert "no per-query differences" in second.output


def test_cli_eval_committed_queries_on_seed_index(seed_index, tmp_path: Path):
    corpus_dir, index_dir = seed_index
    args = [
        "eval",
        str(Path(__file__).parent.parent / "eval" / "queries.jsonl"),
        "--corpus",
        str(corpus_dir),
        "--index",
        str(index_dir),
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for metric in ("R@1", "R@3", "R@5", "R@10", "RR@10", "nDCG@10", "latency per query: p50"):
        assert metric in result.output
    assert "unanswerable queries, top score: q06" in result.output
    assert "abstention: " in result.output and "unanswerable questions abstained" in result.output
    run = load_run(next(tmp_path.glob("queries-*.json")))
    assert len(run.results) >= 40 and run.metrics["R@10"] > 0.8  # dense retrieval on 21 passages
    assert all(r.first_relevant_rank is None or 1 <= r.first_relevant_rank <= 10 for r in run.results)
    assert compare(run, run).improved == []


def test_eval_needs_exactly_one_source():
    result = CliRunner().invoke(main, ["eval"])
    assert result.exit_code == 1 and "give either a query file or --beir DIR" in result.output
