"""Misspelled question words: corrected towards words the model and the corpus know, others left alone."""

from __future__ import annotations

import pytest

from rag.search.spelling import Speller, distance

MODEL_WORDS = [
    "the",
    "being",
    "should",
    "mystery",
    "attractive",
    "trust",
    "important",
    "what",
    "cringed",
    "instant",
]
CORPUS = {"clingy", "mystery", "trust", "important"}


@pytest.fixture
def speller() -> Speller:
    return Speller(MODEL_WORDS, CORPUS.__contains__, corpus_words=["clingy", "mystery"])


def test_distance_counts_a_swap_as_one_edit():
    assert distance("waht", "what", 2) == 1
    assert distance("clingey", "clingy", 2) == 1
    assert distance("mistery", "mystery", 2) == 1
    assert distance("abc", "xyzabc", 2) == 3  # capped at limit + 1


@pytest.mark.parametrize(
    ("question", "corrected"),
    [
        ("how do i avoid beeing so clingey", "how do i avoid being so clingy"),
        ("Mistery makes him atractive?", "Mystery makes him attractive?"),
        ("waht is importnt", "what is important"),
        ("shoud I trust him", "should I trust him"),
    ],
)
def test_misspellings_are_corrected(speller: Speller, question: str, corrected: str):
    assert speller.correct(question) == corrected


def test_known_unknown_and_contracted_words_stay(speller: Speller):
    assert (
        speller.correct("instagram doesnt trust") == "instagram doesnt trust"
    )  # no close word; a contraction
    assert speller.correct("clingy") == "clingy"  # the corpus holds it, though the model does not


def test_acronyms_mixed_case_and_names_stay(speller: Speller):
    # "TRUTS", "tRust" and "Mistery" would each be one edit from a known word; a name inside the
    # question and an acronym are not misspellings a corrector can tell apart
    assert speller.correct("is TRUTS about tRust") == "is TRUTS about tRust"
    assert speller.correct("what did Mistery say") == "what did Mistery say"
    assert speller.correct("Mistery and trust") == "Mystery and trust"  # the first word may be a misspelling
