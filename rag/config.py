"""Settings: the defaults, in one frozen dataclass.

Library functions take explicit arguments; only cli.py and app.py resolve flag > RAG_* variable >
default (via `Settings.from_env`). Build-time parameters (model, chunking) are read back from the
index manifest at query time, never from here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import RagError
from .fuse import FUSION_DEPTH

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ChunkParams:
    """How articles are cut into passages; stored in the manifest, a change forces a full rebuild."""

    max_words: int = 160
    overlap_sentences: int = 1
    prefix: str = (
        "title_section"  # what the embedded text carries besides the passage: "none" | "title_section"
    )

    def to_json(self) -> dict[str, int | str]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    model: str = DEFAULT_MODEL
    chunking: ChunkParams = ChunkParams()
    k: int = 5
    index_type: str = "auto"  # "auto" | "flat" | "hnsw" (index.choose_index_type)
    retrieval: str = "hybrid"  # "hybrid" | "dense" | "keyword"
    # How rankings combine: hybrid's two rankers, and the sentence rerank with the retrieval order.
    fusion: str = "zscore"  # "zscore" (standardised scores summed) | "rrf" (reciprocal rank fusion)
    fusion_depth: int = FUSION_DEPTH  # passages each ranker contributes to fusion (z-scores over them)
    rerank: str = "sentence"  # "sentence" | "none": re-order the top 10 by best single-sentence similarity
    abstain: bool = True  # say "not covered" when retrieval evidence is weak (abstain.py)
    llm_url: str = ""  # OpenAI-compatible endpoint for generative answers; "" = extractive only
    llm_model: str = ""
    batch_size: int = 32
    precision: str = "auto"  # passage embedding: "auto" (bf16 where the CPU has it) | "fp32" | "bf16"
    max_question_chars: int = 2000
    feedback_path: Path = Path("eval/feedback.jsonl")  # readers' thumbs and corrections, as test questions

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Defaults overridden by RAG_* environment variables (flags are applied on top by the caller)."""
        env = os.environ if environ is None else environ
        s = cls()
        if env.get("RAG_CORPUS"):
            s = replace(s, corpus_dir=Path(env["RAG_CORPUS"]))
        if env.get("RAG_FEEDBACK"):
            s = replace(s, feedback_path=Path(env["RAG_FEEDBACK"]))
        if env.get("RAG_INDEX"):
            s = replace(s, index_dir=Path(env["RAG_INDEX"]))
        if env.get("RAG_MODEL"):
            s = replace(s, model=env["RAG_MODEL"])
        if env.get("RAG_RETRIEVAL"):
            s = replace(s, retrieval=env["RAG_RETRIEVAL"])
        if env.get("RAG_FUSION"):
            s = replace(s, fusion=env["RAG_FUSION"])
        if env.get("RAG_FUSION_DEPTH"):
            s = replace(s, fusion_depth=_int_env("RAG_FUSION_DEPTH", env["RAG_FUSION_DEPTH"], 1))
        if env.get("RAG_INDEX_TYPE"):
            s = replace(s, index_type=env["RAG_INDEX_TYPE"])
        if env.get("RAG_PRECISION"):
            s = replace(s, precision=env["RAG_PRECISION"])
        if env.get("RAG_RERANK"):
            s = replace(s, rerank=env["RAG_RERANK"])
        if env.get("RAG_ABSTAIN"):
            s = replace(s, abstain=env["RAG_ABSTAIN"].lower() not in ("0", "off", "false", "no"))
        if env.get("RAG_LLM_URL"):
            s = replace(s, llm_url=env["RAG_LLM_URL"], llm_model=env.get("RAG_LLM_MODEL", ""))
        if env.get("RAG_K"):
            s = replace(s, k=_int_env("RAG_K", env["RAG_K"], 1))
        if env.get("RAG_CHUNK_WORDS"):
            s = replace(
                s,
                chunking=replace(
                    s.chunking, max_words=_int_env("RAG_CHUNK_WORDS", env["RAG_CHUNK_WORDS"], 10)
                ),
            )
        return s


def _int_env(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise RagError(f"{name}={value!r} is not a whole number - set it to e.g. 5 or unset it") from None
    if number < minimum:  # e.g. RAG_CHUNK_WORDS=-5 would otherwise build an empty index over a good one
        raise RagError(
            f"{name}={value!r} is below its minimum {minimum} - set it to {minimum} or more, or unset it"
        )
    return number
