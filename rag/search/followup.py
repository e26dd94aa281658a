"""Follow-up questions: decide whether a question depends on the one before it, and if so expand it.

"and what about texting?", "why?" or "what else?" mean nothing alone; after "how do I avoid being
clingy?" they mean "how do I avoid being clingy? and what about texting?". The rule (measured on the
follow-up pairs of eval/queries.jsonl, see docs/evaluation.md):
- a question is a follow-up when there is an earlier question and it starts with a connective ("and",
  "but", "so", "also", "what about", "how about", "what else", "why", "what if"), or it has at most
  FOLLOW_UP_WORDS words and leans on the earlier one (a pronoun such as "it", "that", "them", or "instead",
  "else"), or it has no content word of its own ("why?", "how?");
- but not when it names something the articles never mention (a word of its own that no passage
  holds, e.g. "what about long-distance relationships?"): that is a new topic, judged on its own, so
  the old topic cannot make it look answerable.
A follow-up that asks for more ("what else?", "what should I do instead?") or a bare "why?" is answered
without the sentences the previous answer quoted (ask.py): the reader has read those. A follow-up is expanded by putting the most recent earlier question that was not itself a follow-up
(or the last one) before it. Retrieval and answering then see the expanded question. It does not
retrieve or answer (ask.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

FOLLOW_UP_WORDS = 8
_CONNECTIVE = re.compile(
    r"^\W*(and|but|so|also|plus|then|what about|how about|what else|anything else|why|how come|what if|"
    r"is that|isn'?t that|does that|would that|will that|ok(ay)?|and if)\b",
    re.I,
)
_LEANS_BACK = re.compile(
    r"\b(it|that|this|those|these|them|they|there|instead|else|one of them|the same|more)\b", re.I
)
_GENERIC = set(
    [
        "why",
        "how",
        "what",
        "when",
        "where",
        "who",
        "which",
        "whom",
        "else",
        "instead",
        "more",
        "about",
        "anything",
        "something",
        "really",
        "please",
        "ok",
        "okay",
        "then",
        "also",
        "so",
        "and",
        "but",
        "if",
        "tell",
        "me",
        "explain",
        "mean",
        "exactly",
        "example",
        "examples",
        "work",
        "works",
        "working",
        "help",
        "helps",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "is",
        "are",
        "was",
        "be",
        "it",
        "that",
        "this",
        "those",
        "these",
        "them",
        "they",
    ]
)
_WORD = re.compile(r"[a-z][a-z'’-]*", re.I)


_MORE = re.compile(r"\b(else|more|other|another|instead|besides)\b", re.I)


def wants_more(question: str) -> bool:
    """Whether a follow-up asks for something beyond the previous answer ("what else?", "instead?")."""
    return bool(_MORE.search(question))


def content_words(question: str) -> list[str]:
    """The words of a question that carry its topic (not generic question words or pronouns)."""
    return [w.lower() for w in _WORD.findall(question) if w.lower() not in _GENERIC and len(w) > 2]


def is_follow_up(question: str, history: Sequence[str]) -> bool:
    """Whether `question` depends on the earlier questions (the lexical part of the rule)."""
    if not history:
        return False
    words = question.split()
    if _CONNECTIVE.search(question):
        return True
    if len(words) <= FOLLOW_UP_WORDS and _LEANS_BACK.search(question):
        return True
    return not content_words(question)


def expand(
    question: str, history: Sequence[str], *, known: Callable[[str], bool] | None = None
) -> str | None:
    """The question with its context put before it, or None when it stands on its own.

    `known(word)` says whether the articles hold a word; a follow-up naming a word they do not hold
    is a new topic and is not expanded.
    """
    if not is_follow_up(question, history):
        return None
    if known is not None and any(not known(w) for w in content_words(question)):
        return None
    standalone = [q for i, q in enumerate(history) if not is_follow_up(q, history[:i])]
    anchor = standalone[-1] if standalone else history[-1]
    return f"{anchor.strip()} {question.strip()}"
