"""Settings: the defaults, in one frozen dataclass, and the one table of the RAG_* variables that override them.

Library functions take explicit arguments; only cli.py resolves flag > RAG_* variable > default (via
`Settings.from_env`, which reads every variable of `ENV` in one loop; `python app.py` is `rag serve`). The choice lists
(retrieval modes, fusions, rerankers, precisions, index types) are defined here once; the modules that
check them and the CLI's flags import them. Build-time parameters (model, chunking) are read back from
the index manifest at query time, never from here. It builds nothing (assistant.py does).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .errors import RagError

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODES = ("hybrid", "dense", "keyword")  # retrieval: keyword + dense fused, dense only, keyword only
FUSIONS = ("zscore", "rrf")  # standardised scores summed | reciprocal rank fusion
RERANKERS = ("sentence", "none")
PRECISIONS = ("auto", "fp32", "bf16")  # passage embedding; auto: bf16 where the CPU has it
INDEX_TYPES = ("auto", "flat", "hnsw")  # the vector index (ann.choose_index_type)
FUSION_DEPTH = 200  # passages each ranker contributes (docs/evaluation.md, "SciFact", has the comparison)


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
    store: str = ""  # postgresql://...: answer from that PostgreSQL store instead of index_dir (pgindex.py)
    pool_size: int = 4  # connections a process keeps to the store at most (pgpool.py): requests at once
    model: str = DEFAULT_MODEL
    chunking: ChunkParams = ChunkParams()
    k: int = 5
    index_type: str = "auto"  # one of INDEX_TYPES
    retrieval: str = "hybrid"  # one of MODES
    # How rankings combine: hybrid's two rankers, and the sentence rerank with the retrieval order.
    fusion: str = "zscore"  # one of FUSIONS
    fusion_depth: int = FUSION_DEPTH  # passages each ranker contributes to fusion (z-scores over them)
    rerank: str = "sentence"  # "sentence" | "none": re-order the top 10 by best single-sentence similarity
    abstain: bool = True  # say "not covered" when retrieval evidence is weak (abstain.py)
    llm_url: str = ""  # OpenAI-compatible endpoint for generative answers; "" = extractive only
    llm_model: str = ""
    batch_size: int = 32
    precision: str = "auto"  # one of PRECISIONS
    max_question_chars: int = 2000
    feedback_path: Path = Path("eval/feedback.jsonl")  # readers' thumbs and corrections, as test questions
    query_path: Path = Path("eval/queries.jsonl")  # the committed test questions (the Evaluate tab)
    runs_dir: Path = Path("eval/runs")  # where evaluation runs and their plots are saved
    cache_dir: Path | None = None  # machine-local derived files (None: cache_root(), ~/.cache/rag)
    host: str = "127.0.0.1"  # the web server's address: another host only when asked
    port: int = 7860
    auth: str = ""  # USER:PASSWORD to require a login; "" = none

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults overridden by RAG_* environment variables (flags are applied on top by the caller)."""
        env = os.environ if environ is None else environ
        s = cls(cache_dir=cache_root(env))
        for var in ENV:
            if env.get(var.name):  # an empty variable means unset (RAG_HOST= is not every interface)
                s = var.apply(s, env[var.name])
        return s


@dataclass(frozen=True)
class EnvVar:
    """One RAG_* variable: the setting it overrides, how its text is read, its smallest value."""

    name: str
    field: str  # a Settings field, or "chunking.<field>"
    kind: type = str  # str, Path, int or bool
    minimum: int = 0  # for ints
    choices: tuple[str, ...] = ()  # what the setting accepts (checked where it is used; flags offer these)

    def parse(self, value: str) -> Any:
        if self.kind is bool:
            return value.lower() not in ("0", "off", "false", "no")
        if self.kind is int:
            return _whole_number(self.name, value, self.minimum)
        return self.kind(value)

    def apply(self, s: Settings, value: str) -> Settings:
        parsed = self.parse(value)
        outer, _, inner = self.field.partition(".")
        if inner:
            return replace(s, **{outer: replace(getattr(s, outer), **{inner: parsed})})
        return replace(s, **{outer: parsed})


ENV = (
    EnvVar("RAG_CORPUS", "corpus_dir", Path),
    EnvVar("RAG_INDEX", "index_dir", Path),
    EnvVar("RAG_STORE", "store"),
    EnvVar("RAG_POOL_SIZE", "pool_size", int, minimum=1),
    EnvVar("RAG_FEEDBACK", "feedback_path", Path),
    EnvVar("RAG_MODEL", "model"),
    EnvVar("RAG_RETRIEVAL", "retrieval", choices=MODES),
    EnvVar("RAG_FUSION", "fusion", choices=FUSIONS),
    EnvVar("RAG_FUSION_DEPTH", "fusion_depth", int, minimum=1),
    EnvVar("RAG_INDEX_TYPE", "index_type", choices=INDEX_TYPES),
    EnvVar("RAG_PRECISION", "precision", choices=PRECISIONS),
    EnvVar("RAG_RERANK", "rerank", choices=RERANKERS),
    EnvVar("RAG_ABSTAIN", "abstain", bool),
    EnvVar("RAG_LLM_URL", "llm_url"),
    EnvVar("RAG_LLM_MODEL", "llm_model"),
    EnvVar("RAG_K", "k", int, minimum=1),
    EnvVar("RAG_CHUNK_WORDS", "chunking.max_words", int, minimum=10),
    EnvVar("RAG_HOST", "host"),
    EnvVar("GRADIO_SERVER_PORT", "port", int, minimum=1),
    EnvVar("RAG_AUTH", "auth"),
)
SETTING = {var.field: var for var in ENV}  # the variable behind a setting (the CLI's help and choices)


def cache_root(environ: Mapping[str, str] | None = None) -> Path:
    """Where rag keeps machine-local derived files: $RAG_CACHE_DIR, else $XDG_CACHE_HOME/rag or ~/.cache/rag."""
    env = os.environ if environ is None else environ
    if env.get("RAG_CACHE_DIR"):
        return Path(env["RAG_CACHE_DIR"])
    return Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rag"


def _whole_number(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise RagError(f"{name}={value!r} is not a whole number - set it to e.g. 5 or unset it") from None
    if number < minimum:  # e.g. RAG_CHUNK_WORDS=-5 would otherwise build an empty index over a good one
        raise RagError(
            f"{name}={value!r} is below its minimum {minimum} - set it to {minimum} or more, or unset it"
        )
    return number
