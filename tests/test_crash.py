"""A build killed at any moment leaves the previous index loadable, and the next build finishes."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from rag.config import ChunkParams
from rag.index.build import build
from rag.index.index_folder import load_index

from .conftest import ROOT, HashingEmbedder

SENTENCES = [
    "Trust grows when promises are kept.",
    "Space lets desire breathe.",
    "Plan small surprises for each other.",
    "Listen more than you speak on hard days.",
]


def _corpus(path: Path, n: int, variant: int) -> None:
    path.mkdir(exist_ok=True)
    rng = random.Random(variant)
    for i in range(n):
        body = "\n\n".join(
            " ".join(rng.choice(SENTENCES) + f" Note {variant}-{i}-{j}." for _ in range(6)) for j in range(6)
        )
        (path / f"a{i:04d}.txt").write_text(f"Article Number {i}\n\n{body}\n", encoding="utf-8")


def _child(corpus: Path, index: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.crash_child", str(corpus), str(index)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_sigkill_during_build_never_leaves_a_half_index(tmp_path: Path):
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    _corpus(corpus, 300, variant=0)
    build(corpus, index, HashingEmbedder(), ChunkParams())
    _corpus(corpus, 300, variant=1)  # every article changes: the next build rewrites everything

    started = time.perf_counter()
    child = _child(corpus, index)
    out, err = child.communicate(timeout=300)
    assert child.returncode == 0, err.decode()
    full_run = time.perf_counter() - started
    new_count = int(out.split()[-1])
    assert len(load_index(index).chunks) == new_count

    rng = random.Random(42)
    killed = 0
    for attempt in range(8):
        old_hashes = _hashes_in(index)
        _corpus(corpus, 300, variant=10 + attempt)
        new_hashes = {_sha(p) for p in corpus.glob("*.txt")}
        child = _child(corpus, index)
        time.sleep(rng.uniform(0.05, full_run))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
        killed += child.returncode == -signal.SIGKILL
        loaded = load_index(index)  # never raises: old or new, never half
        assert len(loaded.chunks) == loaded.vectors.ntotal == loaded.manifest.chunk_count
        assert _hashes_in(index) in (old_hashes, new_hashes)
        notes = {c.text.split("Note ")[1].split("-")[0] for c in loaded.chunks if "Note " in c.text}
        assert len(notes) == 1  # every passage comes from the same corpus version
    assert killed >= 6, f"only {killed}/8 kills landed while the build ran"
    final = build(corpus, index, HashingEmbedder(), ChunkParams())  # the next build finishes
    assert final.wrote or final.up_to_date
    assert _hashes_in(index) == {_sha(p) for p in corpus.glob("*.txt")}
    assert not list(tmp_path.glob(".index.building-*"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _hashes_in(index: Path) -> set[str]:
    return {meta.sha256 for meta in load_index(index).manifest.articles.values()}
