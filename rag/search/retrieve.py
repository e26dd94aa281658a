"""Find the passages that answer a question: dense, keyword or hybrid (fused) retrieval over an index.

Dense search embeds the question with the model named in the index manifest (build-time parameters come
from the index, not from settings; its fingerprint must match) and asks FAISS; keyword search asks the
BM25 index; hybrid fuses the two rankings (fuse.py: z-score fusion by default, or reciprocal rank
fusion). Passages whose spans overlap are merged so that k results are k pieces of evidence. Each Passage records why it was found (dense and
keyword ranks and scores, fused score) and a path the caller can open, where
`open(path).read()[start:end] == text`. It does not compose answers (extractive.py) or build indexes.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import FUSION_DEPTH, FUSIONS, MODES, RERANKERS
from ..errors import IndexLoadError, QueryError, RagError
from ..index.embed import CachingEmbedder, Embedder
from ..index.index_folder import load_index
from ..index.onnx_embed import query_embedder
from ..index.store import IndexStore
from ..ingest.extract import cited_path
from ..types import Chunk, Passage, Why
from .fuse import RRF_K, merge_overlapping, reciprocal_rank_fusion, zscore_fusion
from .sentences import SentenceCache, SentenceSet
from .spelling import Speller

MAX_QUESTION_CHARS = 2000


def check_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question stripped, or a QueryError for an empty or oversized one."""
    q = question.strip()
    if not q:
        raise QueryError("the question is empty - type a question, e.g. 'how do I avoid being clingy?'")
    if len(q) > max_chars:
        raise QueryError(f"the question is {len(q):,} characters; the limit is {max_chars:,} - shorten it")
    try:
        q.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: invalid UTF-8 bytes on a command line, or a crafted request
        raise QueryError("the question holds bytes that are not valid text (UTF-8) - retype it") from None
    return q


def check_k(k: int) -> int:
    if k < 1:
        raise QueryError(f"-k must be at least 1 (got {k}) - ask for 1 or more passages")
    return k


def display_path(path: Path) -> str:
    """The path relative to the current folder when it lies below it, else absolute."""
    rel = os.path.relpath(path.resolve(), Path.cwd())
    return str(path.resolve()) if rel.startswith("..") else rel


SPELLING_CORPUS_MAX = 20_000  # up to this many passages, the corpus's own words are spelling candidates
_WORDS = re.compile(r"[A-Za-z]+")


