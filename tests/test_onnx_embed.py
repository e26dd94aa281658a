"""Question embedding without torch (onnx_embed.py) and bf16 passage embedding (embed.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.errors import RagError
from rag.index.embed import SentenceTransformerEmbedder, resolve_precision
from rag.index.manifest import EmbedderInfo
from rag.index.onnx_embed import (
    MODEL_FILE,
    OnnxEmbedder,
    ensure_export,
    export_dir,
    query_embedder,
    read_export,
)

from .conftest import HashingEmbedder

ROOT = Path(__file__).resolve().parent.parent
RAG = [sys.executable, "-c", "from rag.cli import main; main()"]
TEXTS = [
    "how do I avoid being clingy?",
    "Give him space. " * 300,  # past the model's 256-token limit
    "",
    "Mystery keeps desire alive; Esther Perel calls it the space between two people.",
    "ünïcödé, emoji 😀 and CJK 你好 in one line",
]


def test_export_reproduces_the_torch_vectors(real_embedder: SentenceTransformerEmbedder):
    meta = ensure_export(real_embedder)
    assert meta is not None and meta["fingerprint"] == real_embedder.fingerprint
    onnx = OnnxEmbedder(export_dir(real_embedder.fingerprint), meta)
    reference = real_embedder.embed(TEXTS)
    # one batch (mixed lengths, padded) and one text at a time must both match torch
    for vectors in (onnx.embed(TEXTS), np.concatenate([onnx.embed([t]) for t in TEXTS])):
        assert vectors.shape == reference.shape and vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
        assert (vectors * reference).sum(axis=1).min() > 0.9999


def _rag_noting_torch(*args: str) -> subprocess.CompletedProcess[str]:
    """Run `rag ARGS` in a fresh process whose last output line says whether torch was imported."""
    code = (
        "import sys\n"
        "from rag.cli import main\n"
        f"try:\n    main({list(args)!r})\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    return out


def test_search_runs_without_torch(seed_index):
    corpus_dir, index_dir = seed_index
    out = _rag_noting_torch(
        "search", "how do I avoid being clingy?", "--corpus", str(corpus_dir), "--index", str(index_dir)
    )
    assert "The worst thing you’ll likely do" in out.stdout.split("[2]")[0]  # the clinginess passage first
    assert out.stdout.strip().endswith("NO-TORCH") and "note:" not in out.stderr


def test_without_an_export_torch_answers_and_says_it_is_a_fallback(seed_index, tmp_path: Path):
    corpus_dir, index_dir = seed_index
    env = {**os.environ, "RAG_CACHE_DIR": str(tmp_path / "empty-cache")}
    args = ["search", "how do I avoid being clingy?", "--corpus", str(corpus_dir), "--index", str(index_dir)]
    out = subprocess.run([*RAG, *args], capture_output=True, text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    assert "note: questions are embedded with torch (fallback" in out.stderr
    assert "The worst thing you’ll likely do" in out.stdout.split("[2]")[0]
    info = subprocess.run(
        [*RAG, "info", "--corpus", str(corpus_dir), "--index", str(index_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert "questions embedded with: torch (fallback" in info.stdout


def test_a_damaged_export_falls_back_to_torch(real_embedder, tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    fingerprint = real_embedder.fingerprint
    folder = export_dir(fingerprint)
    folder.mkdir(parents=True)
    meta = {"version": 1, "model": real_embedder.name, "fingerprint": fingerprint, "dim": 384}
    meta |= {"max_tokens": 256, "inputs": ["input_ids", "attention_mask"]}
    (folder / "export.json").write_text(json.dumps(meta))
    (folder / MODEL_FILE).write_bytes(b"not an onnx model")
    assert read_export(fingerprint) is not None
    embedder, backend = query_embedder(EmbedderInfo(real_embedder.name, 384, fingerprint))
    assert isinstance(embedder, SentenceTransformerEmbedder) and backend.startswith("torch (fallback")


def test_only_sentence_transformer_models_are_exported(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path))
    assert ensure_export(HashingEmbedder()) is None and not any(tmp_path.iterdir())


def test_bf16_passages_match_fp32(real_embedder):
    bf16 = SentenceTransformerEmbedder(real_embedder.name, precision="bf16")
    assert bf16.fingerprint == real_embedder.fingerprint  # same model: the index and its cache stay valid
    a, b = real_embedder.embed(TEXTS), bf16.embed(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    assert b.dtype == np.float32 and (a * b).sum(axis=1).min() > 0.999


def test_precision_setting_is_checked():
    assert resolve_precision("fp32") == "fp32" and resolve_precision("auto") in ("fp32", "bf16")
    with pytest.raises(RagError, match="precision 'fp8' is unknown"):
        resolve_precision("fp8")


def test_a_small_change_is_embedded_without_torch(seed_index, tmp_path: Path):
    corpus_src, index_src = seed_index
    corpus_dir, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(corpus_src, corpus_dir)
    shutil.copytree(index_src, index_dir)
    (corpus_dir / "kites.md").write_text(
        "# Flying kites\n\nA kite needs steady wind of about fifteen kilometres an hour to fly well.\n",
        encoding="utf-8",
    )
    out = _rag_noting_torch("build", "--corpus", str(corpus_dir), "--index", str(index_dir))
    assert "1 added" in out.stdout and "(1 embedded, 16 reused)" in out.stdout
    assert out.stdout.strip().endswith("NO-TORCH")
    found = subprocess.run(
        [*RAG, "search", "how much wind does a kite need?", "-k", "1", "--corpus", str(corpus_dir)]
        + ["--index", str(index_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "Flying kites" in found.stdout, found.stdout + found.stderr
