"""Answering and abstaining: the policy's rule, the real model on the seed index, and `rag ask`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.abstain import AbstentionPolicy, Evidence, decide
from rag.ask import ask
from rag.cli import main
from rag.index import load_index
from rag.retrieve import Retriever


@pytest.mark.parametrize(
    ("similarity", "coverage", "abstains"),
    [
        (0.10, 1.0, True),  # nothing close, whatever the keywords say
        (0.35, 0.10, True),  # loosely related and the keywords do not agree
        (0.35, 0.60, False),  # loosely related but the question's words are there
        (0.55, 0.00, False),  # a sentence says it in other words
    ],
)
def test_policy_rule(similarity: float, coverage: float, abstains: bool):
    abstained, why = decide(Evidence(similarity, coverage, "s"), AbstentionPolicy())
    assert abstained is abstains and why
    assert decide(Evidence(similarity, coverage, "s"), AbstentionPolicy(enabled=False)) == (
        False,
        "abstention is off",
    )


@pytest.fixture(scope="module")
def retriever(seed_index, real_embedder) -> Retriever:
    corpus_dir, index_dir = seed_index
    return Retriever(load_index(index_dir), real_embedder, corpus_dir)


def test_answers_the_clingy_question_with_exact_citations(retriever: Retriever):
    reply = ask(retriever, "how do I avoid being clingy?")
    answer = reply.answer
    assert not answer.abstained and 2 <= len(answer.sentences) <= 5
    assert "clingy" in answer.text
    for src in answer.sources:
        original = Path(src.passage.path).read_text(encoding="utf-8")
        assert " ".join(original[src.start : src.end].split()) in " ".join(src.passage.chunk.text.split())
    assert reply.evidence.similarity > 0.4


@pytest.mark.parametrize("question", ["How do I file my taxes?", "what is the best recipe for banana bread?"])
def test_off_topic_questions_are_declined_with_closest_passages(retriever: Retriever, question: str):
    reply = ask(retriever, question)
    assert reply.answer.abstained and not reply.answer.sources
    assert reply.answer.closest and "do not cover" in reply.answer.text


def test_rag_ask_cli(seed_index):
    corpus_dir, index_dir = seed_index
    folders = ["--corpus", str(corpus_dir), "--index", str(index_dir)]
    out = CliRunner().invoke(main, ["ask", "how do I avoid being clingy?", "--json", *folders])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["abstained"] is False and data["sources"] and "evidence" in data
    declined = CliRunner().invoke(main, ["ask", "How do I file my taxes?", *folders])
    assert declined.exit_code == 0 and "The articles do not cover this question." in declined.output
    assert "Closest we found:" in declined.output
    forced = CliRunner().invoke(main, ["ask", "How do I file my taxes?", "--no-abstain", "--json", *folders])
    assert json.loads(forced.output)["abstained"] is False
    empty = CliRunner().invoke(main, ["ask", "  ", *folders])
    assert empty.exit_code == 1 and "the question is empty" in empty.output
