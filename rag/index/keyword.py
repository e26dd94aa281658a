"""Keyword (BM25) search over passage texts: the lexical half of hybrid retrieval.

Row i is passage i, in vector order. Passages and queries go through the same tokenize(): lowercase,
words of 2+ word characters, bm25s' "en_plus" English stopwords removed (NLTK's 179 words; on the eval
questions they beat Lucene's 33, which keep "how", "why", "my"), Snowball English stems (PyStemmer).
Scores are bm25s' Lucene BM25, which like Lucene 8+ leaves out the constant factor (k1 + 1).
The index is kept in segments, as the passages are (keyword_segments.py: each segment's token ids and
term postings, and the corpus-wide document frequencies and length): a full build tokenises only texts
whose sha256 is not in the token cache and writes one segment; a build that appends a segment tokenises
its passages only, links the previous segments' files and writes the statistics again.
The folder's files are keyword_store.py's. It does not fuse keyword and dense results (retrieve.py), decide what to rebuild (build.py), or swap
index folders atomically (index_folder.py).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import keyword_store
from .keyword_segments import Scorer, Statistics, TermSegment, tokens_of_ids
from .keyword_store import TOKENIZER, Format1
from .segments import merged_rows, ranges

log = logging.getLogger(__name__)

# What the index manifest records about the keyword index.
KEYWORD_MANIFEST = {
    "method": "bm25-lucene",
    "k1": 1.5,
    "b": 0.75,
    "tokenizer": TOKENIZER,
    "text": "embed_text",
}
_local = threading.local()


def _bm25s() -> Any:
    """bm25s, imported on first use; it sets its logger to DEBUG on import, which would print build noise."""
    import bm25s

    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


def _stemmer() -> Any:
    # A PyStemmer object keeps internal state and must not be used by two threads at once.
    stemmer = getattr(_local, "stemmer", None)
    if stemmer is None:
        import Stemmer

        stemmer = _local.stemmer = Stemmer.Stemmer(TOKENIZER["stemmer"])
    return stemmer


def tokenize(texts: list[str]) -> list[list[str]]:
    """Lowercased, stopword-free, stemmed tokens of each text; the same for passages and queries."""
    if not texts:
        return []
    bm25s = _bm25s()

    tokens: list[list[str]] = bm25s.tokenize(
        texts,
        lower=bool(TOKENIZER["lower"]),
        token_pattern=str(TOKENIZER["token_pattern"]),
        stopwords=TOKENIZER["stopwords"],
        stemmer=_stemmer(),
        return_ids=False,
        show_progress=False,
    )
    return tokens


def text_key(text: str) -> str:
    """The token-cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class KeywordIndex:
    """BM25 over passages, kept in segments; search only reads shared state, so threads may share one."""

    def __init__(
        self,
        segments: Sequence[TermSegment],
        vocab: dict[str, int],
        stats: Statistics,
        rows: np.ndarray | None,
        k1: float,
        b: float,
        *,
        outdated: str = "",
        format1: Format1 | None = None,
    ):
        # rows[passage] is its physical row (the base's rows, then each segment's); None: the one
        # segment's rows are the passages. Physical rows no passage has are dead and never scored.
        self._segments, self._vocab, self.stats, self._rows = tuple(segments), vocab, stats, rows
        self._scorer = Scorer(self._segments, stats, rows, k1, b)
        self._format1 = format1  # a format-1 folder: searched through bm25s, tokens read from it
        self.k1, self.b = k1, b
        self.outdated = outdated  # why a build must write it afresh (an older format), or ""
        self.tokenized = 0  # texts the build that made this index tokenised (the rest came from the cache)

    @classmethod
    def build(
        cls,
        texts: list[str],
        *,
        keys: list[str] | None = None,
        previous: KeywordIndex | None = None,
        k1: float = 1.5,
        b: float = 0.75,
    ) -> KeywordIndex:
        """Index texts (row i = texts[i]) as one segment; with `previous`, only texts it does not hold are
        tokenised: its token ids are copied as arrays and its vocabulary is extended.

        `keys` are the texts' text_key values when the caller has them already.
        """
        keys = keys if keys is not None else [text_key(t) for t in texts]
        if previous is not None:
            vocab, offsets, ids, tokenized = _reuse_tokens(previous, keys, texts)
        else:
            todo = dict(zip(keys, texts, strict=True))  # a text found twice is tokenised once
            fresh = dict(zip(todo, tokenize(list(todo.values())), strict=True))
            vocab, offsets, ids = _first_seen_ids([fresh[k] for k in keys])
            tokenized = len(todo)
        index = cls._one_segment(_sha(keys), vocab, offsets, ids, k1, b)
        index.tokenized = tokenized
        log.info(
            "keyword index: %d passages, %d tokenised, %d cached", len(keys), tokenized, len(keys) - tokenized
        )
        return index

    @classmethod
    def from_tokens(
        cls, tokens: Sequence[Sequence[str]], *, k1: float = 1.5, b: float = 0.75
    ) -> KeywordIndex:
        """Index passages already tokenised (row i = tokens[i], by tokenize()) as one segment, for
        search only: a store that keeps each passage's tokens (pgindex.py) tokenises nothing. It holds
        no text keys, so no build takes tokens from it."""
        vocab, offsets, ids = _first_seen_ids([list(row) for row in tokens])
        return cls._one_segment(np.zeros((len(tokens), 32), np.uint8), vocab, offsets, ids, k1, b)

    @classmethod
    def _one_segment(
        cls, sha: np.ndarray, vocab: dict[str, int], offsets: np.ndarray, ids: np.ndarray, k1: float, b: float
    ) -> KeywordIndex:
        segment = TermSegment.of_tokens("", sha, offsets, ids, list(vocab))
        df = np.zeros(len(vocab), dtype=np.int32)
        df[segment.terms] = np.diff(segment.indptr)
        return cls([segment], vocab, Statistics(df, len(sha), int(offsets[-1])), None, k1, b)

    def appended(
        self, prefix: str, rows: np.ndarray, texts: list[str], *, merge_from: int | None = None
    ) -> KeywordIndex:
        """This index plus a segment of `texts` (physical rows after the stored ones, in order), whose
        passages are at the physical rows `rows`: only the texts are tokenised, and the statistics
        change by what the segment adds and what the rows no longer holding a passage took away.

        `merge_from` (the physical row a segment starts at): that segment and every later one are merged
        with the new one into a single segment (segments.merged_rows: live rows only, their token ids
        copied, nothing tokenised again), so the index's `rows` are renumbered as merged_rows does."""
        if self.outdated:
            raise ValueError(f"cannot append to this keyword index: {self.outdated}")
        starts = self._scorer.starts
        stored = int(starts[-1])
        # Masks over the physical rows, not set operations: linear in the rows, a few ms at a million.
        was = np.zeros(stored, dtype=bool)
        was[self._rows if self._rows is not None else slice(None)] = True
        now = np.zeros(stored + len(texts), dtype=bool)
        if len(rows) and (rows.min() < 0 or rows.max() >= len(now)):
            raise ValueError("the appended rows do not follow the stored ones")
        now[rows] = True
        if int(now.sum()) != len(rows) or not now[stored:].all() or (now[:stored] & ~was).any():
            raise ValueError("the appended rows do not follow the stored ones")
        dead = np.flatnonzero(was & ~now[:stored])
        vocab = dict(self._vocab)
        known = len(vocab)
        offsets, ids = tokens_of_ids(vocab, tokenize(texts))
        added = list(itertools.islice(vocab, known, None))
        sha = _sha([text_key(t) for t in texts])
        segment = TermSegment.of_tokens(prefix, sha, offsets, ids, added)
        df = np.zeros(len(vocab), dtype=np.int64)
        df[:known] = self.stats.df
        df[segment.terms] += np.diff(segment.indptr)
        length = self.stats.length + int(offsets[-1])
        owner = np.searchsorted(starts, dead, side="right") - 1
        for s in np.unique(owner).tolist():
            local = dead[owner == s] - starts[s]
            df -= np.bincount(self._segments[s].row_terms(local), minlength=len(vocab))
            length -= int(np.diff(np.asarray(self._segments[s].offsets))[local].sum())
        stats = Statistics(df.astype(np.int32), len(rows), length)
        kept = list(self._segments)
        if merge_from is not None:
            first = int(np.searchsorted(starts, merge_from))
            if first >= len(kept) or int(starts[first]) != merge_from:
                raise ValueError(f"no segment starts at row {merge_from}")
            rows, moved = merged_rows(rows, merge_from)
            old_keys, old_offsets, old_ids = self._physical_tokens(moved[moved < stored])
            segment = TermSegment.of_tokens(
                prefix,
                np.concatenate([old_keys, sha]),
                np.concatenate([old_offsets, old_offsets[-1] + offsets[1:]]),
                np.concatenate([old_ids, ids]),
                [*itertools.chain.from_iterable(s.vocab for s in kept[first:]), *added],
            )
            kept = kept[:first]
        index = KeywordIndex([*kept, segment], vocab, stats, rows, self.k1, self.b)
        index.tokenized = len(texts)
        return index

    @property
    def has_terms(self) -> bool:
        """False when no passage has a single token."""
        return self.stats.length > 0

    def __len__(self) -> int:
        return self.stats.passages

    def _passage_tokens(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sha256 rows, offsets, ids) of every passage's tokens, in passage order."""
        if self._format1 is not None:
            return self._format1.tokens()
        if self._rows is None:
            only = self._segments[0]
            return np.asarray(only.keys), np.asarray(only.offsets), np.asarray(only.ids)
        return self._physical_tokens(self._rows)

    def _physical_tokens(self, physical: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sha256 rows, offsets, ids) of these physical rows' tokens, in their order."""
        starts = self._scorer.starts
        owner = np.searchsorted(starts, physical, side="right") - 1
        local = physical - starts[owner]
        keys = np.empty((len(physical), 32), dtype=np.uint8)
        lengths = np.zeros(len(physical), dtype=np.int64)
        for s, segment in enumerate(self._segments):
            picked = np.flatnonzero(owner == s)
            keys[picked] = np.asarray(segment.keys)[local[picked]]
            lengths[picked] = np.diff(np.asarray(segment.offsets))[local[picked]]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.empty(int(offsets[-1]), dtype=np.int32)
        for s, segment in enumerate(self._segments):
            picked = np.flatnonzero(owner == s)
            source = ranges(segment.offsets[local[picked]], segment.offsets[local[picked] + 1])
            ids[ranges(offsets[picked], offsets[picked + 1])] = np.asarray(segment.ids)[source]
        return keys, offsets, ids

    def text_keys(self) -> list[str]:
        """sha256 (hex) of each row's text, in row order."""
        return [row.tobytes().hex() for row in self._passage_tokens()[0]]

    def tokens_by_key(self) -> dict[str, list[str]]:
        """sha256 of each passage text -> its tokens: what the index holds, as strings."""
        keys, offsets, ids = self._passage_tokens()
        vocab = np.empty(len(self._vocab), dtype=object)
        for token, i in self._vocab.items():
            vocab[i] = token
        flat, ends = vocab[ids].tolist(), offsets.tolist()
        return {k.tobytes().hex(): flat[s:e] for k, s, e in zip(keys, ends[:-1], ends[1:], strict=True)}

    def search(self, query: str, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of at most k passages with a BM25 score above 0, best first; `rows`: only
        among these passages (one article's)."""
        empty = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if k <= 0 or not self.has_terms:
            return empty
        ids = [self._vocab[t] for t in tokenize([query])[0] if t and t in self._vocab]
        if not ids:
            return empty
        scores = (self._format1 or self._scorer).scores(ids)
        rows = np.flatnonzero(scores > 0) if rows is None else rows[scores[rows] > 0]
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        rows = rows[np.lexsort((rows, -scores[rows]))]  # ties: lower row first, so results are stable
        return rows.astype(np.int64), scores[rows].astype(np.float32)

    def holds(self, word: str) -> bool:
        """Whether any passage holds the word (after the same stemming); stopwords count as held."""
        return all(self._df(t) > 0 for t in tokenize([word])[0])

    def _df(self, token: str) -> int:
        at = self._vocab.get(token)
        return 0 if at is None else int(self.stats.df[at])

    def coverage(self, query: str, texts: list[str]) -> float:
        """Largest idf-weighted share of the query's terms that one of the texts contains (0 to 1)."""
        terms = set(tokenize([query])[0])
        if not terms or not texts:
            return 0.0
        n = len(self)
        weight = {t: float(np.log(1 + (n - (d := self._df(t)) + 0.5) / (d + 0.5))) for t in terms}
        total = sum(weight.values())
        best = max(sum(weight[t] for t in terms & set(tokens)) for tokens in tokenize(texts))
        return best / total if total > 0 else 0.0

    def save(self, keyword_dir: Path, *, link_from: Path | None = None) -> list[Path]:
        """Write the index into keyword_dir (a new folder): segments loaded from disk are hard-linked
        from `link_from` (the folder they were loaded from), new ones written; returns the files, meta last."""
        if self._format1 is not None:
            raise ValueError("a format-1 keyword index is written by KeywordIndex.build(previous=it)")
        return keyword_store.save(keyword_dir, self._segments, self.stats, self.k1, self.b, link_from)

    @classmethod
    def load(
        cls,
        keyword_dir: Path,
        *,
        rows: np.ndarray | None = None,
        segments: Sequence[tuple[str, int]] | None = None,
        verify: bool = False,
        shown_dir: Path | None = None,
    ) -> KeywordIndex:
        """Load and check an index written by save() (keyword_store.load); KeywordIndexError naming the
        file otherwise. `rows`: each passage's physical row (the index's rows.npy; None: the rows are the
        passages); `segments`: (prefix, rows) of each of the index's segments."""
        stored = keyword_store.load(
            keyword_dir, rows=rows, segments=segments, verify=verify, shown_dir=shown_dir
        )
        return cls(
            stored.segments,
            stored.vocab,
            stored.stats,
            None if stored.outdated else rows,
            stored.k1,
            stored.b,
            outdated=stored.outdated,
            format1=stored.format1,
        )


def _first_seen_ids(tokens: list[list[str]]) -> tuple[dict[str, int], np.ndarray, np.ndarray]:
    """(vocabulary numbered in first-seen order, offsets, token ids) of rows of tokens."""
    unique = dict.fromkeys(itertools.chain.from_iterable(tokens))  # first-seen order, at C speed
    vocab = {token: i for i, token in enumerate(unique)}
    offsets, ids = tokens_of_ids(vocab, tokens)
    return vocab, offsets, ids


def _sha(keys: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(bytes.fromhex(k) for k in keys), np.uint8).reshape(-1, 32)


def _reuse_tokens(
    previous: KeywordIndex, keys: list[str], texts: Sequence[str] | Mapping[int, str]
) -> tuple[dict[str, int], np.ndarray, np.ndarray, int]:
    """(vocab, offsets, ids, texts tokenised): rows whose text the previous index holds copy its token
    ids; the others are tokenised and their new tokens appended to its vocabulary."""
    prev_sha, prev_offsets, prev_ids = previous._passage_tokens()
    vocab = dict(previous._vocab)
    row_of = {row.tobytes().hex(): i for i, row in enumerate(prev_sha)}
    source = np.fromiter((row_of.get(k, -1) for k in keys), np.int64, len(keys))
    todo = np.flatnonzero(source < 0)
    fresh = [
        np.array([vocab.setdefault(t, len(vocab)) for t in row], dtype=np.int32)
        for row in tokenize([texts[i] for i in todo.tolist()])
    ]
    lengths = np.zeros(len(keys), dtype=np.int64)
    reused = np.flatnonzero(source >= 0)
    lengths[reused] = np.diff(prev_offsets)[source[reused]]
    lengths[todo] = [len(row) for row in fresh]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = np.empty(int(offsets[-1]), dtype=np.int32)
    ids[ranges(offsets[reused], offsets[reused + 1])] = prev_ids[
        ranges(prev_offsets[source[reused]], prev_offsets[source[reused] + 1])
    ]
    for row, row_ids in zip(todo.tolist(), fresh, strict=True):
        ids[offsets[row] : offsets[row + 1]] = row_ids
    return vocab, offsets, ids, len(todo)
