"""The keyword index's files, one set per segment, and BM25 scored across them with corpus-wide statistics.

Each segment of the index (segments.py: the base, prefix "", then seg1., seg2., ...) has its own keyword
files in keyword/, written once and hard-linked into later indexes like the other segment files:

    <prefix>keys.npy             uint8 (rows, 32): sha256 of each row's text (the token cache's keys)
    <prefix>tokens.offsets.npy   int64 (rows + 1,): row i's tokens are ids[offsets[i]:offsets[i + 1]]
    <prefix>tokens.ids.npy       uint16 (int32 once the vocabulary passes 65,536 terms): each row's token
                                 ids, in text order (the token cache)
    <prefix>terms.npy            int32, ascending: the term ids the segment's rows hold
    <prefix>postings.indptr.npy  int64 (terms + 1,): term terms[j]'s postings are [indptr[j], indptr[j + 1])
    <prefix>postings.rows.npy    int32: the segment's rows holding the term, ascending
    <prefix>postings.pair.npy    uint16 (int32 past 65,536 pairs): for each of those rows, the index in
                                 pairs.npy of (how often the row holds the term, the row's length in tokens)
    <prefix>pairs.npy            int32 (pairs, 2): the distinct (tf, dl) of the segment's postings; a
                                 query scores each pair once and looks the postings' values up
    <prefix>vocab.json           the terms this segment added to the vocabulary (ids continue the previous
                                 segments'), in id order

Rows are physical rows (the segment's rows, dead ones included). BM25's corpus-wide statistics change with
every passage, so nothing here is a score: df.npy (int32, each term id's document frequency among live
passages) and keyword.json (live passages, their total length) are written again by every build, and a
query computes bm25s' Lucene score, idf(df) tf / (tf + k1 (1 - b + b dl / avgdl)), from them, for live rows
only, in the same precisions and order as bm25s (so scores equal a whole bm25s index over the live
passages). It does not tokenise (keyword.py) or decide what is live (the index's rows.npy, segments.py).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import storage
from .segments import ranges

KEYS = "keys.npy"
TOKEN_OFFSETS = "tokens.offsets.npy"
TOKEN_IDS = "tokens.ids.npy"
TERMS = "terms.npy"
INDPTR = "postings.indptr.npy"
POSTING_ROWS = "postings.rows.npy"
PAIR = "postings.pair.npy"
PAIRS = "pairs.npy"
VOCAB = "vocab.json"
SEGMENT_FILES = (KEYS, TOKEN_OFFSETS, TOKEN_IDS, TERMS, INDPTR, POSTING_ROWS, PAIR, PAIRS, VOCAB)
DF = "df.npy"


@dataclass(frozen=True)
class TermSegment:
    """One segment's rows as BM25 sees them (arrays may be memory-mapped from its files)."""

    prefix: str
    keys: np.ndarray  # uint8 (rows, 32)
    offsets: np.ndarray  # int64 (rows + 1,)
    ids: np.ndarray  # int32
    terms: np.ndarray  # int32, ascending
    indptr: np.ndarray  # int64 (terms + 1,)
    rows: np.ndarray  # int32
    pair: np.ndarray  # int32: each posting's row in pairs
    pairs: np.ndarray  # int32 (pairs, 2): (tf, dl)
    vocab: tuple[str, ...]  # the terms it added
    files: Mapping[str, Mapping[str, Any]] | None = None  # name -> storage.record() once written

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def of_tokens(
        cls, prefix: str, keys: np.ndarray, offsets: np.ndarray, ids: np.ndarray, vocab: Sequence[str]
    ) -> TermSegment:
        """The segment of rows with these token ids: its postings counted with array operations."""
        n_rows = len(offsets) - 1
        rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(offsets))
        pairs, tf = np.unique((ids.astype(np.int64) << 32) | rows, return_counts=True)  # by term, then row
        by_term = pairs >> 32
        terms, counts = np.unique(by_term, return_counts=True)
        local = pairs & 0xFFFFFFFF
        lengths = np.diff(offsets)[local]
        distinct, pair = np.unique((tf.astype(np.int64) << 32) | lengths, return_inverse=True)
        return cls(
            prefix,
            np.ascontiguousarray(keys, dtype=np.uint8).reshape(-1, 32),
            offsets.astype(np.int64),
            ids.astype(np.int32),
            terms.astype(np.int32),
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            local.astype(np.int32),
            pair.astype(np.int32).reshape(-1),
            np.stack([distinct >> 32, distinct & 0xFFFFFFFF], axis=1).astype(np.int32).reshape(-1, 2),
            tuple(vocab),
        )

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows, pair) of the rows holding the term."""
        at = int(np.searchsorted(self.terms, term))
        if at == len(self.terms) or int(self.terms[at]) != term:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        start, end = int(self.indptr[at]), int(self.indptr[at + 1])
        return np.asarray(self.rows[start:end]), np.asarray(self.pair[start:end])

    def row_terms(self, rows: np.ndarray) -> np.ndarray:
        """The distinct term ids of each of these rows, concatenated (what they add to df)."""
        starts, ends = self.offsets[rows], self.offsets[rows + 1]
        ids = np.asarray(self.ids)[ranges(starts, ends)].astype(np.int64)
        owner = np.repeat(np.arange(len(rows), dtype=np.int64), ends - starts)
        return (np.unique((owner << 32) | ids) & 0xFFFFFFFF).astype(np.int64)

    def write(self, folder: Path) -> dict[str, dict[str, Any]]:
        """Write the segment's files into folder (each must not exist yet); their records."""
        arrays = {
            KEYS: self.keys,
            TOKEN_OFFSETS: self.offsets,
            TOKEN_IDS: self.ids,
            TERMS: self.terms,
            INDPTR: self.indptr,
            POSTING_ROWS: self.rows,
            PAIR: self.pair,
            PAIRS: self.pairs,
        }
        records = {}
        for name, array in arrays.items():
            path = folder / (self.prefix + name)
            if name in (TOKEN_IDS, PAIR):
                array = _narrow(array)
            storage.write_synced(path, storage.npy_writer(np.ascontiguousarray(array)))
            records[path.name] = storage.record(path)
        path = folder / (self.prefix + VOCAB)
        storage.write_synced(path, json.dumps(list(self.vocab), ensure_ascii=False).encode())
        records[path.name] = storage.record(path)
        return records

    @classmethod
    def read(
        cls, folder: Path, prefix: str, rows: int, files: Mapping[str, Mapping[str, Any]]
    ) -> TermSegment:
        """The segment written by write(), its arrays memory-mapped; ValueError when they disagree."""
        arrays = {name: np.load(folder / (prefix + name), mmap_mode="r") for name in SEGMENT_FILES[:-1]}
        vocab = json.loads((folder / (prefix + VOCAB)).read_text(encoding="utf-8"))
        keys, offsets, ids = arrays[KEYS], arrays[TOKEN_OFFSETS], arrays[TOKEN_IDS]
        terms, indptr, posting_rows = arrays[TERMS], arrays[INDPTR], arrays[POSTING_ROWS]
        pair, pairs = arrays[PAIR], arrays[PAIRS]
        if not (
            keys.shape == (rows, 32)
            and offsets.shape == (rows + 1,)
            and int(offsets[-1]) == len(ids)
            and indptr.shape == (len(terms) + 1,)
            and int(indptr[-1]) == len(posting_rows) == len(pair)
            and pairs.ndim == 2
            and pairs.shape[1] == 2
            and (not len(pair) or int(np.max(pair)) < len(pairs))
            and isinstance(vocab, list)
            and all(isinstance(t, str) for t in vocab)
        ):
            raise ValueError(f"the {prefix or 'base'} segment's keyword files disagree")
        names = [prefix + name for name in SEGMENT_FILES]
        return cls(
            prefix,
            keys,
            offsets,
            ids,
            terms,
            indptr,
            posting_rows,
            pair,
            pairs,
            tuple(vocab),
            {n: files[n] for n in names},
        )


