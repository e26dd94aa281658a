"""Feedback that becomes a test: thumbs and corrections are kept as labelled questions `rag eval` runs."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import QueryError
from rag.evaluation.feedback import read, record
from rag.evaluation.queries import load_queries
from rag.web import handlers


def test_record_keeps_one_line_per_question(tmp_path: Path):
    path = tmp_path / "eval" / "feedback.jsonl"
    first = record(
        path, "how do I  avoid being clingy?", quotes=["Desire needs space."], answerable=True, verdict="x"
    )
    record(path, "How do I avoid being clingy?", quotes=[], answerable=False, verdict="y")  # same question
    record(
        path,
        "should I text him every hour?",
        quotes=["texting and triple texting us"],
        answerable=True,
        verdict="z",
    )
    kept = read(path)
    assert [e["id"] for e in kept] == [f"fb-{first['id'][3:]}", kept[1]["id"]] and len(kept) == 2
    assert kept[0]["answerable"] is False and kept[0]["quotes"] == []
    assert [q.question for q in load_queries(path)] == [
        "How do I avoid being clingy?",
        "should I text him every hour?",
    ]
    with pytest.raises(QueryError, match="paste the words"):
        record(path, "why?", quotes=[], answerable=True, verdict="x")


@pytest.fixture
def served(tmp_path: Path, seed_index, monkeypatch: pytest.MonkeyPatch) -> Assistant:
    corpus_src, index_src = seed_index
    shutil.copytree(corpus_src, tmp_path / "corpus")
    shutil.copytree(index_src, tmp_path / "index")
    monkeypatch.chdir(tmp_path)  # eval/runs is written under the working folder
    settings = replace(Settings(), corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index")
    return Assistant(replace(settings, feedback_path=tmp_path / "eval" / "feedback.jsonl"))


def test_thumbs_up_keeps_the_quoted_sentences_and_evaluate_runs_them(served: Assistant):
    history, *_ = handlers.on_ask(served, "how do I avoid being clingy?", [], 5, "hybrid", False)
    note, row, pending = handlers.on_feedback(served, history, 1, True)
    assert "kept as a test question" in note and row["visible"] is False and pending == ""
    (entry,) = read(served.settings.feedback_path)
    assert entry["question"] == "how do I avoid being clingy?" and entry["answerable"] and entry["quotes"]
    assert all(q in json.dumps(history, ensure_ascii=False) for q in entry["quotes"])
    summary, figures, per_query, _ = handlers.on_evaluate(served, "feedback")
    assert summary.startswith("Asked the 1 questions") and per_query[0][1] == "found"


def test_thumbs_down_asks_and_the_correction_is_checked(served: Assistant):
    history, *_ = handlers.on_ask(served, "how do I avoid being clingy?", [], 5, "hybrid", False)
    note, row, pending = handlers.on_feedback(served, history, [1], False)
    assert "What would have been right?" in note and row["visible"] is True
    assert pending == "how do I avoid being clingy?"
    note, row, still = handlers.on_correct(served, pending, "words that are in no article at all", True)
    assert (
        note.startswith("⚠️")
        and row["visible"] is True
        and still == pending
        and read(served.settings.feedback_path) == []
    )
    note, row, done = handlers.on_correct(served, pending, "desire also needs  space to grow stronger", True)
    assert "kept as a test question" in note and done == ""
    assert read(served.settings.feedback_path)[0]["quotes"] == ["desire also needs space to grow stronger"]
    summary, _, per_query, _ = handlers.on_evaluate(served, "feedback")
    assert per_query[0][1] in ("found", "not found") and "Asked the 1 questions" in summary


def test_should_not_have_been_answered(served: Assistant):
    history = [
        {"role": "user", "content": "how do I file my taxes?"},
        {"role": "assistant", "content": "<p>x</p>"},
    ]
    _, _, pending = handlers.on_feedback(served, history, 1, False)
    handlers.on_correct(served, pending, "", False)
    (entry,) = read(served.settings.feedback_path)
    assert entry["answerable"] is False and entry["verdict"] == "should not have been answered"


def test_no_feedback_yet_is_said(served: Assistant):
    summary, figures, rows, plot = handlers.on_evaluate(served, "feedback")
    assert summary.startswith("No feedback yet") and figures == rows == [] and plot is None
    assert handlers.on_feedback(served, [], 0, True)[0] == ""  # nothing to rate: nothing kept
