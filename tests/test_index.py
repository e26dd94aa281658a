"""The index on disk: FAISS agrees with brute force; damaged or foreign indexes give clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.config import ChunkParams
from rag.errors import BuildLockedError, IndexLoadError
from rag.index.folder_swap import build_lock
from rag.index.index_folder import load_index, write_index
from rag.index.keyword import KeywordIndex
from rag.index.manifest import CHUNKS, FORMAT_VERSION, VECTORS, EmbedderInfo, Manifest
from rag.index.manifest import NAME as MANIFEST
from rag.types import Chunk


def _chunks(n: int) -> list[Chunk]:
    return [Chunk(f"a#{i}", "a", "a.txt", "T", "", i, i + 1, "x", f"text {i}") for i in range(n)]


def _manifest(vectors: np.ndarray, index_type: str = "flat-ip") -> Manifest:
    embedder = EmbedderInfo("random", vectors.shape[1], "f")
    return Manifest(embedder, ChunkParams(), {}, chunk_count=len(vectors), index_type=index_type)


def _write(index_dir: Path, vectors: np.ndarray) -> None:
    chunks = _chunks(len(vectors))
    m = _manifest(vectors)
    write_index(index_dir, vectors, chunks, KeywordIndex.build([c.embed_text for c in chunks]), m)


def test_faiss_matches_numpy_brute_force(tmp_path: Path):
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(2000, 48)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _write(tmp_path / "index", vectors)
    index = load_index(tmp_path / "index")
    queries = rng.normal(size=(25, 48)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    scores, rows = index.vectors.search(queries, 10)
    peak = np.abs(vectors).max(axis=1, keepdims=True)  # vectors.npy holds int8, each row scaled to
    stored = np.rint(vectors * (127 / peak))  # reach 127 (format 7), renormalised as it is read
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    brute = queries @ stored.T
    expected = np.argsort(-brute, axis=1)[:, :10]
    np.testing.assert_array_equal(rows, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expected, axis=1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(index.all_vectors(), stored, atol=1e-6)
    assert np.abs(index.all_vectors() - vectors).max() < 0.01  # int8: about 2 decimal digits
    assert np.abs(queries @ index.all_vectors().T - queries @ vectors.T).max() < 0.01  # scores


@pytest.fixture
def built(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(50, 8)).astype(np.float32)
    _write(tmp_path / "index", v / np.linalg.norm(v, axis=1, keepdims=True))
    return tmp_path / "index"


def test_missing_index(tmp_path: Path):
    with pytest.raises(
        IndexLoadError, match=r"no index at .*index/ - run \"rag build --index .*\" to build it"
    ):
        load_index(tmp_path / "index")


@pytest.mark.parametrize("name", [VECTORS, CHUNKS])
def test_truncated_file(built: Path, name: str):
    data = (built / name).read_bytes()
    (built / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexLoadError, match=rf"{name} is truncated or corrupted .* to rebuild the index"):
        load_index(built)


def test_corrupted_same_size(built: Path):
    data = bytearray((built / CHUNKS).read_bytes())
    data[10] ^= 0x01
    (built / CHUNKS).write_bytes(bytes(data))
    with pytest.raises(IndexLoadError, match="truncated or corrupted"):
        load_index(built)


def test_missing_file(built: Path):
    (built / VECTORS).unlink()
    with pytest.raises(IndexLoadError, match=rf"{VECTORS} is missing"):
        load_index(built)


@pytest.mark.parametrize("name", [VECTORS, "keyword/tokens.ids.npy", "keyword/keyword.json", MANIFEST])
def test_errors_name_the_index_folder_not_the_descriptor_it_is_read_through(built: Path, name: str):
    (built / name).unlink()
    with pytest.raises(IndexLoadError) as exc:
        load_index(built)
    assert str(built / name) in str(exc.value) or f"{built}/ has no {name}" in str(exc.value)
    assert "/proc/" not in str(exc.value)


def test_a_loaded_index_keeps_reading_its_own_files_after_a_swap(built: Path):
    before = load_index(built)
    texts = [c.text for c in before.chunks]
    _write(built, np.eye(4, dtype=np.float32))  # the old folder is swapped out and deleted
    assert [c.text for c in before.chunks] == texts and len(before.all_vectors()) == 50
    assert len(before.keyword.tokens_by_key()) == 50  # the token cache too, read on first use
    assert len(load_index(built).chunks) == 4


def test_damaged_and_newer_manifest(built: Path):
    manifest = json.loads((built / MANIFEST).read_text())
    (built / MANIFEST).write_text(json.dumps({**manifest, "format": 99}))
    with pytest.raises(
        IndexLoadError, match=rf"index format 99, this rag reads format {FORMAT_VERSION} - upgrade rag"
    ):
        load_index(built)
    (built / MANIFEST).write_text("{not json")
    with pytest.raises(IndexLoadError, match=r"manifest.json is damaged"):
        load_index(built)


def test_swap_replaces_whole_index_and_leaves_no_temp(built: Path):
    _write(built, np.eye(4, dtype=np.float32))
    assert load_index(built).vectors.ntotal == 4
    assert sorted(p.name for p in built.parent.iterdir() if p.name.startswith(".index.building")) == []


def test_second_build_lock_refuses(tmp_path: Path):
    refused = pytest.raises(BuildLockedError, match=r"another build of .* is running \(pid \d+\) - wait")
    with build_lock(tmp_path / "index"), refused, build_lock(tmp_path / "index"):
        pass
    with build_lock(tmp_path / "index"):  # released afterwards
        pass


def test_index_type_by_size_and_override():
    from rag.index.ann import HNSW_FROM, choose_index_type

    assert choose_index_type(10) == "flat-ip" and choose_index_type(HNSW_FROM) == "hnsw-ip"
    assert choose_index_type(10, "hnsw") == "hnsw-ip" and choose_index_type(HNSW_FROM, "flat") == "flat-ip"
    with pytest.raises(IndexLoadError, match="index type 'ivf' is unknown"):
        choose_index_type(10, "ivf")


def test_hnsw_recall_against_exact_search(tmp_path: Path):
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(50, 32))  # clustered, like real embeddings, not uniform noise
    vectors = (centers[rng.integers(0, 50, 5000)] + 0.3 * rng.normal(size=(5000, 32))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    m = _manifest(vectors, "hnsw-ip")
    chunks = _chunks(len(vectors))
    write_index(tmp_path / "index", vectors, chunks, KeywordIndex.build([c.embed_text for c in chunks]), m)
    index = load_index(tmp_path / "index")
    assert type(index.vectors).__name__ == "IndexHNSWSQ"  # 4-bit codes in the graph, exact re-scoring
    queries = vectors[rng.integers(0, 5000, 50)] + 0.05 * rng.normal(size=(50, 32)).astype(np.float32)
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    scores, approx = index.dense_search(queries, 10)
    stored = index.all_vectors()  # int8 on disk, renormalised: the exact scores are of these
    assert np.abs(stored - vectors).max() < 0.01
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ stored.T, approx, axis=1), rtol=1e-5)
    exact = np.argsort(-(queries @ stored.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact, strict=True)])
    print(f"HNSW recall@10 against exact search: {recall:.3f}")
    assert recall >= 0.95
    np.testing.assert_array_equal(index.all_vectors(), stored)  # the vector cache still works
    # served graphs are memory-mapped; a build reads it into memory to grow it: both search alike
    maps = Path("/proc/self/maps")
    assert not maps.exists() or "vectors.hnsw.faiss" in maps.read_text()
    in_memory = load_index(tmp_path / "index", map_graph=False)
    assert np.array_equal(in_memory.dense_search(queries, 10)[1], approx)
