"""Loaders running while builds swap in alternating indexes each get one whole build, never a mix.

Found by an adversarial run (issue 16, item 5): a load that checked files by path and opened them by
path again could get the manifest of one build with the passages or BM25 files of the next. Here two
corpora of the same shape (same files, sizes and passage counts, different words) are built in turn
into one index folder while loader threads load it in a loop; every loaded index must agree with one
of the two builds in its manifest, passages, vectors, FAISS index, BM25 index and token cache.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from rag.config import ChunkParams
from rag.index.build import build
from rag.index.index_folder import LoadedIndex, load_index
from rag.index.manifest import ArticleRecord

from .conftest import HashingEmbedder

SWAPS = 30  # builds swapped in while the loaders run (the adversarial run found mixes within 25)
LOADERS = 2
# Same-length words, so both builds have files of the same sizes and only the contents tell them apart.
WORDS = {
    "a": ["amber", "apple", "arrow", "aspen", "attic", "azure", "acorn", "adobe"],
    "b": ["berry", "birch", "bison", "brook", "bugle", "baker", "bench", "broom"],
}


def _corpus(path: Path, letter: str) -> Path:
    path.mkdir()
    words = WORDS[letter]
    for i in range(24):
        paragraphs = [
            " ".join(
                f"{words[(i + j + s) % 8].title()} {words[(i * s + j) % 8]} {words[(s + 3) % 8]} number {i:02d}."
                for s in range(12)
            )
            for j in range(4)
        ]
        (path / f"a{i:02d}.txt").write_text(f"Article {i:02d}\n\n" + "\n\n".join(paragraphs) + "\n")
    return path


@dataclass
class _Build:
    """What a complete load of one build holds."""

    articles: Mapping[str, ArticleRecord]
    texts: list[str]
    vectors: np.ndarray
    keyword_hits: tuple[list[int], list[float]]
    tokens: dict[str, list[str]]

    @classmethod
    def of(cls, index: LoadedIndex) -> _Build:
        rows, scores = index.keyword.search(" ".join(WORDS["a"][:3] + WORDS["b"][:3]), 50)
        return cls(
            articles=index.manifest.articles,
            texts=[c.text for c in index.chunks],
            vectors=index.all_vectors(),
            keyword_hits=(rows.tolist(), scores.tolist()),
            tokens=index.keyword.tokens_by_key(),
        )


def _mixed(index: LoadedIndex, builds: list[_Build]) -> str:
    """ "" when every part of a loaded index belongs to the build its manifest names, else what differs."""
    matching = [b for b in builds if b.articles == index.manifest.articles]
    if not matching:
        return "a manifest of neither build"
    got, want = _Build.of(index), matching[0]
    parts = {
        "passages": got.texts == want.texts,
        "vectors": np.array_equal(got.vectors, want.vectors),
        "faiss": index.vectors.ntotal == len(want.texts) and _faiss_agrees(index, want),
        "bm25": got.keyword_hits == want.keyword_hits,
        "tokens": got.tokens == want.tokens,
    }
    return ", ".join(name for name, same in parts.items() if not same)


def _faiss_agrees(index: LoadedIndex, want: _Build) -> bool:
    _, rows = index.dense_search(want.vectors[:3], 1)
    return rows[:, 0].tolist() == [0, 1, 2]


@pytest.mark.parametrize("proc_fd", [True, False], ids=["proc-fd", "no-proc-fd"])
def test_loads_during_swaps_never_mix_two_builds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, proc_fd: bool
):
    if not proc_fd:  # as on a system without /proc/self/fd: loads are checked after reading instead
        monkeypatch.setattr("rag.index.index_folder._FD_DIR", tmp_path / "no-proc")
    corpora = [_corpus(tmp_path / "a", "a"), _corpus(tmp_path / "b", "b")]
    index_dir = tmp_path / "index"
    builds = []
    for corpus in corpora:
        build(corpus, index_dir, HashingEmbedder(), ChunkParams())
        builds.append(_Build.of(load_index(index_dir)))
    # The same passage count and sizes of passages and vectors: only the contents tell the builds apart.
    assert len(builds[0].texts) == len(builds[1].texts) > 20
    assert [len(t) for t in builds[0].texts] == [len(t) for t in builds[1].texts]
    assert builds[0].texts != builds[1].texts and builds[0].tokens != builds[1].tokens

    done = threading.Event()
    loads, mixes, errors = [0] * LOADERS, [0] * LOADERS, [[] for _ in range(LOADERS)]

    def loader(n: int) -> None:
        while not done.is_set():
            try:
                index = load_index(index_dir)
            except Exception as exc:  # noqa: BLE001 - counted: a load must not fail either
                errors[n].append(f"{type(exc).__name__}: {exc}")
                continue
            loads[n] += 1
            if problem := _mixed(index, builds):
                mixes[n] += 1
                errors[n].append(f"mixed load: {problem}")

    threads = [threading.Thread(target=loader, args=(n,), daemon=True) for n in range(LOADERS)]
    for t in threads:
        t.start()
    try:
        for swap in range(SWAPS):
            build(corpora[swap % 2], index_dir, HashingEmbedder(), ChunkParams())
    finally:
        done.set()
        for t in threads:
            t.join(timeout=60)
    found = Counter(e for errs in errors for e in errs)
    print(f"{sum(loads)} loads during {SWAPS} swaps: {sum(mixes)} mixed; mixes and failures: {dict(found)}")
    assert sum(loads) >= SWAPS
    assert found == {}
