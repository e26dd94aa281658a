"""The top passages' sentences, split and embedded once per question, shared by the stages that use them.

The sentence rerank (retrieve.py), the abstention evidence (abstain.py) and the composer (extractive.py)
all compare the question with single sentences of the top passages. `SentenceCache.score` splits each
passage into sentences (kept per chunk_id) and embeds them through a cache keyed by the sha1 of the
sentence text, so a question embeds only sentences no earlier question embedded; the result, a
`SentenceSet`, is handed from stage to stage instead of being recomputed. A long question that describes
a situation is also compared sentence by sentence: its "key" sentences (the ones that ask) are embedded
beside the whole question, and a sentence's similarity is the best over them (see `query_texts`).
When the index stores its passages' sentences (sentence_store.py), a passage the caller names by its index
row is read from there instead: only the question (and passages merged from overlapping ones, whose
sentences mostly come from their parts' stored vectors) is embedded per question.
It does not rank passages or choose answer sentences.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..index.embed import Embedder
from ..index.sentence_store import sentence_text, split_passage
from ..index.store import SentenceRows
from ..ingest.chunk import sentence_spans
from ..types import Chunk, Passage

_WS = re.compile(r"\s+")
KEY_SENTENCE_WORDS = 25  # a question longer than this is also compared through its key sentences
_ASKING = re.compile(
    r"\?|^(how|what|why|should|is|are|do|does|can|could|would|will|when|which|who)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Sentence:
    """One sentence of a passage: [start, end) in the original file, and where it sits."""

    passage: int  # index into SentenceSet.passages
    start: int
    end: int
    text: str  # whitespace collapsed, for display and embedding
    position: int  # 0-based order of the sentence within its passage
    paragraph: int  # 0-based paragraph (blank-line separated) within its passage


@dataclass(frozen=True)
class SentenceSet:
    """The passages' sentences, their unit vectors and each one's similarity to the question."""

    question: str
    passages: tuple[Passage, ...]
    sentences: tuple[Sentence, ...]
    vectors: np.ndarray  # (n, dim), row i is sentences[i]
    similarity: np.ndarray  # (n,), cosine to the question (best over its key sentences for long ones)
    whole_similarity: np.ndarray  # (n,), cosine to the whole question only
    question_vectors: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0)))

    def of_passage(self, i: int) -> list[int]:
        """Indexes of passage i's sentences, in reading order."""
        return [j for j, s in enumerate(self.sentences) if s.passage == i]

    def best_per_passage(self) -> list[float]:
        """Each passage's best sentence similarity (-1 for a passage without sentences)."""
        best = [-1.0] * len(self.passages)
        for j, s in enumerate(self.sentences):
            best[s.passage] = max(best[s.passage], float(self.similarity[j]))
        return best

    def restrict(self, passages: list[Passage]) -> SentenceSet:
        """The same scores for a subset (or re-ranked order) of the passages, matched by chunk_id."""
        where = {p.chunk.chunk_id: i for i, p in enumerate(self.passages)}
        new_index = {where[p.chunk.chunk_id]: n for n, p in enumerate(passages)}
        keep = [j for j, s in enumerate(self.sentences) if s.passage in new_index]
        keep.sort(key=lambda j: (new_index[self.sentences[j].passage], self.sentences[j].position))
        sentences = tuple(
            Sentence(new_index[s.passage], s.start, s.end, s.text, s.position, s.paragraph)
            for s in (self.sentences[j] for j in keep)
        )
        return SentenceSet(
            self.question,
            tuple(passages),
            sentences,
            self.vectors[keep],
            self.similarity[keep],
            self.whole_similarity[keep],
            self.question_vectors,
        )

    def covers(self, passages: list[Passage]) -> bool:
        """Whether every passage given was scored here."""
        have = {p.chunk.chunk_id for p in self.passages}
        return all(p.chunk.chunk_id in have for p in passages)


def query_texts(question: str) -> list[str]:
    """The whole question, plus, for a long one, the sentences that ask (or its last sentence)."""
    q = _WS.sub(" ", question).strip()
    if len(q.split()) <= KEY_SENTENCE_WORDS:
        return [q]
    parts = [_WS.sub(" ", q[s:e]).strip() for s, e in sentence_spans(q, 0, len(q))]
    asking = [p for p in parts if "?" in p] or [p for p in parts if _ASKING.search(p)] or parts[-1:]
    return [q, *dict.fromkeys(asking)]


