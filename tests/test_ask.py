"""Answering and abstaining: the policy's rule, the real model on the seed index, and `rag ask`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answer.abstain import AbstentionPolicy, Evidence, decide
from rag.answer.ask import ask
from rag.answer.features import EVIDENCE_FEATURES
from rag.cli import main
from rag.index.index_folder import load_index
from rag.search.retrieve import Retriever


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
    abstained, why = decide(Evidence(similarity, coverage, "s"), AbstentionPolicy(learned=False))
    assert abstained is abstains and why
    assert decide(Evidence(similarity, coverage, "s"), AbstentionPolicy(enabled=False)) == (
        False,
        "abstention is off",
    )


def test_fitted_policy_declines_weak_evidence_and_answers_strong():
    weak = Evidence(0.2, 0.1, "s", False, (0.2, 0.18, 0.15), 1.0, 0.5)
    strong = Evidence(0.7, 0.9, "s", False, (0.7, 0.6, 0.5), 5.0, 0.0)
    assert decide(weak, AbstentionPolicy())[0] is True
    abstained, why = decide(strong, AbstentionPolicy())
    assert abstained is False and "fitted score" in why
    assert weak.vector().shape == (len(EVIDENCE_FEATURES),)


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


# --- answers that answer (issue #12), on the real model -------------------------------------------

SITUATION = (
    "I've been dating a guy for about five months and things were amazing at the start, we talked every"
    " day and saw each other three or four times a week. But over the last few weeks he has started"
    " pulling away. He takes hours to answer my messages and he cancelled our plans twice. When he"
    " doesn't reply I panic and triple-text him, and then I end up lashing out and complaining that he"
    " obviously doesn't miss me anymore. My best friend says I'm suffocating him, but I'm scared that if"
    " I back off he will just forget about me. What should I do when I feel him pulling away like this?"
)


@pytest.mark.slow
def test_a_long_situation_is_answered_from_the_passage_about_it(retriever: Retriever):
    reply = ask(retriever, SITUATION)
    assert not reply.answer.abstained, reply.reason
    assert any("triple-text" in s.text or "pulling away" in s.text for s in reply.answer.sentences)


@pytest.mark.slow
def test_a_follow_up_is_answered_in_context_and_a_new_topic_is_not(retriever: Retriever):
    alone = ask(retriever, "and what about texting?")
    followed = ask(retriever, "and what about texting?", history=["how do I avoid being clingy?"])
    assert followed.understood_as == "how do I avoid being clingy? and what about texting?"
    assert any("texting" in s.text for s in followed.answer.sentences)
    assert followed.answer.question == "and what about texting?"
    assert not alone.understood_as
    switched = ask(retriever, "how do I get over a breakup?", history=["how do I avoid being clingy?"])
    assert switched.answer.abstained and not switched.understood_as
    why = ask(
        retriever, "why does that work?", history=["how do I use mystery when I'm just starting to date?"]
    )
    assert not why.answer.abstained
    assert any("myster" in s.text for s in why.answer.sentences)  # still about mystery...
    before = ask(retriever, "how do I use mystery when I'm just starting to date?")
    assert not {s.text for s in before.answer.sentences} & {
        s.text for s in why.answer.sentences
    }  # ...but new


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "how do I get over a breakup?",
        "should we try marriage counselling?",
        "how do I get over my ex?",
    ],
)
def test_near_topic_questions_are_declined(retriever: Retriever, question: str):
    assert ask(retriever, question).answer.abstained


@pytest.mark.slow
def test_a_question_about_a_removed_article_is_declined(seed_index, real_embedder, tmp_path: Path):
    from rag.config import ChunkParams
    from rag.index.build import build

    corpus_dir, _ = seed_index
    (tmp_path / "corpus").mkdir()
    kept = corpus_dir / "000_724d5b54972ab479.txt"
    (tmp_path / "corpus" / kept.name).write_bytes(kept.read_bytes())
    build(tmp_path / "corpus", tmp_path / "index", real_embedder, ChunkParams(), progress=False)
    without = Retriever(load_index(tmp_path / "index"), real_embedder, tmp_path / "corpus")
    question = "why should I take full responsibility for my own happiness?"
    assert not ask(retriever_for(seed_index, real_embedder), question).answer.abstained
    assert ask(without, question).answer.abstained


def retriever_for(seed_index, real_embedder) -> Retriever:
    corpus_dir, index_dir = seed_index
    return Retriever(load_index(index_dir), real_embedder, corpus_dir)


@pytest.mark.slow
def test_rag_ask_history_option(seed_index):
    corpus_dir, index_dir = seed_index
    args = ["ask", "and what about texting?", "--history", "how do I avoid being clingy?", "--json"]
    result = CliRunner().invoke(main, [*args, "--corpus", str(corpus_dir), "--index", str(index_dir)])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["understood_as"] == "how do I avoid being clingy? and what about texting?"
    assert "texting" in out["text"]


@pytest.mark.slow
def test_what_else_does_not_repeat_the_previous_answer(retriever: Retriever):
    first = ask(retriever, "how do I make him miss me?")
    more = ask(retriever, "what else?", history=["how do I make him miss me?"])
    assert more.understood_as and not more.answer.abstained
    said = {s.text for s in first.answer.sentences}
    assert said and not said & {s.text for s in more.answer.sentences}


def test_asking_within_one_article_cites_only_that_article(retriever: Retriever):
    trust = "002_28c6eb84cb694cfe"
    everywhere = retriever.search("how do I make someone miss me?", 5)
    assert {p.chunk.article_id for p in everywhere} == {"000_724d5b54972ab479", trust}
    scanned = [i for i, c in enumerate(retriever.index.chunks) if c.article_id == trust]
    assert retriever.article_rows(trust).tolist() == scanned  # the manifest's runs are the stored rows
    within = retriever.search("how do I make someone miss me?", 5, article=trust)
    assert within and {p.chunk.article_id for p in within} == {trust}
    by_path = retriever.search("how do I make someone miss me?", 5, article=f"{trust}.txt")
    assert [p.chunk.chunk_id for p in by_path] == [p.chunk.chunk_id for p in within]
    for mode in ("dense", "keyword"):
        assert {p.chunk.article_id for p in retriever.search("trust", 3, mode=mode, article=trust)} == {trust}
    reply = ask(retriever, "should I trust my boyfriend?", article=trust)
    assert not reply.answer.abstained
    assert {s.passage.chunk.article_id for s in reply.answer.sources} == {trust}


def test_asking_within_an_unknown_article_is_a_clear_error(retriever: Retriever, seed_index):
    from rag.errors import QueryError

    with pytest.raises(QueryError, match="no article 'nope' in the index"):
        retriever.search("trust", 3, article="nope")
    folders = ["--corpus", str(seed_index[0]), "--index", str(seed_index[1])]
    result = CliRunner().invoke(main, ["ask", "trust", "--article", "nope", *folders])
    assert result.exit_code != 0 and "no article 'nope'" in result.output
