"""Answer-level metrics against hand-computed examples, and the query file's split/follows fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.errors import QueryError
from rag.evaluation import answereval
from rag.evaluation.answereval import AnswerJudgement, Paragraphs, by_split, figures, hits, judge, judge_all
from rag.evaluation.queries import Query, QuoteLocator, QuoteSpan, load_queries

# Two paragraphs; offsets: "Desire needs space." is [0, 19), "Cling less." [20, 31), "Rain falls." [33, 44)
TEXT = "Desire needs space. Cling less.\n\nRain falls. Birds sing today."


def test_hits_needs_half_of_the_shorter_span():
    quote = QuoteSpan("a.md", 0, 19)
    assert hits(quote, "a.md", 0, 19)  # the same sentence
    assert hits(quote, "a.md", 0, 31)  # a longer sentence holding all of the quote
    assert hits(quote, "a.md", 9, 40)  # 10 of the quote's 19 characters: at least half
    assert not hits(quote, "a.md", 10, 40)  # 9 of 19: less than half
    assert hits(QuoteSpan("a.md", 0, 44), "a.md", 20, 31)  # a sentence inside a long quote
    assert not hits(quote, "b.md", 0, 19)  # another article
    assert not hits(quote, "a.md", 19, 30)  # touching is not overlapping


def test_judge_recall_and_precision_by_paragraph():
    locator = QuoteLocator({"a.md": TEXT})
    paragraphs = Paragraphs({"a.md": TEXT})
    q = Query("q1", "does desire need space?", ("Desire needs space.",))
    # quoted: the labelled sentence, its paragraph neighbour, and a sentence of the other paragraph
    spans = [("a.md", 0, 19), ("a.md", 20, 31), ("a.md", 33, 44)]
    j = judge(q, True, "...", spans, locator, paragraphs)
    assert (j.hit, j.sentences, j.relevant) == (True, 3, 2)
    miss = judge(q, True, "...", [("a.md", 33, 44)], locator, paragraphs)
    assert (miss.hit, miss.sentences, miss.relevant) == (False, 1, 0)
    declined = judge(q, False, "The articles do not cover this question.", [], locator, paragraphs)
    assert (declined.hit, declined.sentences) == (False, 0)


def test_figures_hand_computed():
    queries = [
        Query("a", "q?", ("x",), True, "train"),
        Query("b", "q?", ("x",), True, "train"),
        Query("c", "q?", ("x",), True, "test", follows="a"),
        Query("u", "q?", (), False, "test"),
        Query("v", "q?", (), False, "test", follows="a"),
    ]
    judged = {
        "a": AnswerJudgement("a", True, "", True, 4, 3),
        "b": AnswerJudgement("b", False, "", False, 0, 0),  # answerable, declined
        "c": AnswerJudgement("c", True, "", True, 2, 2),
        "u": AnswerJudgement("u", True, "", False, 3, 0),  # unanswerable, answered
        "v": AnswerJudgement("v", False, "", False, 0, 0),  # unanswerable follow-up, declined
    }
    f = figures(queries, judged)
    assert f["answer_recall"] == pytest.approx(2 / 3)
    assert f["answer_precision"] == pytest.approx((3 + 2) / (4 + 2))  # u's sentences are not counted
    assert (f["answerable_declined"], f["unanswerable_answered"]) == (1, 1)
    assert (f["follow_ups"], f["follow_ups_in_context"]) == (2, 2)
    splits = by_split(queries, judged)
    assert set(splits) == {"all", "train", "test"}
    assert splits["train"]["answer_recall"] == pytest.approx(0.5)
    assert splits["test"]["answer_recall"] == 1.0 and splits["test"]["unanswerable_answered"] == 1


def test_judge_all_passes_the_chain_of_earlier_questions():
    queries = [
        Query("a", "how do I avoid being clingy?", ("Desire needs space.",)),
        Query("b", "and what about texting?", ("Cling less.",), follows="a"),
        Query("c", "why?", ("Cling less.",), follows="b"),
    ]
    seen: dict[str, list[str]] = {}

    def ask(q: Query, history: list[str]) -> tuple[bool, str, answereval.Spans]:
        seen[q.qid] = history
        return True, "", [("a.md", 20, 31)]

    judged = judge_all(queries, ask, QuoteLocator({"a.md": TEXT}), Paragraphs({"a.md": TEXT}))
    assert seen == {
        "a": [],
        "b": ["how do I avoid being clingy?"],
        "c": [queries[0].question, queries[1].question],
    }
    assert [judged[q].hit for q in "abc"] == [False, True, True]


def test_split_and_follows_are_checked(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    rows = [
        {"id": "a", "question": "x?", "quotes": ["y"], "split": "train"},
        {"id": "b", "question": "why?", "quotes": ["y"], "split": "test", "follows": "a"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    a, b = load_queries(path)
    assert (a.split, b.split, b.follows) == ("train", "test", "a")
    path.write_text(json.dumps({**rows[0], "split": "dev"}) + "\n")
    with pytest.raises(QueryError, match='"split" must be one of'):
        load_queries(path)
    path.write_text(json.dumps(rows[1]) + "\n")
    with pytest.raises(QueryError, match="not an earlier query"):
        load_queries(path)


def test_committed_set_has_splits_follow_ups_and_near_topic_questions():
    queries = load_queries(Path(__file__).parent.parent / "eval" / "queries.jsonl")
    assert len(queries) >= 100
    test = [q for q in queries if q.split == "test"]
    assert {q.split for q in queries} == {"train", "test"} and 0.3 <= len(test) / len(queries) <= 0.45
    assert sum(bool(q.follows) for q in queries) >= 10
    assert (
        sum(not q.answerable for q in test) >= 8 and sum(len(q.question.split()) > 40 for q in queries) >= 4
    )


def test_second_reader_labels_every_committed_question_from_the_seed_articles():
    # eval/agreement.py compares these with the committed labels: one row per question, every quote in
    # an article, "best" among "accept", and nothing quoted for a question it declines.
    root = Path(__file__).parent.parent
    ids = [q.qid for q in load_queries(root / "eval" / "queries.jsonl")]
    rows = [json.loads(line) for line in (root / "eval" / "second_reader.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ids
    locator = QuoteLocator({p.name: p.read_text(encoding="utf-8") for p in (root / "corpus").glob("*.txt")})
    for r in rows:
        assert bool(r["best"]) == r["answerable"] and set(r["best"]) <= set(r["accept"]), r["id"]
        assert all(locator.spans(s) for s in r["accept"]), r["id"]


def _split_by_source(folder: Path, pages_dir: Path) -> dict[str, set[str]]:
    """Check every label of folder/answers.jsonl is in a page of pages_dir; return the splits each source
    (the part of a page's name before its first "-": a site, or a writer) is asked about in."""
    queries = load_queries(folder / "answers.jsonl")
    pages = {p.name: p.read_text(encoding="utf-8") for p in sorted(pages_dir.glob("*.md"))}
    locator = QuoteLocator(pages)
    source_split: dict[str, set[str]] = {}
    for q in queries:
        assert q.split in ("train", "test") and (bool(q.quotes) == q.answerable == bool(q.accept)), q.qid
        for label in (*q.quotes, *q.accept):
            assert locator.spans(label), f"{q.qid}: {label!r} is in no page"
        for span in (s for quote in q.quotes for s in locator.spans(quote)):
            source_split.setdefault(span.path.split("-")[0], set()).add(q.split)
    assert {q.split for q in queries if not q.answerable} == {"train", "test"}
    return source_split


def test_web_page_questions_are_split_by_site_and_every_label_is_in_the_pages():
    web = Path(__file__).parent.parent / "eval" / "webpages"
    site_split = _split_by_source(web, web / "clean")
    # a site's pages are asked about in one split only: test questions are about pages nothing was fitted on
    assert all(len(splits) == 1 for splits in site_split.values()), site_split


def test_long_form_questions_are_split_by_writer_and_every_label_is_in_the_articles():
    folder = Path(__file__).parent.parent / "eval" / "longform"
    writer_split = _split_by_source(folder, folder / "articles")
    # no writer is in both splits, and each split has two writers: test questions are about a voice nothing
    # was fitted on
    assert all(len(splits) == 1 for splits in writer_split.values()), writer_split
    assert sorted(s for splits in writer_split.values() for s in splits) == ["test", "test", "train", "train"]
    queries = load_queries(folder / "answers.jsonl")
    assert len(queries) >= 80 and sum(bool(q.follows) for q in queries) >= 6
    assert (
        sum(len(q.question.split()) > 40 for q in queries) >= 8
        and sum(not q.answerable for q in queries) >= 15
    )


def test_reader_figures_judge_against_every_accepted_sentence():
    locator = QuoteLocator({"a.md": TEXT})
    paragraphs = Paragraphs({"a.md": TEXT})
    labelled = Query("q1", "does desire need space?", ("Desire needs space.",), accept=("Birds sing today.",))
    # the labelled quote, its paragraph neighbour (not accepted), an accepted sentence of the other paragraph
    spans = [("a.md", 0, 19), ("a.md", 20, 31), ("a.md", 45, 62)]
    j = judge(labelled, True, "...", spans, locator, paragraphs)
    # the paragraph rule counts "Cling less."; the reader's labels count only the sentences they list
    assert (j.relevant, j.reader_hit, j.reader_relevant) == (2, True, 1)
    only_accepted = judge(labelled, True, "...", [("a.md", 45, 62)], locator, paragraphs)
    assert (only_accepted.hit, only_accepted.reader_hit, only_accepted.reader_relevant) == (False, True, 1)
    unlabelled = judge(Query("q2", "x?", ("Desire needs space.",)), True, "...", spans, locator, paragraphs)
    assert unlabelled.reader_hit is None
    queries = [labelled, Query("q3", "y?", ("Rain falls.",), accept=("Rain falls.",))]
    judged = {
        "q1": j,
        "q3": judge(queries[1], True, "...", [("a.md", 20, 31)], locator, paragraphs),
    }
    f = figures(queries, judged)
    assert f["reader_recall"] == pytest.approx(1 / 2)
    assert f["reader_precision"] == pytest.approx(1 / 4)
    assert "reader_recall" not in figures([*queries, Query("q2", "x?", ("y",))], {**judged, "q2": unlabelled})


def test_accepted_sentences_are_checked(tmp_path: Path):
    path = tmp_path / "q.jsonl"
    path.write_text(json.dumps({"id": "a", "question": "x?", "quotes": ["y"], "accept": "y"}) + "\n")
    with pytest.raises(QueryError, match='"accept" must be a list'):
        load_queries(path)
    path.write_text(json.dumps({"id": "a", "question": "x?", "answerable": False, "accept": ["y"]}) + "\n")
    with pytest.raises(QueryError, match="unanswerable but has accepted sentences"):
        load_queries(path)
    path.write_text(
        json.dumps({"id": "a", "question": "x?", "quotes": ["Rain falls."], "accept": ["Snow."]}) + "\n"
    )
    with pytest.raises(QueryError, match="'Snow.' occurs in no article"):
        QuoteLocator({"a.md": TEXT}).check(load_queries(path))
