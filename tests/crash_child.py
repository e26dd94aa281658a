"""Child process for test_crash: one build of a generated corpus with the hashing embedder."""

from __future__ import annotations

import sys
from pathlib import Path

from rag.config import ChunkParams
from rag.index.build import build
from tests.conftest import HashingEmbedder

if __name__ == "__main__":
    corpus_dir, index_dir = Path(sys.argv[1]), Path(sys.argv[2])
    report = build(corpus_dir, index_dir, HashingEmbedder(), ChunkParams())
    print(report.passages, flush=True)
