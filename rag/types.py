"""Plain data passed between pipeline stages: Block, Article, Chunk, Passage (and its Why).

Every offset is a character offset into the ORIGINAL article file (decoded as UTF-8, no newline
translation), so `text[start:end]` of the file is exactly what a citation highlights.
This module holds data only; the stages that make it live in ingest, clean, chunk and retrieve.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

# Block kinds the chunker turns into passages.
KEPT_KINDS = frozenset({"heading", "paragraph", "bio"})
# Block kinds the cleaner removes from passages; kept only as a record of what was dropped.
DROPPED_KINDS = frozenset(
    {"front_matter", "title", "title_repeat", "caption", "link", "pager", "image", "byline"}
    | {"nav", "share", "ad", "footer", "related", "toc", "comments", "references", "recurring", "furniture"}
)


@dataclass(frozen=True)
class Block:
    """One classified line or paragraph of an article: [start, end) in the original file."""

    kind: str
    start: int
    end: int
    level: int = 0  # heading depth (1 = top); 0 for anything that is not a heading

    def __post_init__(self) -> None:
        if self.kind not in KEPT_KINDS | DROPPED_KINDS:
            raise ValueError(f"unknown block kind {self.kind!r}")
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span [{self.start}, {self.end})")


@dataclass(frozen=True)
class Article:
    """An article read from the corpus, with its text classified into kept and dropped blocks."""

    article_id: str  # path relative to the corpus folder, without suffix, '/'-separated
    path: str  # path relative to the corpus folder
    text: str  # the original file content, untouched
    sha256: str  # of the file's bytes
    title: str
    title_source: str  # "front_matter" | "html" | "pdf" | "markdown" | "detected" | "filename" | "user"
    author: str = ""
    url: str = ""
    blocks: tuple[Block, ...] = ()

    def span(self, block: Block) -> str:
        """The original text of a block."""
        return self.text[block.start : block.end]

    @property
    def bio(self) -> str:
        """The author bio, if the cleaner found one (kept as metadata, searchable on its own)."""
        return " ".join(self.span(b) for b in self.blocks if b.kind == "bio")


@dataclass(frozen=True)
class Chunk:
    """A passage: a contiguous span of one article, with its heading breadcrumb."""

    chunk_id: str
    article_id: str
    path: str  # relative to the corpus folder
    title: str
    section: str  # heading breadcrumb, " > "-joined; "" before the first heading
    start: int
    end: int
    text: str  # == original[start:end]
    embed_text: str  # what the embedder sees: title and section prefixed, whitespace normalised

    def to_json(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "article_id": self.article_id,
            "path": self.path,
            "title": self.title,
            "section": self.section,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "embed_text": self.embed_text,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Chunk:
        return cls(**{name: obj[name] for name in cls.__dataclass_fields__})


RANKERS = ("dense", "keyword")  # the rankings a passage can be found by


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 6)


@dataclass(frozen=True)
class Why:
    """Why a passage was found: its rank (1-based) and score in each ranking that returned it, and
    what fusion, merging and the sentence rerank made of it. None where a step did not apply."""

    dense_rank: int | None = None
    dense_score: float | None = None  # cosine of question and passage
    keyword_rank: int | None = None
    keyword_score: float | None = None  # BM25
    fused_score: float | None = None  # hybrid retrieval: the two rankings fused
    merged_with: str | None = None  # chunk_id of the overlapping passage last merged into this one
    sentence_rank: int | None = None  # the sentence rerank: rank by best single-sentence similarity
    sentence_score: float | None = None  # that similarity
    rerank_score: float | None = None  # retrieval and sentence order fused

    @classmethod
    def found(
        cls, ranks: Mapping[str, int], scores: Mapping[str, float], fused_score: float | None = None
    ) -> Why:
        """From {ranker: rank} of the rankings that returned the passage and its score in each."""
        if unknown := set(ranks) - set(RANKERS):
            raise ValueError(f"unknown rankers {sorted(unknown)}")
        return cls(
            dense_rank=ranks.get("dense"),
            dense_score=_rounded(scores["dense"]) if "dense" in ranks else None,
            keyword_rank=ranks.get("keyword"),
            keyword_score=_rounded(scores["keyword"]) if "keyword" in ranks else None,
            fused_score=_rounded(fused_score),
        )

    def reranked(self, sentence_rank: int, sentence_score: float, rerank_score: float) -> Why:
        """This Why with the sentence rerank's rank and scores."""
        return replace(
            self,
            sentence_rank=sentence_rank,
            sentence_score=_rounded(sentence_score),
            rerank_score=_rounded(rerank_score),
        )

    def rankers(self) -> dict[str, tuple[int, float] | None]:
        """{"dense": (rank, score) or None where that ranking did not return it, "keyword": ...}."""
        return {
            "dense": None if self.dense_rank is None else (self.dense_rank, self.dense_score or 0.0),
            "keyword": None if self.keyword_rank is None else (self.keyword_rank, self.keyword_score or 0.0),
        }

    def to_json(self) -> dict[str, float | int | str]:
        """The fields that apply, in field order (the /ask and /search APIs' "why")."""
        return {f.name: value for f in fields(self) if (value := getattr(self, f.name)) is not None}


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk: its rank, its score (higher is better) and why it was found."""

    chunk: Chunk
    rank: int  # 1-based
    score: float
    path: str  # the article's path as the caller can open it (relative to cwd when possible)
    why: Why = field(default_factory=Why)

    def to_json(self) -> dict[str, Any]:
        c = self.chunk
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "article_id": c.article_id,
            "chunk_id": c.chunk_id,
            "title": c.title,
            "section": c.section,
            "path": self.path,
            "start": c.start,
            "end": c.end,
            "text": c.text,
            "why": self.why.to_json(),
        }