class SentenceCache:
    """Sentence splits per passage and sentence vectors by text hash, shared across questions; the
    index's stored sentences (`store`) for passages given by row."""

    def __init__(
        self,
        embedder: Embedder,
        max_items: int = 50_000,
        store: SentenceRows | None = None,
    ) -> None:
        self.embedder = embedder
        self.max_items = max_items
        self.store = store
        self._splits: OrderedDict[str, list[tuple[int, int, int]]] = OrderedDict()
        self._vectors: dict[bytes, np.ndarray] = {}
        self._lock = threading.Lock()

    def using(self, store: SentenceRows | None) -> SentenceCache:
        """The same caches over another index's stored sentences (a rebuilt index)."""
        other = SentenceCache(self.embedder, self.max_items, store)
        other._splits, other._vectors, other._lock = self._splits, self._vectors, self._lock
        return other

    def split(self, passage: Passage) -> list[tuple[int, int, int]]:
        """(start, end, paragraph) of each sentence, offsets relative to the passage text."""
        c = passage.chunk
        key = c.chunk_id + ":" + hashlib.sha1(c.text.encode("utf-8")).hexdigest()
        with self._lock:
            found = self._splits.get(key)
        if found is not None:
            return found
        out = split_passage(c.text)
        with self._lock:
            self._splits[key] = out
            if len(self._splits) > self.max_items:
                self._splits.popitem(last=False)
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of the texts, embedding only those not seen before."""
        keys = [hashlib.sha1(t.encode("utf-8")).digest() for t in texts]
        with self._lock:
            have = {k: self._vectors[k] for k in keys if k in self._vectors}
        missing = [k for k in dict.fromkeys(keys) if k not in have]
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            fresh = self.embedder.embed([by_key[k] for k in missing])
            have.update(zip(missing, fresh, strict=True))
            with self._lock:
                if len(self._vectors) + len(missing) > self.max_items:
                    self._vectors.clear()  # bounded; the working set refills quickly
                self._vectors.update(zip(missing, fresh, strict=True))
        return np.stack([have[k] for k in keys]) if keys else np.zeros((0, self.embedder.dim), np.float32)

    def _remember(self, texts: list[str], vectors: np.ndarray) -> None:
        """Put stored vectors in the text-hash cache (a merged passage's sentences are found there)."""
        with self._lock:
            if len(self._vectors) + len(texts) > self.max_items:
                self._vectors.clear()
            for t, v in zip(texts, vectors, strict=True):
                self._vectors[hashlib.sha1(t.encode("utf-8")).digest()] = v

    def score(
        self,
        question: str,
        passages: list[Passage],
        focus: str = "",
        rows: Mapping[str, tuple[int, Chunk]] | None = None,
    ) -> SentenceSet:
        """Split, embed (cached) and compare with the question every sentence of the passages.

        `focus`: a part of the question that is compared on its own as well (a follow-up's own words).
        `rows`: chunk_id -> (index row, chunk) of passages from the index: their sentences are read from
        the store when there is one (a merged passage's parts given here lend it their vectors).
        """
        rows = rows or {}
        sentences: list[Sentence] = []
        known: dict[int, np.ndarray] = {}  # sentence index -> stored vector
        stored: dict[str, tuple[list[tuple[int, int, int]], np.ndarray]] = {}
        for i, p in enumerate(passages):
            text = p.chunk.text
            found = rows.get(p.chunk.chunk_id) if self.store is not None else None
            if found is not None and found[1].text == text:
                spans, vectors = stored.get(p.chunk.chunk_id) or self.store.passage(found[0])  # type: ignore[union-attr]
                stored[p.chunk.chunk_id] = (spans, vectors)
            else:
                spans, vectors = self.split(p), None
                if self.store is not None:
                    self._lend(p.chunk, rows, stored)
            for n, (s, e, paragraph) in enumerate(spans):
                if vectors is not None:
                    known[len(sentences)] = vectors[n]
                shown = sentence_text(text, s, e)
                sentences.append(Sentence(i, p.chunk.start + s, p.chunk.start + e, shown, n, paragraph))
        queries = query_texts(question)
        if focus and focus not in queries:
            queries.append(focus)
        qv = np.asarray(self.embedder.embed(queries), dtype=np.float32)
        dim = qv.shape[1]
        vectors = np.zeros((len(sentences), dim), dtype=np.float32)
        rest = [j for j in range(len(sentences)) if j not in known]
        if known:
            at = list(known)
            vectors[at] = np.stack([known[j] for j in at])
        if rest:
            vectors[rest] = np.asarray(self.embed([sentences[j].text for j in rest]), dtype=np.float32)
        sims = vectors @ qv.T if sentences else np.zeros((0, len(queries)), dtype=np.float32)
        whole = sims[:, 0] if sentences else np.zeros(0, dtype=np.float32)
        best = sims.max(axis=1) if sentences else np.zeros(0, dtype=np.float32)
        return SentenceSet(question, tuple(passages), tuple(sentences), vectors, best, whole, qv)

    def _lend(
        self,
        merged: Chunk,
        rows: Mapping[str, tuple[int, Chunk]],
        stored: dict[str, tuple[list[tuple[int, int, int]], np.ndarray]],
    ) -> None:
        """The stored vectors of the index passages inside a merged one, into the text-hash cache."""
        texts: list[str] = []
        vectors: list[np.ndarray] = []
        for chunk_id, (row, part) in rows.items():
            inside = merged.start <= part.start and part.end <= merged.end
            if part.article_id != merged.article_id or not inside or chunk_id == merged.chunk_id:
                continue
            if chunk_id not in stored:
                stored[chunk_id] = self.store.passage(row)  # type: ignore[union-attr]
            spans, vecs = stored[chunk_id]
            texts += [sentence_text(part.text, s, e) for s, e, _ in spans]
            vectors += list(vecs)
        if texts:
            self._remember(texts, np.asarray(vectors, dtype=np.float32))
