"""Answer a question with the most similar passages from a loaded index (dense retrieval).

The query model is the one named in the index manifest (build-time parameters come from the index,
not from settings) and its fingerprint must match, so vectors are always compared like with like.
Each Passage carries a path the caller can open, and `open(path).read()[start:end] == text`.
It does not compose answers (answer.py) or build indexes (build.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .embed import Embedder, SentenceTransformerEmbedder
from .errors import IndexLoadError, QueryError
from .index import LoadedIndex, load_index
from .types import Passage

MAX_QUESTION_CHARS = 2000


def check_question(question: str, max_chars: int = MAX_QUESTION_CHARS) -> str:
    """The question stripped, or a QueryError for an empty or oversized one."""
    q = question.strip()
    if not q:
        raise QueryError("the question is empty - type a question, e.g. 'how do I avoid being clingy?'")
    if len(q) > max_chars:
        raise QueryError(f"the question is {len(q):,} characters; the limit is {max_chars:,} - shorten it")
    return q


def check_k(k: int) -> int:
    if k < 1:
        raise QueryError(f"-k must be at least 1 (got {k}) - ask for 1 or more passages")
    return k


def display_path(path: Path) -> str:
    """The path relative to the current folder when it lies below it, else absolute."""
    rel = os.path.relpath(path.resolve(), Path.cwd())
    return str(path.resolve()) if rel.startswith("..") else rel


class Retriever:
    """Dense top-k search over one index, with the embedder that built it."""

    def __init__(self, index: LoadedIndex, embedder: Embedder, corpus_dir: Path) -> None:
        built_with = index.manifest["embedder"]
        if embedder.fingerprint != built_with["fingerprint"]:
            raise IndexLoadError(
                f"{index.index_dir}/ was built with {built_with['name']} ({built_with['dim']}-d) but the query"
                f' model is {embedder.name} - run "rag build --model {embedder.name}" or query without --model'
            )
        self.index = index
        self.embedder = embedder
        self.corpus_dir = corpus_dir

    @classmethod
    def open(cls, index_dir: Path, corpus_dir: Path, model: str | None = None) -> Retriever:
        """Load index_dir and the model it was built with (or `model`, which must be that one)."""
        import faiss

        faiss.omp_set_num_threads(1)  # single queries: threads cost more than they give
        index = load_index(index_dir)
        return cls(index, SentenceTransformerEmbedder(model or index.model_name), corpus_dir)

    def search(self, question: str, k: int) -> list[Passage]:
        """The k passages most similar to the question, best first."""
        q = check_question(question)
        k = min(check_k(k), len(self.index.chunks))
        if k == 0:
            return []
        qv = self.embedder.embed([q])
        scores, rows = self.index.vectors.search(np.ascontiguousarray(qv, dtype=np.float32), k)
        passages = []
        for rank, (score, row) in enumerate(zip(scores[0], rows[0], strict=True), start=1):
            if row < 0:
                break
            chunk = self.index.chunks[int(row)]
            passages.append(
                Passage(
                    chunk=chunk,
                    rank=rank,
                    score=float(score),
                    path=display_path(self.corpus_dir / chunk.path),
                    why={"dense_rank": rank, "dense_score": round(float(score), 6)},
                )
            )
        return passages
