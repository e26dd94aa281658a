"""The manifest: one typed owner of manifest.json, byte for byte the JSON format-3 indexes hold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag import bench
from rag.config import ChunkParams
from rag.errors import IndexLoadError
from rag.index import manifest
from rag.index.build import build
from rag.index.index_folder import load_index
from rag.index.manifest import FORMAT_VERSION, ArticleRecord, EmbedderInfo, Manifest
from rag.index.status import index_status

# A manifest as the code before manifest.py wrote it (an HNSW index, an article with recurring lines);
# abridged: two articles, fewer library versions.
OLD_FORMAT_3 = """{
  "created": "2026-11-30T14:24:50+00:00",
  "pipeline": 2,
  "embedder": {
    "name": "sentence-transformers/all-MiniLM-L6-v2",
    "dim": 384,
    "fingerprint": "aad501698b1a7a90e7b66df3916aa9fcfc772a3fa15611d02f14c3e26dd715ae",
    "precision": "bf16"
  },
  "chunking": {
    "max_words": 160,
    "overlap_sentences": 1,
    "prefix": "title_section"
  },
  "index_type": "hnsw-ip",
  "hnsw": {
    "M": 32,
    "efConstruction": 40,
    "efSearch": 512,
    "refine": 50,
    "storage": "sq8"
  },
  "keyword": {
    "method": "bm25-lucene",
    "k1": 1.5,
    "b": 0.75,
    "tokenizer": {
      "lower": true,
      "token_pattern": "(?u)\\\\b\\\\w\\\\w+\\\\b",
      "stopwords": "en_plus",
      "stemmer": "english"
    },
    "text": "embed_text"
  },
  "articles": {
    "000_724d5b54972ab479": {
      "path": "000_724d5b54972ab479.txt",
      "sha256": "9519b6e6f6f4e9228d4449c81bc21f0ef5e646bdaf687dcedca4b9860961fc54",
      "title": "000 724d5b54972ab479",
      "title_source": "filename",
      "author": "",
      "url": "",
      "chunks": 9,
      "recurring": "5e1a111c69155861"
    },
    "002_28c6eb84cb694cfe": {
      "path": "002_28c6eb84cb694cfe.txt",
      "sha256": "b95ac55e792630f9c0e5620bdefa2090caed6c45a91ff2af74334724ee0d6bfb",
      "title": "How To Make A Man Miss You: Three Powerful Ways To Be “Missed”",
      "title_source": "detected",
      "author": "Clayton Olson",
      "url": "",
      "chunks": 7
    }
  },
  "counts": {
    "articles": 2,
    "chunks": 16
  },
  "versions": {
    "python": "3.11.7",
    "rag": "0.1.0"
  },
  "format": 3,
  "files": {
    "vectors.npy": {
      "bytes": 24704,
      "sha256": "7dad99fe4e3b4512d8f2850da22173cf50713cb5b83a045ffc1cc85e5ddc6781"
    }
  }
}"""


def test_an_existing_format_3_manifest_is_written_back_byte_for_byte():
    m = Manifest.from_json(json.loads(OLD_FORMAT_3))
    m.validate()
    assert m.dumps().decode() == OLD_FORMAT_3
    assert m.embedder == EmbedderInfo(
        "sentence-transformers/all-MiniLM-L6-v2", 384, m.embedder.fingerprint, "bf16"
    )
    assert m.chunking == ChunkParams() and m.chunk_count == 16 and m.article_count == 2
    assert m.articles["000_724d5b54972ab479"].recurring == "5e1a111c69155861"
    assert m.articles["002_28c6eb84cb694cfe"].author == "Clayton Olson" and m.hnsw and m.hnsw["M"] == 32


def test_a_built_index_reads_back_equal_and_writes_the_same_bytes(corpus: Path, hasher):
    index_dir = corpus.parent / "index"
    build(corpus, index_dir, hasher, ChunkParams())
    m = manifest.read(index_dir)
    assert Manifest.from_json(m.to_json()) == m
    assert m.dumps() == (index_dir / manifest.NAME).read_bytes()
    assert load_index(index_dir).manifest == m
    assert m.format == manifest.BASE_FORMAT and m.embedder.fingerprint == hasher.fingerprint  # a full write
    assert (
        sum(record.chunks for record in m.articles.values())
        == m.chunk_count
        == len(load_index(index_dir).chunks)
    )


def test_an_article_without_recurring_lines_writes_no_such_key():
    record = ArticleRecord("a.txt", "0" * 64, 3, title="A")
    assert "recurring" not in record.to_json()
    assert ArticleRecord.from_json(record.to_json(), "a") == record


@pytest.fixture
def built(corpus: Path, hasher) -> Path:
    build(corpus, corpus.parent / "index", hasher, ChunkParams())
    return corpus.parent / "index"


def _rewrite(index_dir: Path, edit) -> None:
    obj = json.loads((index_dir / manifest.NAME).read_text(encoding="utf-8"))
    edit(obj)
    (index_dir / manifest.NAME).write_text(json.dumps(obj), encoding="utf-8")


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda m: m["embedder"].pop("fingerprint"), "embedder.fingerprint is missing"),
        (lambda m: m["embedder"].update(dim="384"), "embedder.dim is '384', not a whole number"),
        (lambda m: m["embedder"].update(dim=0), "embedder.dim is 0, not a positive number"),
        (lambda m: m["counts"].update(articles=5), "counts.articles is 5 but 2 articles are listed"),
        (lambda m: m.update(index_type="ivf-pq"), "index_type is 'ivf-pq', not one of flat-ip, hnsw-ip"),
        (lambda m: m["chunking"].update(stride=3), "chunking has unknown fields"),
        (lambda m: m.pop("files"), "files is missing"),
    ],
)
def test_a_broken_manifest_is_one_line_naming_the_field_and_the_fix(built: Path, edit, says: str):
    _rewrite(built, edit)
    with pytest.raises(IndexLoadError) as exc:
        manifest.read(built)
    message = str(exc.value)
    assert "\n" not in message and says in message
    assert message.startswith(f"{built / manifest.NAME} is damaged (") and 'run "rag build --index' in message
    with pytest.raises(IndexLoadError, match="is damaged"):
        load_index(built)


@pytest.mark.parametrize(
    "edit, says",
    [
        (lambda m: next(iter(m["articles"].values())).pop("sha256"), "].sha256 is missing"),
        (lambda m: next(iter(m["articles"].values())).update(chunks=True), "].chunks is True, not a whole"),
        (lambda m: next(iter(m["articles"].values())).update(title=7), "].title is 7, not a string"),
    ],
)
def test_a_broken_article_record_is_one_line_when_it_is_read(built: Path, corpus: Path, edit, says: str):
    # Records are parsed when first read (manifest.Articles: 105,000 of them at a million passages), so a
    # damaged one is refused then, with the same one line, and the index status asks for a build.
    _rewrite(built, edit)
    m = manifest.read(built)
    with pytest.raises(IndexLoadError) as exc:
        list(m.articles.values())
    message = str(exc.value)
    assert "\n" not in message and says in message
    assert message.startswith(f"{built / manifest.NAME} is damaged (") and 'run "rag build --index' in message
    status = index_status(corpus, built, manifest.read(built), contents=False)
    assert status.stale == (says == "].sha256 is missing")  # the start's check reads paths and hashes only
    assert ("is damaged" in status.problem) == status.stale


def test_old_future_and_unreadable_manifests_say_what_to_run(built: Path):
    _rewrite(built, lambda m: m.update(format=2))
    with pytest.raises(
        IndexLoadError, match=r"has the old index format 2 - run \"rag build --index .*\" to rebuild"
    ):
        manifest.read(built)
    _rewrite(built, lambda m: m.update(format=FORMAT_VERSION + 1))
    with pytest.raises(
        IndexLoadError,
        match=rf"index format {FORMAT_VERSION + 1}, this rag reads format {FORMAT_VERSION} - upgrade rag",
    ):
        manifest.read(built)
    (built / manifest.NAME).write_text("[1, 2", encoding="utf-8")
    with pytest.raises(IndexLoadError, match="manifest.json is damaged - run"):
        manifest.read(built)
    (built / manifest.NAME).unlink()
    with pytest.raises(IndexLoadError, match="has no manifest.json, so it is not a complete index"):
        manifest.read(built)


def test_a_format_2_manifest_yields_its_fingerprint_for_vector_reuse(built: Path, hasher):
    assert manifest.older_format_fingerprint(built, 2) is None  # it is format 7
    _rewrite(built, lambda m: m.update(format=2))
    assert manifest.older_format_fingerprint(built, 2) == hasher.fingerprint
    assert manifest.older_format_fingerprint(built.parent / "nowhere", 2) is None


def test_a_bench_built_index_reads_through_the_manifest(tmp_path: Path):
    rng = np.random.default_rng(0)
    texts = [
        f"cell {w} membrane protein signal {i}" for i, w in enumerate(["alpha", "beta", "gamma", "delta"])
    ]
    vectors = bench.random_unit_vectors(len(texts), 16, rng)
    real = bench.RealPassages([str(i) for i in range(len(texts))], ["T"] * len(texts), texts, vectors, "test")
    embedder = EmbedderInfo("random-16", 16, "random-16-v0")
    description = bench.write_scale_index(tmp_path, 24, real, embedder)
    m = manifest.read(tmp_path / "index")
    assert m.embedder == embedder and m.chunk_count == 24 and m.bench is not None
    assert m.bench["generated_passages"] == description["generated_passages"] == 20
    assert m.chunking == ChunkParams(max_words=0, overlap_sentences=0, prefix="none")
    assert m.articles["scifact/000/0000000"].title_source == "front_matter"
    assert load_index(tmp_path / "index").manifest == m
