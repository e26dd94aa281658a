"""Follow-up questions: when a question is read with the earlier one, and when it stands alone."""

from __future__ import annotations

import pytest

from rag.search.followup import content_words, expand, is_follow_up

CLINGY = "how do I avoid being clingy?"


@pytest.mark.parametrize(
    "question",
    [
        "and what about texting?",
        "why?",
        "what else?",
        "what should I do instead?",
        "isn't that manipulative?",
    ],
)
def test_follow_ups_are_expanded_with_the_earlier_question(question):
    assert is_follow_up(question, [CLINGY])
    assert expand(question, [CLINGY]) == f"{CLINGY} {question}"


@pytest.mark.parametrize(
    "question",
    [
        "how do I get over a breakup?",
        "should I trust my boyfriend even if I have no proof?",
        "who is Esther Perel?",
    ],
)
def test_a_new_topic_stands_alone(question):
    assert not is_follow_up(question, [CLINGY])
    assert expand(question, [CLINGY]) is None


def test_no_history_no_follow_up():
    assert expand("and what about texting?", []) is None


def test_a_follow_up_naming_what_the_articles_never_mention_is_a_new_topic():
    held = {"texting"}
    assert expand("what about long-distance relationships?", [CLINGY], known=held.__contains__) is None
    assert (
        expand("and what about texting?", [CLINGY], known=held.__contains__)
        == f"{CLINGY} and what about texting?"
    )


def test_the_anchor_is_the_last_question_that_stood_alone():
    history = [CLINGY, "and what about texting?"]
    assert expand("why?", history) == f"{CLINGY} why?"
    assert content_words("and what about texting?") == ["texting"]
    assert content_words("why does that work?") == []


def test_wants_more():
    from rag.search.followup import wants_more

    assert wants_more("what else?") and wants_more("what should I do instead?")
    assert not wants_more("why?") and not wants_more("and what about texting?")
