"""Index formats 5 and 7: passages compressed in blocks (5: vectors as float16; 7: vectors as int8, sentence
vectors as int4); formats 3 and 5 still read, then rewritten."""

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


def _as_older(index_dir: Path, version: int) -> None:
    """Rewrite a format-7 (or, for 6, format-8) index as format 3, 5 or 6 wrote it: float32 (3) or float16
    vectors, int8 sentence vectors with their scales, and (3) one JSON line per passage."""
    from rag.index.sentence_store import decode, encode

    obj = json.loads((index_dir / manifest_io.NAME).read_text(encoding="utf-8"))
    files, dim = dict(obj["files"]), obj["embedder"]["dim"]
    assert (obj["format"], obj["sentences"]["encoding"]) == (8 if version == 6 else 7, "int4")
    replaced: dict[str, object] = {}
    for prefix in [segment["prefix"] for segment in obj.get("segments") or [{"prefix": ""}]]:
        vectors = storage.read_back(np.load(index_dir / (prefix + manifest_io.VECTORS)))
        rows = np.load(index_dir / (prefix + manifest_io.SENTENCE_VECTORS))
        int8, scales = encode(decode(rows, None, dim), "int8")
        kind = np.float32 if version == 3 else np.float16
        replaced[prefix + manifest_io.VECTORS] = storage.npy_writer(vectors.astype(kind))
        replaced[prefix + manifest_io.SENTENCE_VECTORS] = storage.npy_writer(int8)
        replaced[prefix + manifest_io.SENTENCE_SCALES] = storage.npy_writer(scales)
    if version == 3:
        chunks = list(load_index(index_dir).chunks)
        lines = [json.dumps(c.to_json(), ensure_ascii=False).encode() + b"\n" for c in chunks]
        replaced[manifest_io.LEGACY_CHUNKS] = b"".join(lines)
        replaced[manifest_io.OFFSETS] = storage.npy_writer(np.cumsum([0, *map(len, lines)], dtype=np.int64))
        (index_dir / manifest_io.CHUNKS).unlink()
        del files[manifest_io.CHUNKS]
    for name, data in replaced.items():
        (index_dir / name).unlink(missing_ok=True)
        storage.write_synced(index_dir / name, data)  # type: ignore[arg-type]
        files[name] = storage.record(index_dir / name)
    obj["sentences"]["encoding"] = "int8"
    (index_dir / manifest_io.NAME).write_text(json.dumps(obj | {"format": version, "files": files}))


@pytest.mark.parametrize("version", [3, 5, 6])
def test_an_older_index_answers_and_the_next_build_rewrites_it_reusing_everything(corpus: Path, version: int):
    index_dir = corpus.parent / "index"
    if version == 6:  # 40 articles, then one of them changed: a segment appended (format 8, made format 6)
        from .test_crash import _corpus

        corpus = corpus.parent / "many"
        _corpus(corpus, 40, variant=0)
        build(corpus, index_dir, HashingEmbedder(), P)
        edited = corpus / "a0007.txt"
        edited.write_text(edited.read_text(encoding="utf-8") + "\nA paragraph added. It is new.\n", "utf-8")
    build(corpus, index_dir, HashingEmbedder(), P)
    new = load_index(index_dir)
    assert new.manifest.format == (8 if version == 6 else 7) and (index_dir / "chunks.zlib").is_file()
    assert np.load(index_dir / manifest_io.VECTORS).dtype == np.int8
    chunks, vectors = list(new.chunks), new.all_vectors()
    question = "does desire need space?"
    want = [p.chunk for p in Retriever(new, HashingEmbedder(), corpus).search(question, 5)]
    _as_older(index_dir, version)

    old = load_index(index_dir)
    assert old.manifest.format == version and list(old.chunks) == chunks
    assert old.sentences is not None and old.sentences.encoding == "int8"
    assert f'format {version} is served as it is; "rag build" rewrites it in format 7' in "\n".join(
        index_status(corpus, index_dir).lines()
    )
    np.testing.assert_allclose(old.all_vectors(), vectors, atol=1e-3)
    assert [p.chunk for p in Retriever(old, HashingEmbedder(), corpus).search(question, 5)] == want

    again = HashingEmbedder()
    report = build(corpus, index_dir, again, P)
    assert report.full_rebuild.startswith(f"index format {version} -> 7: vectors stored as int8")
    assert again.embedded == 0 and report.sentences_embedded == 0 and report.wrote
    rewritten = load_index(index_dir)
    assert rewritten.manifest.format == 7 and not (index_dir / manifest_io.LEGACY_CHUNKS).exists()
    assert rewritten.manifest.segments is None and not list(index_dir.glob("seg*"))
    assert not (index_dir / manifest_io.SENTENCE_SCALES).exists()
    assert list(rewritten.chunks) == chunks and np.array_equal(rewritten.all_vectors(), vectors)
    assert rewritten.sentences is not None and rewritten.sentences.encoding == "int4"
    for row in range(len(chunks)):  # int4 of the int8 copy: within int4's own rounding of the original
        got, was = rewritten.sentences.passage(row)[1], new.sentences.passage(row)[1]
        assert (got * was).sum(axis=1).min() > 0.98
