"""Misspelled question words, corrected before retrieval: "how do i avoid beeing so clingey".

A word is taken as misspelled when neither the embedding model's vocabulary (its whole words) nor the
keyword index (the corpus) knows it. It is replaced by the closest word the model knows, within one
edit (two for words longer than five letters; a swap of two neighbouring letters is one edit), with the
same first letter; words the corpus holds are preferred, then the model's more frequent words (its
vocabulary lists them first). Words with no close match are left as they are, so a real word the model
does not know ("instagram") is not mangled; nor are acronyms and mixed-case words ("IBP", "aPKCz") or a
capitalised word after the question's first (a name): no corrector can tell those from misspellings.
It does not decide anything about the answer.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from pathlib import Path

_WORD = re.compile(r"[A-Za-z]+")


def distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap neighbours), capped at limit+1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return limit + 1
        prev2, prev = prev, cur
    return prev[-1]


_CONTRACTIONS = {
    "doesnt",
    "dont",
    "isnt",
    "wasnt",
    "arent",
    "wont",
    "cant",
    "couldnt",
    "shouldnt",
    "wouldnt",
    "didnt",
    "havent",
    "hasnt",
    "im",
    "ive",
    "youre",
    "theyre",
    "hes",
    "shes",
    "thats",
}


def _deletes(word: str) -> set[str]:
    """The word and every string one deletion away from it."""
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


class Speller:
    """Corrects the words of a question that neither the model nor the corpus knows."""

    def __init__(
        self, words: Iterable[str], held: Callable[[str], bool], corpus_words: Iterable[str] = ()
    ) -> None:
        """`words`: the model's whole words, most frequent first; `held(word)`: does the corpus hold it;
        `corpus_words`: words of the corpus, candidates too (the model may split "clingy")."""
        self._rank: dict[str, int] = {}
        for w in words:
            if w.isalpha() and w.islower() and len(w) >= 2 and w not in self._rank:
                self._rank[w] = len(self._rank)
        self._corpus = {w for w in corpus_words if w.isalpha() and len(w) >= 3}
        self._held = held
        self._index: dict[str, list[str]] | None = None  # symmetric deletes, built on first need
        self._fix = functools.lru_cache(maxsize=4096)(self._correct_word)

    @classmethod
    def from_vocab_file(
        cls, path: Path, held: Callable[[str], bool], corpus_words: Iterable[str] = ()
    ) -> Speller:
        """From a WordPiece vocab.txt (one token a line, subword pieces start with ##)."""
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        return cls((t for t in lines if not t.startswith(("##", "["))), held, corpus_words)

    def known(self, word: str) -> bool:
        return word in self._rank or word in self._corpus or self._held(word)

    def _candidates(self, word: str) -> set[str]:
        if self._index is None:
            index: dict[str, list[str]] = {}
            for w in [*self._rank, *self._corpus]:
                if len(w) >= 3:
                    for d in _deletes(w):
                        index.setdefault(d, []).append(w)
            self._index = index
        return {c for d in _deletes(word) for c in self._index.get(d, [])}

    def _correct_word(self, word: str) -> str:
        if len(word) < 3 or word in _CONTRACTIONS or self.known(word):
            return word
        limit = 1 if len(word) <= 5 else 2
        best: tuple[int, int, int, str] | None = None
        for candidate in self._candidates(word):
            if candidate[0] != word[0]:
                continue
            d = distance(word, candidate, limit)
            if d > limit:
                continue
            in_corpus = candidate in self._corpus or self._held(candidate)
            key = (d, 0 if in_corpus else 1, self._rank.get(candidate, len(self._rank)), candidate)
            if best is None or key < best:
                best = key
        return best[3] if best else word

    def correct(self, question: str) -> str:
        """The question with its misspelled words replaced (case kept for the first letter)."""

        def fix(m: re.Match[str]) -> str:
            word = m.group(0)
            if not word[1:].islower() or (word[0].isupper() and m.start() > 0):
                return word  # an acronym or mixed case (IBP, aPKCz, ComYMV) or a name inside the question
            fixed = self._fix(word.lower())
            if fixed == word.lower():
                return word
            return fixed.capitalize() if word[0].isupper() else fixed

        return _WORD.sub(fix, question)
