"""Rebuilds at a million passages: the real build() path with a stand-in embedder.

Embedding a million passages with the real model would take hours here, so this script writes N generated
articles of P paragraphs (about one passage each), builds them with an embedder that hashes each text to a
random unit vector (labelled "random-384", never used for questions), then times what the issue asks of
rebuilds at scale: one article changed (only its passages embedded, the HNSW graph grown in place) and
nothing changed. Everything but the model is the product's code: reading, cleaning, chunking, the
keyword index, the vector index, the atomic swap.

    .venv/bin/python eval/scale_rebuild.py 8800 100 /tmp/scale-1m    # about 1,000,000 passages

The corpus and index stay in the folder, so a second run times only the rebuilds.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from rag.build import build
from rag.config import ChunkParams
from rag.embed import Embedder


class RandomEmbedder(Embedder):
    """Each text's vector is a random unit vector seeded by the text: stable, fast, not a model."""

    name = "random-384"

    def __init__(self) -> None:
        self.embedded = 0

    @property
    def dim(self) -> int:
        return 384

    @property
    def fingerprint(self) -> str:
        return "random-384-v1"

    def embed(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        self.embedded += len(texts)
        out = np.empty((len(texts), 384), np.float32)
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            v = np.random.default_rng(seed).standard_normal(384).astype(np.float32)
            out[i] = v / np.linalg.norm(v)
        return out


def write_corpus(corpus: Path, n_articles: int, paragraphs: int) -> None:
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(30_000)]
    corpus.mkdir(parents=True)
    for a in range(n_articles):
        paras = []
        for _ in range(paragraphs):
            sentences = [
                " ".join(words[j] for j in rng.zipf(1.2, 18) % len(words)).capitalize() + "."
                for _ in range(8)
            ]
            paras.append(" ".join(sentences))
        (corpus / f"a{a:05d}.txt").write_text(
            f"Article {a}\n\n" + "\n\n".join(paras) + "\n", encoding="utf-8"
        )


def timed_build(corpus: Path, index: Path, label: str) -> None:
    embedder = RandomEmbedder()
    started = time.perf_counter()
    report = build(corpus, index, embedder, ChunkParams())
    figures = {k: v for k, v in report.to_json().items() if k not in ("unchanged", "changed", "added")}
    print(
        f"{label}: {time.perf_counter() - started:.1f} s, {embedder.embedded} passages embedded,"
        f" load {os.getloadavg()[0]:.2f}; {json.dumps(figures)}",
        flush=True,
    )


def main() -> None:
    n_articles, paragraphs, folder = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    corpus, index = folder / "corpus", folder / "index"
    if not corpus.exists():
        write_corpus(corpus, n_articles, paragraphs)
    timed_build(corpus, index, "build (first, or whatever changed since the last run)")
    article = sorted(corpus.glob("*.txt"))[7]
    article.write_text(article.read_text(encoding="utf-8") + f"\nOne more paragraph, at {time.time()}.\n")
    timed_build(corpus, index, "one article changed")
    timed_build(corpus, index, "nothing changed")


if __name__ == "__main__":
    main()
