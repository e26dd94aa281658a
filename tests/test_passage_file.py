"""Index format 5: passages compressed in blocks, vectors as float16; format 3 still read, then rewritten."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.config import ChunkParams
from rag.errors import IndexLoadError
from rag.index import manifest as manifest_io
from rag.index import passage_file, storage
from rag.index.build import build
from rag.index.index_folder import load_index
from rag.index.status import index_status
from rag.search.retrieve import Retriever
from rag.types import Chunk

from .conftest import HashingEmbedder

P = ChunkParams()


def _chunk(i: int, text: str, embed: str) -> Chunk:
    return Chunk(f"a#{i}", "a", "a.md", "A", "S", i, i + len(text), text, embed)


def test_records_round_trip_whatever_the_embedded_text_is(tmp_path: Path):
    texts = ["One  line.\nTwo", "Ünïcode — “quotes” \u2028 and a \\ back", "", "x", " padded "]
    embeds = [
        "One line. Two",  # the text, whitespace collapsed: not stored
        "A > S\nÜnïcode — “quotes” and a \\ back",  # title and section before it: only the head stored
        "head only\n",  # an empty passage with a head
        "something else entirely",  # stored whole
        "padded",
    ]
    chunks = [_chunk(i, t, e) for i, (t, e) in enumerate(zip(texts * 5, embeds * 5, strict=True))]
    blocks, offsets = passage_file.encode(chunks)
    data = b"".join(blocks)
    (tmp_path / "c").write_bytes(data)
    assert len(offsets) == passage_file.expected_offsets(passage_file.BLOCKS, len(chunks)) == 8
    stored = passage_file.PassageFile(
        storage.OpenFile(tmp_path / "c"), offsets, len(chunks), passage_file.BLOCKS
    )
    assert [stored.get(i) for i in (24, 0, 9, 8, 13)] == [chunks[i] for i in (24, 0, 9, 8, 13)]
    assert list(stored) == chunks
    with pytest.raises(IndexError):
        stored.get(25)
    plain = sum(len(json.dumps(c.to_json(), ensure_ascii=False).encode()) + 1 for c in chunks)
    assert len(data) < plain / 2
    damaged = bytearray(data)
    damaged[int(offsets[1]) + 5 : int(offsets[1]) + 9] = b"\xff\x00\xff\x00"
    (tmp_path / "d").write_bytes(bytes(damaged))
    stored = passage_file.PassageFile(
        storage.OpenFile(tmp_path / "d"), offsets, len(chunks), passage_file.BLOCKS
    )
    assert stored.get(0) == chunks[0]
    with pytest.raises(IndexLoadError, match=r"passages 4-7 of the index are damaged - rebuild the index"):
        stored.get(5)


def _as_format_3(index_dir: Path) -> None:
    """Rewrite a format-5 index as format 3 wrote it: float32 vectors, one JSON line per passage."""
    loaded = load_index(index_dir)
    vectors, chunks = loaded.all_vectors(), list(loaded.chunks)
    lines = [json.dumps(c.to_json(), ensure_ascii=False).encode() + b"\n" for c in chunks]
    for name in (manifest_io.VECTORS, manifest_io.CHUNKS, manifest_io.OFFSETS):
        (index_dir / name).unlink()
    storage.write_synced(index_dir / manifest_io.VECTORS, storage.npy_writer(vectors.astype(np.float32)))
    storage.write_synced(index_dir / manifest_io.LEGACY_CHUNKS, b"".join(lines))
    offsets = np.cumsum([0, *map(len, lines)], dtype=np.int64)
    storage.write_synced(index_dir / manifest_io.OFFSETS, storage.npy_writer(offsets))
    obj = json.loads((index_dir / manifest_io.NAME).read_text(encoding="utf-8"))
    files = {k: v for k, v in obj["files"].items() if k != manifest_io.CHUNKS}
    for name in (manifest_io.VECTORS, manifest_io.LEGACY_CHUNKS, manifest_io.OFFSETS):
        files[name] = storage.record(index_dir / name)
    (index_dir / manifest_io.NAME).write_text(json.dumps(obj | {"format": 3, "files": files}))


def test_a_format_3_index_answers_and_the_next_build_rewrites_it_reusing_everything(corpus: Path):
    index_dir = corpus.parent / "index"
    build(corpus, index_dir, HashingEmbedder(), P)
    new = load_index(index_dir)
    assert new.manifest.format == manifest_io.BASE_FORMAT == 5 and (index_dir / "chunks.zlib").is_file()
    chunks, vectors = list(new.chunks), new.all_vectors()
    question = "does desire need space?"
    want = [p.chunk for p in Retriever(new, HashingEmbedder(), corpus).search(question, 5)]
    _as_format_3(index_dir)

    old = load_index(index_dir)
    assert old.manifest.format == 3 and list(old.chunks) == chunks
    assert 'format 3 is served as it is; "rag build" rewrites it in format 5' in "\n".join(
        index_status(corpus, index_dir).lines()
    )
    assert np.array_equal(old.all_vectors(), vectors)
    assert [p.chunk for p in Retriever(old, HashingEmbedder(), corpus).search(question, 5)] == want

    again = HashingEmbedder()
    report = build(corpus, index_dir, again, P)
    assert report.full_rebuild.startswith("index format 3 -> 5: passages compressed")
    assert again.embedded == 0 and report.sentences_embedded == 0 and report.wrote
    rewritten = load_index(index_dir)
    assert rewritten.manifest.format == 5 and not (index_dir / manifest_io.LEGACY_CHUNKS).exists()
    assert list(rewritten.chunks) == chunks and np.array_equal(rewritten.all_vectors(), vectors)
