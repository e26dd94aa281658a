"""Sentences stored at build time: what is stored, that questions read it, and indexes without it."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from rag.answer.ask import ask
from rag.config import ChunkParams
from rag.index import manifest as manifest_io
from rag.index.build import build
from rag.index.index_folder import LoadedIndex, load_index
from rag.index.sentence_store import decode, encode, sentence_text
from rag.search.retrieve import Retriever
from rag.search.sentences import SentenceCache
from rag.types import Passage

from .conftest import HashingEmbedder

P = ChunkParams(max_words=120)
CLINGY = "how do I avoid being clingy?"


def _index(corpus: Path, embedder=None) -> LoadedIndex:
    build(corpus, corpus.parent / "index", embedder or HashingEmbedder(), P)
    return load_index(corpus.parent / "index")


def _without_sentences(index_dir: Path) -> None:
    """Make index_dir what a build before stored sentences wrote: no sentence files, no "sentences"."""
    m = manifest_io.read(index_dir)
    for name in m.sentence_files:
        (index_dir / name).unlink()
    files = {k: v for k, v in m.files.items() if k not in m.sentence_files}
    (index_dir / manifest_io.NAME).unlink()  # index files are written once (storage.write_synced)
    manifest_io.write(index_dir, replace(m, sentences=None, files=files))


def test_stored_spans_are_the_split_and_vectors_the_embedding(corpus: Path):
    index = _index(corpus)
    assert index.sentences is not None and index.manifest.sentences["encoding"] == "int4"
    cache, hasher = SentenceCache(HashingEmbedder()), HashingEmbedder()
    total = 0
    for row, chunk in enumerate(index.chunks):
        spans, vectors = index.sentences.passage(row)
        assert spans == cache.split(Passage(chunk, 1, 1.0, "")) and spans
        fresh = hasher.embed([sentence_text(chunk.text, s, e) for s, e, _ in spans])
        # int4 rounds the hashing embedder's spiky vectors coarsely (the real model's: test below); each
        # stored row is still nearest its own sentence's embedding
        similarity = vectors @ fresh.T
        assert similarity.diagonal().min() > 0.85
        assert (similarity.argmax(axis=1) == np.arange(len(spans))).all() or len(set(map(str, fresh))) < len(
            spans
        )
        total += len(spans)
    assert total == index.manifest.sentences["count"]
    names = index.manifest.sentence_files
    assert len(names) == 3 and all(name in index.manifest.files for name in names)  # int4: no scales


@pytest.mark.parametrize("encoding", ["int4", "int8", "fp16"])
@pytest.mark.parametrize("dim", [384, 7])
def test_encodings_keep_cosines(encoding: str, dim: int):
    rng = np.random.default_rng(0)
    v = rng.standard_normal((200, dim)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q = v[:20]
    rows, scales = encode(v, encoding)
    assert rows.shape[1] == ((dim + 1) // 2 if encoding == "int4" else dim)
    back = decode(rows, scales, dim)
    bound = {"int4": 0.05, "int8": 0.01, "fp16": 1e-3}[encoding] * (4 if dim == 7 else 1)
    assert np.abs(back @ q.T - v @ q.T).max() < bound


def test_int4_rows_are_two_components_a_byte_and_clip_only_the_largest():
    v = np.array([[0.5, -0.5, 0.1, -0.1, 0.0, 0.7, 0.05, -0.02]], np.float32)
    v /= np.linalg.norm(v)
    rows, scales = encode(v, "int4")
    assert rows.dtype == np.uint8 and rows.shape == (1, 4) and scales is None
    codes = np.stack([rows & 15, rows >> 4], axis=-1).reshape(1, -1).astype(int) - 8  # low nibble first
    assert codes.tolist() == [[4, -5, 0, -1, 0, 6, 0, -1]]  # floor(x / step), step = 2.5 sigma / 7.5
    assert float((decode(rows, None) @ v.T)[0, 0]) > 0.99
    spike = np.full((1, 64), 0.01, np.float32)
    spike[0, 3] = 1.0
    spike /= np.linalg.norm(spike)
    back = decode(encode(spike, "int4")[0], None)
    # clipped at 0.8 of itself, not lost (16 levels, none at 0: the small components read back at half a step)
    assert back.argmax() == 3 and float((back @ spike.T)[0, 0]) > 0.9


def test_a_question_embeds_only_itself_when_sentences_are_stored(corpus: Path):
    index = _index(corpus)
    hasher = HashingEmbedder()
    retriever = Retriever(index, hasher, corpus)
    passages, scored = retriever.search_scored("does desire need space?", 3)
    assert passages and len(scored.sentences) > 0
    assert all(len(call) == 1 for call in hasher.calls)  # questions only, never a passage's sentences
    # the same sentences and scores as splitting and embedding them now (the path without stored ones)
    fresh = SentenceCache(HashingEmbedder()).score("does desire need space?", passages)
    assert [(s.start, s.end, s.text) for s in scored.sentences] == [
        (s.start, s.end, s.text) for s in fresh.sentences
    ]
    # int4 reads the hashing embedder's spiky vectors back coarsely (the real model's: 0.02, test below)
    np.testing.assert_allclose(scored.similarity, fresh.similarity, atol=0.12)


def test_an_index_without_stored_sentences_still_answers_and_a_build_adds_them(corpus: Path):
    index_dir = corpus.parent / "index"
    stored = _index(corpus)
    _without_sentences(index_dir)
    old = load_index(index_dir)
    assert old.sentences is None and old.manifest.format == manifest_io.BASE_FORMAT == 7
    hasher = HashingEmbedder()
    passages, scored = Retriever(old, hasher, corpus).search_scored("does desire need space?", 3)
    assert len(scored.sentences) > 0 and any(len(call) > 1 for call in hasher.calls)  # embedded now
    again, _ = Retriever(stored, HashingEmbedder(), corpus).search_scored("does desire need space?", 3)
    assert [p.chunk.chunk_id for p in passages] == [p.chunk.chunk_id for p in again]
    report = build(corpus, index_dir, HashingEmbedder(), P)
    assert report.full_rebuild.startswith("the index has no stored sentences") and report.embedded == 0
    assert load_index(index_dir).sentences is not None


def test_a_damaged_sentence_file_is_caught_on_load(corpus: Path):
    from rag.errors import IndexLoadError

    index = _index(corpus)
    path = index.index_dir / "sentences.vectors.npy"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(IndexLoadError, match="sentences.vectors.npy is truncated"):
        load_index(index.index_dir)


def test_clingy_answer_is_the_same_with_stored_sentences(seed_index, real_embedder):
    corpus_dir, index_dir = seed_index
    index = load_index(index_dir)
    assert index.sentences is not None
    stored = ask(Retriever(index, real_embedder, corpus_dir), CLINGY)
    embedded = ask(Retriever(replace(index, sentences=None), real_embedder, corpus_dir), CLINGY)
    assert not stored.answer.abstained
    assert stored.answer.text == embedded.answer.text
    assert json.dumps([p.chunk.chunk_id for p in stored.passages]) == json.dumps(
        [p.chunk.chunk_id for p in embedded.passages]
    )
    assert stored.evidence.similarity == pytest.approx(embedded.evidence.similarity, abs=2e-3)


def test_stored_vectors_match_the_real_model(seed_index, real_embedder):
    _, index_dir = seed_index
    index = load_index(index_dir)
    for row, chunk in enumerate(index.chunks):
        spans, vectors = index.sentences.passage(row)
        fresh = real_embedder.embed([sentence_text(chunk.text, s, e) for s, e, _ in spans])
        assert (fresh * vectors).sum(axis=1).min() > 0.985  # int4: 0.990-0.995 on the seed (int8: > 0.998)


@pytest.mark.parametrize("end", [900, 70_000])
def test_spans_are_stored_as_uint16_when_they_fit(tmp_path: Path, end: int):
    from rag.index import storage
    from rag.index.sentence_store import SentenceStore, StoredSentences

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((3, 8)).astype(np.float32)
    rows, _ = encode(vectors / np.linalg.norm(vectors, axis=1, keepdims=True), "int4")
    spans = np.array([[0, 10, 0], [11, 40, 0], [42, end, 1]], np.int32)
    stored = StoredSentences(np.array([0, 2, 3], np.int64), spans, rows, None, "int4")
    assert stored.stored_spans().dtype == (np.uint16 if end < 65_536 else np.int32)
    files = {"offsets": stored.offsets, "spans": stored.stored_spans(), "vectors": stored.vectors}
    for key, array in files.items():
        storage.write_synced(tmp_path / key, storage.npy_writer(array))
    store = SentenceStore.open({k: tmp_path / k for k in files}, 2, 3, 8, "int4")
    assert store.passage(1)[0] == [(42, end, 1)] and store.passage(0)[0] == [(0, 10, 0), (11, 40, 0)]
