"""The keyword index folder (index/keyword/): the one module that reads or writes keyword.json.

Format 2: each segment's files (keyword_segments.py, named with the segment's prefix), df.npy, and
keyword.json, written last: format, passages and their total length (the live ones), k1, b, method,
tokenizer, the segments (prefix, rows, terms each adds to the vocabulary) and the size + sha256 of every
other file. An index folder is never written twice: a segment loaded from a previous index is hard-linked
into the new folder, not written again. Format 1 (bm25s' own files and tokens.npz: passages in order,
one whole index) is still read and searched through bm25s' stored scores as before, marked outdated so
that the next build writes it in segments; a newer format or another tokenizer is a one-line error saying to run rag build.
It does not tokenise or score (keyword.py, keyword_segments.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import weakref
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import IndexLoadError
from . import storage
from .keyword_segments import DF, Statistics, TermSegment

FORMAT_VERSION = 2  # 2: segments (keyword_segments.py); 1: bm25s' files and tokens.npz, still read
META = "keyword.json"
# Format 1's files, read to carry an index of that format to the next build.
LEGACY_TOKENS = "tokens.npz"
LEGACY_VOCAB = "vocab.index.json"
# Recorded in keyword.json: an index tokenised differently must be rebuilt, not queried.
TOKENIZER = {"lower": True, "token_pattern": r"(?u)\b\w\w+\b", "stopwords": "en_plus", "stemmer": "english"}
HINT = 'run "rag build" to rebuild the index'


class KeywordIndexError(IndexLoadError):
    """The keyword index folder is missing, damaged, or was built with other tokenisation."""


@dataclass(frozen=True)
class Stored:
    """What a keyword folder holds."""

    segments: list[TermSegment]
    vocab: dict[str, int]
    stats: Statistics
    k1: float
    b: float
    outdated: str = ""  # why the next build must write it afresh (format 1), or ""
    format1: Format1 | None = None  # a format-1 folder's searcher, which has no segments


def save(
    keyword_dir: Path,
    segments: Sequence[TermSegment],
    stats: Statistics,
    k1: float,
    b: float,
    link_from: Path | None,
) -> list[Path]:
    """Write a keyword folder: new segments written, loaded ones linked from `link_from`; meta last."""
    keyword_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for segment in segments:
        if segment.files is None:
            files |= segment.write(keyword_dir)
            continue
        if link_from is None:
            raise ValueError("a loaded segment is linked, not written: pass link_from")
        for name, recorded in segment.files.items():
            storage.link(link_from / name, keyword_dir / name)
            files[name] = dict(recorded)
    storage.write_synced(keyword_dir / DF, storage.npy_writer(stats.df))
    files[DF] = storage.record(keyword_dir / DF)
    meta: dict[str, Any] = {"format": FORMAT_VERSION, "passages": stats.passages, "length": stats.length}
    meta |= {"k1": k1, "b": b, "method": "lucene", "tokenizer": TOKENIZER}
    meta["segments"] = [{"prefix": s.prefix, "rows": len(s), "terms": len(s.vocab)} for s in segments]
    meta["files"] = files
    storage.write_synced(keyword_dir / META, json.dumps(meta, indent=2).encode())
    storage.fsync_path(keyword_dir)
    return [keyword_dir / name for name in (*files, META)]


def load(
    keyword_dir: Path,
    *,
    rows: np.ndarray | None,
    segments: Sequence[tuple[str, int]] | None,
    verify: bool = False,
    shown_dir: Path | None = None,
) -> Stored:
    """The keyword folder's contents, checked; KeywordIndexError naming the file otherwise.

    `segments` ((prefix, physical rows) of each: the index manifest's) and `rows` (each passage's physical
    row; None: the rows are the passages) must be what it was written for. Sizes are always checked and
    small files hashed (storage.check); `verify` hashes every file. `shown_dir` is the name messages give
    the folder when keyword_dir is a path through a held index folder (index_folder.py).
    """
    shown_dir = shown_dir or keyword_dir
    meta = _read_meta(keyword_dir, shown_dir)
    for name, expected in meta["files"].items():
        if problem := storage.check(keyword_dir / name, expected, full=verify, shown=shown_dir / name):
            raise KeywordIndexError(f"{problem} - {HINT}")
    try:
        if meta["format"] == 1:
            return _format1(keyword_dir, meta)
        parts = [
            TermSegment.read(keyword_dir, s["prefix"], s["rows"], meta["files"]) for s in meta["segments"]
        ]
        df = np.load(keyword_dir / DF)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        raise KeywordIndexError(
            f"{shown_dir}/ cannot be read or disagrees with its {META} ({type(exc).__name__}) - {HINT}"
        ) from None
    vocab = {t: i for i, t in enumerate(itertools.chain.from_iterable(s.vocab for s in parts))}
    stats = Statistics(df, int(meta["passages"]), int(meta["length"]))
    expected = list(segments) if segments is not None else [(parts[0].prefix, stats.passages)]
    if (
        [(s.prefix, len(s)) for s in parts] != expected
        or df.shape != (len(vocab),)
        or df.dtype != np.int32
        or (rows is None and len(parts) != 1)
        or (rows is not None and len(rows) != stats.passages)
    ):
        raise KeywordIndexError(f"{shown_dir}/ holds segments that disagree with the index's - {HINT}")
    return Stored(parts, vocab, stats, float(meta["k1"]), float(meta["b"]))


def _read_meta(keyword_dir: Path, shown_dir: Path) -> dict[str, Any]:
    """keyword.json, checked to be of a format and tokenizer this rag reads."""
    meta_path = shown_dir / META
    try:
        meta = json.loads((keyword_dir / META).read_text(encoding="utf-8"))
        version, tokenizer, files = meta["format"], meta["tokenizer"], meta["files"]
        int(meta["passages"]), float(meta["k1"]), float(meta["b"])
        if version == FORMAT_VERSION:
            int(meta["length"])
            for s in meta["segments"]:
                str(s["prefix"]), int(s["rows"])
        if not isinstance(files, dict):
            raise TypeError
    except FileNotFoundError:
        raise KeywordIndexError(f"{meta_path} is missing - {HINT}") from None
    except (OSError, ValueError, KeyError, TypeError):
        raise KeywordIndexError(f"{meta_path} is damaged - {HINT}") from None
    if version not in (1, FORMAT_VERSION) or tokenizer != TOKENIZER:
        raise KeywordIndexError(
            f"{meta_path} says format {version}, tokenizer {tokenizer}; this rag reads format"
            f" {FORMAT_VERSION}, tokenizer {TOKENIZER} - {HINT}"
        )
    return dict(meta)


class Format1:
    """A format-1 folder, searched as before through bm25s' stored scores (memory-mapped); its tokens
    (tokens.npz) are read only when a build asks, from the file opened when it was loaded."""

    def __init__(self, bm25: Any, tokens_file: BinaryIO, count: int, n_vocab: int) -> None:
        self.bm25, self._file, self._count, self._n_vocab = bm25, tokens_file, count, n_vocab
        weakref.finalize(self, tokens_file.close)
        self._lock = threading.Lock()

    def scores(self, term_ids: Sequence[int]) -> np.ndarray:
        """float32 score of every passage: bm25s' own sum of its stored scores."""
        if self.bm25 is None or not term_ids:
            return np.zeros(self._count, dtype=np.float32)
        return np.asarray(self.bm25.get_scores_from_ids(list(term_ids)), dtype=np.float32)

    def tokens(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sha256 rows, offsets, ids) of every passage, checked against the index."""
        with self._lock:
            try:
                self._file.seek(0)
                with np.load(self._file, allow_pickle=False) as npz:
                    sha, offsets, ids = npz["sha256"], npz["offsets"], npz["ids"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                raise KeywordIndexError(
                    f"the keyword index's {LEGACY_TOKENS} cannot be read ({type(exc).__name__}) - {HINT}"
                ) from None
        if not (
            sha.shape == (self._count, 32)
            and offsets.shape == (self._count + 1,)
            and offsets[-1] == len(ids)
            and (not len(ids) or int(ids.max()) < self._n_vocab)
        ):
            raise KeywordIndexError(f"the keyword index's {LEGACY_TOKENS} disagrees with its {META} - {HINT}")
        return sha, offsets, ids


def _format1(keyword_dir: Path, meta: Mapping[str, Any]) -> Stored:
    """A format-1 folder (bm25s' files, tokens.npz over the passages in order), marked outdated."""
    count = int(meta["passages"])
    vocab: dict[str, int] = {}
    bm25 = None
    if LEGACY_VOCAB in meta["files"]:  # bm25s' files: none when no passage had a token
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        bm25 = bm25s.BM25.load(keyword_dir, load_corpus=False, mmap=True)
        vocab = {t: int(i) for t, i in sorted(bm25.vocab_dict.items(), key=lambda item: item[1]) if t != ""}
        if list(vocab.values()) != list(range(len(vocab))) or bm25.scores["num_docs"] != count:
            raise ValueError("the format-1 keyword files disagree")
    with np.load(keyword_dir / LEGACY_TOKENS, allow_pickle=False) as npz:
        length = int(npz["offsets"][-1])  # only this member is read
    df = np.zeros(len(vocab), dtype=np.int32)
    if bm25 is not None:
        held = np.diff(np.asarray(bm25.scores["indptr"]))[: len(vocab)]
        df[: len(held)] = held
    stats = Statistics(df, count, length)
    outdated = "the keyword index is in format 1: writing it in segments"
    tokens = Format1(bm25, (keyword_dir / LEGACY_TOKENS).open("rb"), count, len(vocab))
    return Stored([], vocab, stats, float(meta["k1"]), float(meta["b"]), outdated, tokens)