def _narrow(array: np.ndarray) -> np.ndarray:
    """An index array as uint16 when its values fit (half the bytes of int32; only ever used to index,
    so readers take either type, and a rag that wrote int32 reads these too)."""
    array = np.asarray(array)
    if not array.size or (int(array.min()) >= 0 and int(array.max()) < 1 << 16):
        return array.astype(np.uint16)
    return array


@dataclass(frozen=True)
class Statistics:
    """BM25's corpus-wide figures over the live passages."""

    df: np.ndarray  # int32 (vocabulary,): live passages holding each term id
    passages: int
    length: int  # total tokens of the live passages

    @property
    def avgdl(self) -> float:
        # What bm25s computes as lengths.mean(): an integer sum is exact in float64, so the same value.
        return self.length / self.passages if self.passages else 0.0


class Scorer:
    """Lucene BM25 over segments: postings scored with the corpus-wide statistics, live rows only."""

    def __init__(
        self,
        segments: Sequence[TermSegment],
        stats: Statistics,
        rows: np.ndarray | None,
        k1: float,
        b: float,
    ) -> None:
        # rows[passage] is its physical row; None: one segment whose rows are the passages.
        self.segments, self.stats, self.rows, self.k1, self.b = segments, stats, rows, k1, b
        self.starts = np.cumsum([0, *map(len, segments)], dtype=np.int64)
        avgdl = stats.avgdl or 1.0
        # tf / (tf + k1 (1 - b + b dl / avgdl)) of each segment's (tf, dl) pairs, with bm25s' operations
        # in its precision (float64), so that a posting's value is the one bm25s' index would hold.
        self.parts = []
        for segment in segments:
            tf, dl = np.asarray(segment.pairs[:, 0]).astype(np.float64), np.asarray(segment.pairs[:, 1])
            self.parts.append(tf / (k1 * ((1 - b) + b * dl / avgdl) + tf))

    def scores(self, term_ids: Sequence[int]) -> np.ndarray:
        """float32 score of every live passage, each term's contribution added in query order as bm25s'
        get_scores_from_ids adds them."""
        # Scored by physical row and picked out by passage at the end: one gather instead of a
        # mapping per term (dead rows are scored too, and dropped).
        out = np.zeros(int(self.starts[-1]) if self.rows is not None else self.stats.passages, np.float32)
        if term_ids:
            df = self.stats.df[np.asarray(term_ids, dtype=np.int64)].astype(np.int64)
            n = self.stats.passages
            idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)  # as bm25s, over an array
            for term, weight, held in zip(
                term_ids, idf.astype(np.float64).tolist(), df.tolist(), strict=True
            ):
                if held:  # else only dead rows hold it: a whole index over the live passages has no such term
                    self._add(out, term, weight)
        return out if self.rows is None else out[self.rows]

    def _add(self, out: np.ndarray, term: int, weight: float) -> None:
        """out[row] += the term's score in each row holding it: (idf (tf / (norm + tf))) as float32."""
        for segment, start, parts in zip(self.segments, self.starts[:-1].tolist(), self.parts, strict=True):
            rows, pair = segment.postings(term)
            if not len(rows):
                continue
            # Each pair's value for this term, looked up per posting: the table is small (a segment's
            # distinct (tf, dl), thousands), the postings many (up to every row). np.add.at is the
            # fastest scatter here (bm25s uses it too).
            values = (parts * weight).astype(np.float32)[pair]
            np.add.at(out, rows + start if start else rows, values)


def tokens_of_ids(vocab: dict[str, int], tokens: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, ids) of rows of tokens, every token in `vocab` (added there when new)."""
    row_ids = [[vocab.setdefault(t, len(vocab)) for t in row] for row in tokens]
    offsets = np.cumsum([0, *map(len, row_ids)], dtype=np.int64)
    ids = np.fromiter(itertools.chain.from_iterable(row_ids), np.int32, int(offsets[-1]))
    return offsets, ids