class Retriever:
    """Top-k search over one index, with the embedder that built it."""

    def __init__(
        self,
        index: IndexStore,
        embedder: Embedder,
        corpus_dir: Path,
        *,
        mode: str = "hybrid",
        fusion: str = "zscore",
        fusion_depth: int = FUSION_DEPTH,
        rrf_k: int = RRF_K,
        weights: dict[str, float] | None = None,
        rerank: str = "sentence",
        rerank_depth: int = 10,
        query_backend: str = "",
        sentence_cache: SentenceCache | None = None,
    ) -> None:
        built_with = index.manifest.embedder
        if embedder.fingerprint != built_with.fingerprint:
            if embedder.name == built_with.name:
                raise IndexLoadError(
                    f"the files of model {embedder.name} changed since {index.shown} was built"
                    f' - run "rag build" to re-embed with the installed model'
                )
            raise IndexLoadError(
                f"{index.shown} was built with {built_with.name} ({built_with.dim}-d) but the query"
                f' model is {embedder.name} - run "rag build --model {embedder.name}" or query without --model'
            )
        if mode not in MODES:
            raise QueryError(f"retrieval mode {mode!r} is unknown - use one of {', '.join(MODES)}")
        self.index = index
        self.embedder = embedder
        self.corpus_dir = corpus_dir
        self.mode = mode
        if fusion not in FUSIONS:
            raise QueryError(f"fusion {fusion!r} is unknown - use one of {', '.join(FUSIONS)}")
        self.fusion = fusion
        if fusion_depth < 1:
            raise QueryError(f"the fusion depth must be at least 1 (got {fusion_depth})")
        self.fusion_depth = fusion_depth
        self.rrf_k = rrf_k
        self.weights = weights
        if rerank not in RERANKERS:
            raise QueryError(f"reranker {rerank!r} is unknown - use one of {', '.join(RERANKERS)}")
        self.rerank = rerank
        self.rerank_depth = rerank_depth
        self.query_backend = query_backend  # how questions are embedded: "onnxruntime" or a labelled fallback
        # Sentence splits and vectors, shared by the rerank, the abstention evidence and the composer.
        # The index's stored sentences are read for the passages it returns (sentence_store.py).
        if sentence_cache is None:
            self.sentences = SentenceCache(embedder, store=index.sentences)
        else:
            self.sentences = sentence_cache.using(index.sentences)

    @classmethod
    def open(
        cls,
        index_dir: Path,
        corpus_dir: Path,
        model: str | None = None,
        *,
        mode: str = "hybrid",
        rerank: str = "sentence",
        fusion: str = "zscore",
        fusion_depth: int = FUSION_DEPTH,
    ) -> Retriever:
        """Load index_dir and the model it was built with (or `model`, which must be that one).

        Questions are embedded through the model's ONNX export when there is one (no torch needed).
        """
        return cls.over(
            load_index(index_dir), corpus_dir, model, mode=mode, rerank=rerank, fusion=fusion,
            fusion_depth=fusion_depth,
        )  # fmt: skip

    @classmethod
    def over(
        cls,
        index: IndexStore,
        corpus_dir: Path,
        model: str | None = None,
        *,
        mode: str = "hybrid",
        rerank: str = "sentence",
        fusion: str = "zscore",
        fusion_depth: int = FUSION_DEPTH,
    ) -> Retriever:
        """open() over an index already loaded (a folder index or a PostgreSQL store, store.py)."""
        embedder, backend = query_embedder(index.manifest.embedder, model)
        return cls(
            index,
            CachingEmbedder(embedder),
            corpus_dir,
            mode=mode,
            fusion=fusion,
            fusion_depth=fusion_depth,
            rerank=rerank,
            query_backend=backend,
        )

    def with_settings(
        self,
        *,
        mode: str | None = None,
        fusion: str | None = None,
        rerank: str | None = None,
        embedder: Embedder | None = None,
        index: IndexStore | None = None,
    ) -> Retriever:
        """The same index (and, unless given, question embedder) with another mode, fusion or reranker;
        or, given `index`, a newly loaded index of the same model served with the same embedder and
        sentence caches (reloading the model per rebuild cost seconds of CPU while questions waited)."""
        other = Retriever(
            index or self.index,
            embedder or self.embedder,
            self.corpus_dir,
            mode=mode or self.mode,
            fusion=fusion or self.fusion,
            fusion_depth=self.fusion_depth,
            rrf_k=self.rrf_k,
            weights=self.weights,
            rerank=rerank or self.rerank,
            rerank_depth=self.rerank_depth,
            query_backend=self.query_backend,
            sentence_cache=self.sentences if embedder is None else None,
        )
        # Built already and the corpus is the same: share it rather than read the vocabulary again.
        if "speller" in self.__dict__ and index is None:
            other.__dict__["speller"] = self.__dict__["speller"]
        return other

    @functools.cached_property
    def speller(self) -> Speller:
        """Corrects misspelled question words against the model's words and the corpus (spelling.py)."""
        from ..index.embed import resolve_model_dir

        try:
            vocab = resolve_model_dir(self.index.manifest.embedder.name) / "vocab.txt"
        except RagError:
            vocab = Path("/nonexistent")  # a model without a WordPiece vocabulary: corpus words only
        chunks = self.index.chunks
        words = (
            {w.lower() for c in chunks for w in _WORDS.findall(c.text)}
            if len(chunks) <= SPELLING_CORPUS_MAX
            else ()
        )
        return Speller.from_vocab_file(vocab, self.index.keyword.holds, words)

    def search(
        self, question: str, k: int, *, mode: str | None = None, article: str | None = None
    ) -> list[Passage]:
        """The k best passages for the question, best first, overlapping ones merged."""
        return self.search_scored(question, k, mode=mode, article=article)[0]

    @functools.cached_property
    def _article_spans(self) -> dict[str, tuple[int, int]]:
        """[first, end) row of each article's passages, by article id and by path. Passages are stored
        article by article in the manifest's order, so each article's rows are the run its passage
        count gives: read from the manifest, not from every passage."""
        out: dict[str, tuple[int, int]] = {}
        at = 0
        for article_id, record in self.index.manifest.articles.items():
            out[article_id] = out[record.path] = (at, at + record.chunks)
            at += record.chunks
        return out

    def article_rows(self, article: str) -> np.ndarray:
        """The rows of one article's passages, by article id or corpus-relative path; QueryError if none."""
        first, end = self._article_spans.get(article.strip().replace("\\", "/"), (0, 0))
        if first == end:
            raise QueryError(
                f"no article {article!r} in the index - give an article id or path as `rag info --json` lists it"
            )
        return np.arange(first, end, dtype=np.int64)

    def search_scored(
        self,
        question: str,
        k: int,
        *,
        mode: str | None = None,
        focus: str = "",
        article: str | None = None,
    ) -> tuple[list[Passage], SentenceSet]:
        """search(), plus the returned passages' sentences scored against the question (made once).

        `focus`: a part of the question its sentences are also compared with (sentences.py).
        `article`: search only that article's passages (article_rows). Misspelled words are corrected
        first (spelling.py).
        """
        q = self.speller.correct(check_question(question))
        within = self.article_rows(article) if article else None
        size = len(self.index.chunks) if within is None else len(within)
        k = min(check_k(k), size)
        mode = mode or self.mode
        if mode not in MODES:
            raise QueryError(f"retrieval mode {mode!r} is unknown - use one of {', '.join(MODES)}")
        if k == 0:
            return [], self.sentences.score(q, [], focus)
        depth = min(max(self.fusion_depth, 2 * k), size)  # room for merges
        scored: dict[str, tuple[list[int], list[float]]] = {}  # ranker -> (rows, scores), best first
        if mode in ("dense", "hybrid"):
            qv = np.ascontiguousarray(self.embedder.embed([q]), dtype=np.float32)
            scored["dense"] = self._dense(qv, depth, within)
        if mode in ("keyword", "hybrid"):
            scored["keyword"] = self._keyword(q, depth, within)
        scores = {name: dict(zip(*pair, strict=True)) for name, pair in scored.items()}
        if mode == "hybrid" and self.fusion == "zscore":
            # Standardised over each ranker's top fusion_depth whatever k is, so k never reorders
            # the top results. BM25 returns every passage scoring above 0: the others scored 0.
            window = min(self.fusion_depth, size)
            left_out = {"keyword": (max(0, window - len(scored["keyword"][0])), 0.0)}
            fused = zscore_fusion(scored, weights=self.weights, window=window, unreturned=left_out)
        else:
            rankings = {name: rows for name, (rows, _) in scored.items()}
            fused = reciprocal_rank_fusion(rankings, k=self.rrf_k, weights=self.weights)
        root = display_path(self.corpus_dir)  # once per search: resolving each path costs system calls
        rows: dict[str, tuple[int, Chunk]] = {}  # the index row of each candidate: its stored sentences

        def candidates() -> Iterator[Passage]:  # made only as far as merging reads them
            for rank, (row, fused_score, ranks) in enumerate(fused, start=1):
                found = {name: scores[name][row] for name in ranks}
                why = Why.found(ranks, found, fused_score if mode == "hybrid" else None)
                score = fused_score if mode == "hybrid" else scores[mode][row]
                chunk = self.index.chunks[row]
                rows[chunk.chunk_id] = (row, chunk)
                path = os.path.join(root, cited_path(chunk.path))  # HTML/PDF: the extracted copy
                yield Passage(chunk=chunk, rank=rank, score=score, path=path, why=why)

        if self.rerank == "none":
            top = merge_overlapping(candidates(), k)
            return top, self.sentences.score(q, top, focus, rows)
        distinct = merge_overlapping(candidates(), max(k, self.rerank_depth))  # rerank pieces of evidence
        scored_head = self.sentences.score(q, distinct[: self.rerank_depth], focus, rows)
        reranked = self._rerank_by_sentence(scored_head, distinct)[:k]
        top = [replace(p, rank=rank) for rank, p in enumerate(reranked, start=1)]
        if scored_head.covers(top):
            return top, scored_head.restrict(top)
        return top, self.sentences.score(q, top, focus, rows)

    def _dense(self, qv: np.ndarray, depth: int, within: np.ndarray | None) -> tuple[list[int], list[float]]:
        """The dense ranking: the ANN index, or exact scores over one article's rows."""
        if within is None:
            dense_scores, rows = self.index.dense_search(qv, depth)
            kept = rows[0] >= 0
            return rows[0][kept].tolist(), dense_scores[0][kept].tolist()
        exact = self.index.exact.take(within) @ qv[0]
        order = np.argsort(-exact, kind="stable")[:depth]
        return within[order].tolist(), exact[order].tolist()

    def _keyword(self, q: str, depth: int, within: np.ndarray | None) -> tuple[list[int], list[float]]:
        """The BM25 ranking, over all passages or one article's rows."""
        rows, kw_scores = self.index.keyword.search(q, depth, within)
        return np.asarray(rows).tolist(), np.asarray(kw_scores).tolist()

    def _rerank_by_sentence(self, scored: SentenceSet, candidates: list[Passage]) -> list[Passage]:
        """Fuse the top candidates' order with their order by best single-sentence similarity.

        A passage's best sentence says more about whether it answers the question than the whole
        passage's vector; the retrieval score keeps what the rankers saw. Both are fused the way the
        rankings were (z-score fusion of retrieval score and best-sentence cosine, or RRF of the orders).
        """
        head, tail = candidates[: self.rerank_depth], candidates[self.rerank_depth :]
        if len(head) < 2:
            return candidates
        best = scored.best_per_passage()  # `scored` holds the head's sentences, split and embedded once
        by_sentence = sorted(range(len(head)), key=lambda i: -best[i])
        if self.fusion == "zscore":
            fused = zscore_fusion(
                {
                    "retrieval": (list(range(len(head))), [p.score for p in head]),
                    "sentence": (by_sentence, [best[i] for i in by_sentence]),
                }
            )
        else:
            fused = reciprocal_rank_fusion(
                {"retrieval": list(range(len(head))), "sentence": by_sentence}, k=self.rrf_k
            )
        # The rerank's scores are on their own scale: lift them above the tail's so that scores still
        # fall with rank when more than rerank_depth passages are returned.
        lift = max(0.0, max(p.score for p in tail) - fused[-1][1] + 1e-6) if tail else 0.0
        reranked = []
        for i, score, ranks in fused:
            p = head[i]
            why = p.why.reranked(ranks["sentence"], best[i], score)
            reranked.append(replace(p, score=score + lift, why=why))
        return reranked + tail
