"""Keyword (BM25) search over passage texts: the lexical half of hybrid retrieval.

Row i is passage i, in vector order. Passages and queries go through the same tokenize(): lowercase,
words of 2+ word characters, bm25s' "en_plus" English stopwords removed (NLTK's 179 words; on the eval
questions they beat Lucene's 33, which keep "how", "why", "my"), Snowball English stems (PyStemmer).
Scores are bm25s' Lucene BM25, which like Lucene 8+ leaves out the constant factor (k1 + 1).
A build tokenises only texts whose sha256 is not in the token cache, then recomputes the whole BM25
matrix from the tokens. save() writes bm25s' own files (params.index.json, vocab.index.json,
{data,indices,indptr}.csc.index.npy), tokens.npz (each row's text sha256 and token ids: the cache) and,
last, keyword.json (format, parameters, tokenizer, size + sha256 of the other files).
It does not fuse keyword and dense results (retrieve.py), decide what to rebuild (build.py), or swap
index folders atomically (index_folder.py).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import threading
import weakref
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import IndexLoadError
from . import storage

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
META = "keyword.json"
TOKENS = "tokens.npz"
BM25_FILES = (
    "params.index.json",
    "vocab.index.json",
    "data.csc.index.npy",
    "indices.csc.index.npy",
    "indptr.csc.index.npy",
)
# Recorded in keyword.json: an index tokenised differently must be rebuilt, not queried.
TOKENIZER = {"lower": True, "token_pattern": r"(?u)\b\w\w+\b", "stopwords": "en_plus", "stemmer": "english"}
# What the index manifest records about the keyword index.
KEYWORD_MANIFEST = {
    "method": "bm25-lucene",
    "k1": 1.5,
    "b": 0.75,
    "tokenizer": TOKENIZER,
    "text": "embed_text",
}
_HINT = 'run "rag build" to rebuild the index'
_local = threading.local()


class KeywordIndexError(IndexLoadError):
    """The keyword index folder is missing, damaged, or was built with other tokenisation."""


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
    """BM25 over passages; search only reads shared state, so threads may share one index."""

    def __init__(
        self,
        bm25: Any,
        count: int,
        k1: float,
        b: float,
        *,
        tokens: tuple[list[str], np.ndarray, np.ndarray] | None = None,
        tokens_file: BinaryIO | None = None,
    ):
        self._bm25 = bm25  # None when no passage has a single token (bm25s cannot index that)
        self._count = count
        # (sha256 of each row's text, offsets, ids): row i's tokens are vocab ids ids[offsets[i]:offsets[i+1]].
        # Only builds need them (the token cache), so a loaded index reads tokens.npz on first use, from
        # the file it opened when loading (a rebuild may have swapped another index in since).
        self._tokens, self._tokens_file = tokens, tokens_file
        if tokens_file is not None:
            weakref.finalize(self, tokens_file.close)
        self._tokens_lock = threading.Lock()
        self.k1, self.b = k1, b
        self.tokenized = 0  # texts the build that made this index tokenised (the rest came from the cache)
        self._df: np.ndarray | None = None

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
        """Index texts (row i = texts[i]); with `previous`, only texts it does not hold are tokenised:
        its token ids are copied as arrays and its vocabulary is extended.

        `keys` are the texts' text_key values when the caller has them already.
        """
        keys = keys if keys is not None else [text_key(t) for t in texts]
        if previous is not None and previous._bm25 is not None:
            vocab, offsets, ids, tokenized = _reuse_tokens(previous, keys, texts)
        else:
            todo = dict(zip(keys, texts, strict=True))  # a text found twice is tokenised once
            fresh = dict(zip(todo, tokenize(list(todo.values())), strict=True))
            tokens = [fresh[k] for k in keys]
            unique = dict.fromkeys(itertools.chain.from_iterable(tokens))  # first-seen order, at C speed
            vocab = {token: i for i, token in enumerate(unique)}
            row_ids = [list(map(vocab.__getitem__, row)) for row in tokens]
            offsets = np.cumsum([0, *map(len, row_ids)], dtype=np.int64)
            ids = np.fromiter(itertools.chain.from_iterable(row_ids), np.int32, int(offsets[-1]))
            tokenized = len(todo)
        bm25 = _bm25_from_ids(offsets, ids, vocab, k1, b) if len(ids) else None
        index = cls(bm25, len(keys), k1, b, tokens=(keys, offsets, ids))
        index.tokenized = tokenized
        log.info(
            "keyword index: %d passages, %d tokenised, %d cached", len(keys), tokenized, len(keys) - tokenized
        )
        return index

    @classmethod
    def updated(cls, previous: KeywordIndex, keys: list[str], texts: Mapping[int, str]) -> KeywordIndex:
        """The index of rows with these text keys, where only rows whose text `previous` does not hold
        need their text in `texts` (row -> text): an appending build has no other rows' texts at hand."""
        if previous._bm25 is None:
            raise ValueError("the previous keyword index has no terms to update")
        vocab, offsets, ids, tokenized = _reuse_tokens(previous, keys, texts)
        index = cls(
            _bm25_from_ids(offsets, ids, vocab, previous.k1, previous.b),
            len(keys),
            previous.k1,
            previous.b,
            tokens=(keys, offsets, ids),
        )
        index.tokenized = tokenized
        return index

    @property
    def has_terms(self) -> bool:
        """False when no passage has a single token (bm25s cannot index that)."""
        return self._bm25 is not None

    def __len__(self) -> int:
        return self._count

    def _token_arrays(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        with self._tokens_lock:
            if self._tokens is None:
                assert self._tokens_file is not None
                self._tokens = _read_tokens(self._tokens_file, self._count, self._vocab_size())
            return self._tokens

    def _vocab_size(self) -> int:
        return len(self._bm25.vocab_dict) if self._bm25 is not None else 0

    def text_keys(self) -> list[str]:
        """sha256 (hex) of each row's text, in row order."""
        return self._token_arrays()[0]

    def tokens_by_key(self) -> dict[str, list[str]]:
        """sha256 of each passage text -> its tokens: what the index holds, as strings."""
        keys, offsets, ids = self._token_arrays()
        vocab = np.empty(self._vocab_size(), dtype=object)
        for token, i in (self._bm25.vocab_dict if self._bm25 else {}).items():
            vocab[i] = token
        flat, ends = vocab[ids].tolist(), offsets.tolist()
        return {key: flat[s:e] for key, s, e in zip(keys, ends[:-1], ends[1:], strict=True)}

    def search(self, query: str, k: int, rows: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(rows, scores) of at most k passages with a BM25 score above 0, best first; `rows`: only
        among these passages (one article's)."""
        empty = np.zeros(0, np.int64), np.zeros(0, np.float32)
        if k <= 0 or self._bm25 is None:
            return empty
        # Not bm25s' retrieve(): it refuses k > len(self), pads with zero scores and costs more per call.
        ids = self._bm25.get_tokens_ids([t for t in tokenize([query])[0] if t])
        if not ids:
            return empty
        scores = self._bm25.get_scores_from_ids(ids)
        rows = np.flatnonzero(scores > 0) if rows is None else rows[scores[rows] > 0]
        if len(rows) > k:
            rows = rows[np.argpartition(-scores[rows], k - 1)[:k]]
        rows = rows[np.lexsort((rows, -scores[rows]))]  # ties: lower row first, so results are stable
        return rows.astype(np.int64), scores[rows].astype(np.float32)

    def holds(self, word: str) -> bool:
        """Whether any passage holds the word (after the same stemming); stopwords count as held."""
        tokens = tokenize([word])[0]
        vocab = self._bm25.vocab_dict if self._bm25 is not None else {}
        return all(t in vocab for t in tokens)

    def coverage(self, query: str, texts: list[str]) -> float:
        """Largest idf-weighted share of the query's terms that one of the texts contains (0 to 1)."""
        terms = set(tokenize([query])[0])
        if not terms or not texts:
            return 0.0
        vocab = self._bm25.vocab_dict if self._bm25 is not None else {}
        df = self._document_frequencies()
        n = len(self)
        weight = {
            t: float(np.log(1 + (n - (d := df[vocab[t]] if t in vocab else 0) + 0.5) / (d + 0.5)))
            for t in terms
        }
        total = sum(weight.values())
        best = max(sum(weight[t] for t in terms & set(tokens)) for tokens in tokenize(texts))
        return best / total if total > 0 else 0.0

    def _document_frequencies(self) -> np.ndarray:
        """Number of passages holding each vocabulary id: the lengths of BM25's per-term columns."""
        if self._df is None:
            df = np.zeros(self._vocab_size(), dtype=np.int64)
            if self._bm25 is not None:
                lengths = np.diff(np.asarray(self._bm25.scores["indptr"]))
                df[: len(lengths)] = lengths
            self._df = df
        return self._df

    def save(self, keyword_dir: Path) -> list[Path]:
        """Write the index into keyword_dir (created if needed); returns the files written, meta last."""
        keyword_dir.mkdir(parents=True, exist_ok=True)
        names = [*BM25_FILES, TOKENS] if self._bm25 is not None else [TOKENS]
        for name in BM25_FILES:  # a folder reused from a bigger index must not keep its files
            (keyword_dir / name).unlink(missing_ok=True)
        if self._bm25 is not None:
            self._bm25.save(keyword_dir, show_progress=False)
        keys, offsets, ids = self._token_arrays()
        sha = np.frombuffer(b"".join(bytes.fromhex(k) for k in keys), np.uint8).reshape(-1, 32)
        with (keyword_dir / TOKENS).open("wb") as fh:
            np.savez(fh, sha256=sha, offsets=offsets, ids=ids)
        files = {name: storage.record(keyword_dir / name) for name in names}
        meta: dict[str, Any] = {"format": FORMAT_VERSION, "passages": len(self), "k1": self.k1, "b": self.b}
        meta |= {"method": "lucene", "tokenizer": TOKENIZER, "files": files}
        (keyword_dir / META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        for path in [*(keyword_dir / name for name in (*names, META)), keyword_dir]:
            fd = os.open(path, os.O_RDONLY)  # on disk before the caller swaps the index folder in
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        return [keyword_dir / name for name in (*names, META)]

    @classmethod
    def load(cls, keyword_dir: Path, *, verify: bool = False, shown_dir: Path | None = None) -> KeywordIndex:
        """Load and check an index written by save(); KeywordIndexError naming the file otherwise.

        Sizes are always checked and small files hashed (storage.check); `verify` hashes every file
        and reads the token cache now instead of on first use. `shown_dir` is the name messages give
        the folder when keyword_dir is a path through a held index folder (index_folder.py).
        """
        shown_dir = shown_dir or keyword_dir
        meta_path = shown_dir / META
        try:
            meta_text = (keyword_dir / META).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise KeywordIndexError(f"{meta_path} is missing - {_HINT}") from None
        except (OSError, ValueError):
            raise KeywordIndexError(f"{meta_path} is damaged - {_HINT}") from None
        try:
            meta = json.loads(meta_text)
            files, count, k1, b = meta["files"], int(meta["passages"]), float(meta["k1"]), float(meta["b"])
            version, tokenizer = meta["format"], meta["tokenizer"]
        except (OSError, ValueError, KeyError, TypeError):
            raise KeywordIndexError(f"{meta_path} is damaged - {_HINT}") from None
        if version != FORMAT_VERSION or tokenizer != TOKENIZER:
            raise KeywordIndexError(
                f"{meta_path} says format {version}, tokenizer {tokenizer}; this rag reads format"
                f" {FORMAT_VERSION}, tokenizer {TOKENIZER} - {_HINT}"
            )
        for name, expected in files.items():
            if problem := storage.check(keyword_dir / name, expected, full=verify, shown=shown_dir / name):
                raise KeywordIndexError(f"{problem} - {_HINT}")
        try:
            bm25 = None
            if BM25_FILES[0] in files:
                bm25s = _bm25s()

                # memory-mapped: a query reads only its terms' columns, so a large index stays on disk
                bm25 = bm25s.BM25.load(keyword_dir, load_corpus=False, mmap=True)
            tokens_file = (keyword_dir / TOKENS).open("rb")  # read on first use (builds), this very file
        except (OSError, ValueError, KeyError, EOFError) as exc:
            raise KeywordIndexError(f"{shown_dir}/ cannot be read ({type(exc).__name__}) - {_HINT}") from None
        n_vocab = len(bm25.vocab_dict) if bm25 else 0
        if bm25 is not None and (bm25.scores["num_docs"], len(bm25.scores["indptr"])) != (count, n_vocab):
            tokens_file.close()
            raise KeywordIndexError(f"{shown_dir}/ holds arrays that disagree with {META} - {_HINT}")
        index = cls(bm25, count, k1, b, tokens_file=tokens_file)
        if verify:
            index._token_arrays()
        return index


def _reuse_tokens(
    previous: KeywordIndex, keys: list[str], texts: Sequence[str] | Mapping[int, str]
) -> tuple[dict[str, int], np.ndarray, np.ndarray, int]:
    """(vocab, offsets, ids, texts tokenised): rows whose text the previous index holds copy its token
    ids; the others are tokenised and their new tokens appended to its vocabulary."""
    prev_keys, prev_offsets, prev_ids = previous._token_arrays()
    vocab = {t: i for t, i in previous._bm25.vocab_dict.items() if t != ""}
    row_of = dict(zip(prev_keys, range(len(prev_keys)), strict=True))
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
    spans = lengths[reused]
    within = np.arange(int(spans.sum()), dtype=np.int64) - np.repeat(np.cumsum(spans) - spans, spans)
    ids[np.repeat(offsets[reused], spans) + within] = prev_ids[
        np.repeat(prev_offsets[source[reused]], spans) + within
    ]
    for row, row_ids in zip(todo.tolist(), fresh, strict=True):
        ids[offsets[row] : offsets[row + 1]] = row_ids
    return vocab, offsets, ids, len(todo)


def _bm25_from_ids(offsets: np.ndarray, ids: np.ndarray, vocab: dict[str, int], k1: float, b: float) -> Any:
    """A bm25s Lucene BM25 index of the rows' token ids, its score matrix computed with array operations.

    bm25s.BM25.index() counts each document's terms in a Python loop (13 s at 228k passages); this
    computes the same CSC matrix, idf log(1 + (N - df + 0.5) / (df + 0.5)) times tf / (tf + k1 (1 - b
    + b dl / avgdl)), in about a tenth of the time, and hands it to bm25s, which saves and searches it.
    tests/test_keyword.py checks it against bm25s' own indexing.
    """
    bm25s = _bm25s()
    n_docs, n_vocab = len(offsets) - 1, len(vocab)
    lengths = np.diff(offsets)
    rows = np.repeat(np.arange(n_docs, dtype=np.int64), lengths)
    pairs, tf = np.unique((ids.astype(np.int64) << 32) | rows, return_counts=True)  # by term, then row
    terms, docs = pairs >> 32, pairs & 0xFFFFFFFF
    df = np.bincount(terms, minlength=n_vocab)
    # The same operations in the same precisions as bm25s (float32 idf, float64 tf part), so that the
    # scores are bit-identical to its own indexing.
    idf = np.log(1 + (n_docs - df + 0.5) / (df + 0.5)).astype(np.float32)
    norm = k1 * ((1 - b) + b * lengths / lengths.mean())
    tf64 = tf.astype(np.float64)
    data = (idf[terms].astype(np.float64) * (tf64 / (norm[docs] + tf64))).astype(np.float32)
    indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
    bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
    bm25.scores = {"data": data, "indices": docs.astype(np.int32), "indptr": indptr, "num_docs": n_docs}
    bm25.vocab_dict = {**vocab, "": n_vocab}  # bm25s' empty token, as its index() adds it
    bm25.unique_token_ids_set = set(bm25.vocab_dict.values())
    bm25.nonoccurrence_array = None  # Lucene BM25 has none (bm25s sets it while indexing)
    return bm25


def _read_tokens(file: BinaryIO, count: int, n_vocab: int) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The token cache (tokens.npz, opened when the index was loaded), checked against its index."""
    hint = "the keyword index's tokens.npz cannot be read"
    try:
        file.seek(0)
        with np.load(file, allow_pickle=False) as npz:
            sha, offsets, ids = npz["sha256"], npz["offsets"], npz["ids"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise KeywordIndexError(f"{hint} ({type(exc).__name__}) - {_HINT}") from None
    if not (
        sha.shape == (count, 32)
        and offsets.shape == (count + 1,)
        and offsets[-1] == len(ids)
        and (not len(ids) or int(ids.max()) < n_vocab)
    ):
        raise KeywordIndexError(f"the keyword index's tokens.npz disagrees with its {META} - {_HINT}")
    return [row.tobytes().hex() for row in sha], offsets, ids
