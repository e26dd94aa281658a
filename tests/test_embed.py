"""Embedders: the offline model resolution, the model fingerprint, the vector cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rag.errors import RagError
from rag.index.embed import CachingEmbedder, fingerprint_dir, resolve_model_dir

from .conftest import HashingEmbedder


def test_cache_returns_the_inner_vectors_and_embeds_only_new_texts():
    inner = HashingEmbedder()
    cached = CachingEmbedder(inner, max_items=3)
    first = cached.embed(["a b", "c d", "a b"])
    np.testing.assert_array_equal(first, inner.embed(["a b", "c d", "a b"]))
    inner.calls.clear()
    again = cached.embed(["c d", "e f"])
    assert inner.calls == [["e f"]]  # "c d" came from the cache
    np.testing.assert_array_equal(again[0], first[1])
    cached.embed(["g h", "i j"])  # over max_items: the cache is emptied, not grown
    assert len(cached._cache) <= 3
    assert cached.embed([]).shape == (0, inner.dim)
    assert cached.fingerprint == inner.fingerprint and cached.name == inner.name


def test_unknown_model_is_a_one_line_error_and_nothing_is_downloaded(tmp_path: Path):
    with pytest.raises(RagError, match=r"neither a folder nor in the local Hugging Face cache") as err:
        resolve_model_dir("nobody/no-such-model-here")
    assert "\n" not in str(err.value)


def test_fingerprint_changes_with_the_model_files(tmp_path: Path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "README.md").write_text("docs do not count")
    before = fingerprint_dir(tmp_path)
    (tmp_path / "README.md").write_text("edited docs")
    assert fingerprint_dir(tmp_path) == before
    (tmp_path / "model.safetensors").write_bytes(b"\x00" * 10)
    assert fingerprint_dir(tmp_path) != before
