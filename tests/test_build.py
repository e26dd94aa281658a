"""Incremental builds: what is embedded, reused, added and removed, and what a failed build keeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.config import ChunkParams
from rag.errors import CorpusError
from rag.index.build import build
from rag.index.index_folder import load_index
from rag.index.manifest import NAME as MANIFEST
from rag.index.sentence_store import sentence_text, split_passage

from .conftest import HashingEmbedder

P = ChunkParams(max_words=120)  # the logic tests count passages at this size
A, B = "000_724d5b54972ab479", "002_28c6eb84cb694cfe"


def _sentence_texts(text: str) -> list[str]:
    return [sentence_text(text, s, e) for s, e, _ in split_passage(text)]


def _build(corpus: Path, embedder, params: ChunkParams = P, **kw):
    return build(corpus, corpus.parent / "index", embedder, params, **kw)


def test_first_build_then_no_change(corpus: Path, hasher: HashingEmbedder):
    first = _build(corpus, hasher)
    assert first.full_rebuild == "no index yet" and set(first.added) == {A, B}
    assert first.embedded == first.passages == 21 and first.wrote
    second = _build(corpus, HashingEmbedder())
    assert second.up_to_date and not second.wrote and second.embedded == 0 and second.reused == 21
    assert set(second.unchanged) == {A, B}


def test_editing_one_article_reembeds_only_its_changed_passages(corpus: Path, hasher):
    _build(corpus, hasher)
    path = corpus / f"{A}.txt"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace("Use mystery", "Use mystery\n\nKeep a little back. Nobody needs your diary.\n", 1),
        encoding="utf-8",
    )
    fresh = HashingEmbedder()
    report = _build(corpus, fresh)
    assert report.changed == (A,) and report.unchanged == (B,)
    index = load_index(corpus.parent / "index")
    mystery = [c for c in index.chunks if c.section == "Use mystery"]
    # only passages of the edited section changed (the edit moves where its passages end)
    assert report.embedded == len(fresh.calls[0]) == len(mystery) == 2
    assert all(text.startswith("Use mystery\n") for text in fresh.calls[0])
    # their sentences, and only theirs, are embedded next (the other passages' stored rows are reused)
    assert len(fresh.calls) == 2 and set(fresh.calls[1]) == {
        s for c in mystery for s in _sentence_texts(c.text)
    }
    assert report.sentences_embedded == sum(len(_sentence_texts(c.text)) for c in mystery)
    assert report.sentences == index.manifest.sentences["count"] > report.sentences_embedded > 0
    assert report.reused == report.passages - 2
    assert sum("Nobody needs your diary" in c.text for c in index.chunks) == 1


def test_deleting_an_article_removes_its_passages(corpus: Path, hasher):
    _build(corpus, hasher)
    (corpus / f"{B}.txt").unlink()
    report = _build(corpus, HashingEmbedder())
    assert report.removed == (B,) and report.embedded == 0
    index = load_index(corpus.parent / "index")
    assert {c.article_id for c in index.chunks} == {A}
    assert set(index.manifest.articles) == {A}


def test_renamed_file_reembeds_nothing(corpus: Path, hasher):
    _build(corpus, hasher)
    (corpus / "sub").mkdir()
    shutil.move(corpus / f"{B}.txt", corpus / "sub" / "man.txt")
    fresh = HashingEmbedder()
    report = _build(corpus, fresh)
    assert report.renamed == ((B, "sub/man"),) and report.added == () and report.removed == ()
    assert fresh.embedded == 0 and report.reused == 21
    paths = {c.path for c in load_index(corpus.parent / "index").chunks}
    assert paths == {f"{A}.txt", "sub/man.txt"}


def test_settings_changes_force_announced_full_rebuild(corpus: Path, hasher):
    _build(corpus, hasher)
    report = _build(corpus, HashingEmbedder(), ChunkParams(max_words=60))
    assert report.full_rebuild == "chunking changed (max_words 120 -> 60)"
    assert report.passages > 21
    other = HashingEmbedder(dim=32, name="other-model")
    report = _build(corpus, other, ChunkParams(max_words=60))
    assert report.full_rebuild == "model changed (test-hashing -> other-model)"
    assert len(other.calls[0]) == report.passages and report.reused == 0
    assert load_index(corpus.parent / "index").vectors.d == 32


def test_dry_run_changes_nothing(corpus: Path, hasher):
    _build(corpus, hasher)
    before = (corpus.parent / "index" / MANIFEST).read_bytes()
    (corpus / "new.md").write_text(
        "# A New Article\n\nIt says one new thing. And another.\n", encoding="utf-8"
    )
    fresh = HashingEmbedder()
    report = _build(corpus, fresh, dry_run=True)
    assert report.dry_run and report.added == ("new",) and report.embedded == 1 and not report.wrote
    assert fresh.embedded == 0
    assert (corpus.parent / "index" / MANIFEST).read_bytes() == before
    assert "dry run: nothing was written" in report.lines()


@pytest.mark.parametrize("bad", [b"", b"\x00\x01binary", b"\xff\xfe not utf8"])
def test_failed_build_keeps_previous_index(corpus: Path, hasher, bad: bytes):
    _build(corpus, hasher)
    manifest = json.loads((corpus.parent / "index" / MANIFEST).read_text())
    (corpus / "bad.txt").write_bytes(bad)
    with pytest.raises(CorpusError, match=r"bad\.txt"):
        _build(corpus, HashingEmbedder())
    index = load_index(corpus.parent / "index")
    assert index.manifest.created == manifest["created"] and len(index.chunks) == 21


def test_empty_corpus_and_duplicate_ids(tmp_path: Path, hasher):
    (tmp_path / "c").mkdir()
    with pytest.raises(CorpusError, match=r"has no \.txt or \.md articles - add some"):
        _build(tmp_path / "c", hasher)
    (tmp_path / "c" / "x.txt").write_text("Some text.")
    (tmp_path / "c" / "x.md").write_text("Other text.")
    with pytest.raises(CorpusError, match=r"both give the article id 'x' - rename one"):
        _build(tmp_path / "c", hasher)


def test_unusable_previous_index_is_rebuilt_with_a_reason(corpus: Path, hasher):
    _build(corpus, hasher)
    (corpus.parent / "index" / "chunks.zlib").write_text("garbage")
    report = _build(corpus, HashingEmbedder())
    assert report.full_rebuild.startswith("the previous index is unusable (")
    assert len(load_index(corpus.parent / "index").chunks) == 21


def test_index_type_is_recorded_and_a_change_reuses_every_vector(corpus: Path, hasher):
    first = _build(corpus, hasher, index_type="hnsw")
    index = load_index(corpus.parent / "index")
    assert first.wrote and index.manifest.index_type == "hnsw-ip" and index.manifest.hnsw["M"] == 32
    assert type(index.vectors).__name__ == "IndexHNSWSQ"
    again = HashingEmbedder()
    report = _build(corpus, again)  # auto: this small corpus wants exact search
    assert report.full_rebuild.startswith("index type changed (hnsw-ip -> flat-ip)")
    assert again.embedded == 0 and report.reused == report.passages
    assert load_index(corpus.parent / "index").manifest.index_type == "flat-ip"


def test_status_uses_a_manifest_the_caller_already_holds(corpus: Path, hasher):
    from rag.index.status import index_status

    _build(corpus, hasher)
    index_dir = corpus.parent / "index"
    manifest = load_index(index_dir).manifest
    (index_dir / "chunks.zlib").write_text("damaged on disk")  # not read when the manifest is given
    held = index_status(corpus, index_dir, manifest)
    assert not held.problem and not held.stale and held.manifest is manifest
    (corpus / "new.md").write_text("# New One\n\nA new article. It has words.\n", encoding="utf-8")
    assert index_status(corpus, index_dir, manifest).new == ("new.md",)
    assert "truncated or corrupted" in index_status(corpus, index_dir).problem  # without it: loaded, verified


def test_hnsw_rebuild_extends_the_graph_and_marks_removed_passages(corpus: Path, hasher):
    import numpy as np

    from rag.index.ann import MAX_DEAD

    index_dir = corpus.parent / "index"
    _build(corpus, hasher, index_type="hnsw")
    before = load_index(index_dir)
    assert np.array_equal(before.slots, np.arange(len(before.chunks)))
    article = sorted(corpus.glob("*.txt"))[0]
    text = article.read_text(encoding="utf-8")
    article.write_text(text.replace("Desire needs space.", "Desire needs room to breathe."), encoding="utf-8")
    embedder = HashingEmbedder()
    report = _build(corpus, embedder, index_type="hnsw")
    after = load_index(index_dir)
    assert not report.full_rebuild and 0 < report.embedded < len(after.chunks)
    assert after.vectors.ntotal == before.vectors.ntotal + report.embedded  # grown, not rebuilt
    assert (after.slots == -1).sum() == report.embedded and (after.slots == -1).mean() <= MAX_DEAD
    # every live node points at the row holding the same passage, and search stays exact
    query = after.all_vectors()[3:4]
    scores, rows = after.dense_search(query, 5)
    np.testing.assert_allclose(scores[0], np.sort(after.all_vectors() @ query[0])[::-1][:5], rtol=1e-5)
    assert rows[0][0] == 3
    # the index loaded before (its graph memory-mapped, ann.read_graph) still answers after the swap
    # replaced its folder: the build grew a graph it read into memory, never the mapped one
    old_scores, old_rows = before.dense_search(before.all_vectors()[3:4], 5)
    assert old_rows[0][0] == 3 and before.vectors.ntotal == len(before.chunks)
    # past MAX_DEAD dead nodes the graph is built afresh
    for n in range(4):
        article.write_text(text.replace("Desire needs space.", f"Desire needs space {n}.") + f"\nEdit {n}.\n")
        (corpus / f"extra{n}.md").write_text(f"# Extra {n}\n\nWords {n} " * 50, encoding="utf-8")
        _build(corpus, HashingEmbedder(), index_type="hnsw")
    final = load_index(index_dir)
    assert (final.slots == -1).mean() <= MAX_DEAD
    assert sorted(final.slots[final.slots >= 0].tolist()) == list(range(len(final.chunks)))


def test_an_index_in_the_previous_format_is_rewritten_without_re_embedding(corpus: Path, hasher):
    import faiss

    index_dir = corpus.parent / "index"
    _build(corpus, hasher)
    vectors = load_index(index_dir).all_vectors()
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    faiss.write_index(flat, str(index_dir / "vectors.faiss"))  # format 2: vectors.faiss + chunks.jsonl
    lines = [json.dumps(c.to_json()) for c in load_index(index_dir).chunks]
    (index_dir / "chunks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for name in ("vectors.npy", "chunks.offsets.npy", "chunks.zlib"):
        (index_dir / name).unlink()
    manifest = json.loads((index_dir / MANIFEST).read_text())
    (index_dir / MANIFEST).write_text(json.dumps({**manifest, "format": 2}))
    again = HashingEmbedder()
    report = _build(corpus, again)
    assert report.full_rebuild == "index format 2 -> 7: rewritten, its vectors reused"
    assert report.embedded == 0 and report.reused == report.passages
    # format 2 stored no sentences: they are all embedded, the passages none
    assert len(again.calls) == 1 and report.sentences_embedded == report.sentences > 0
    assert load_index(index_dir).manifest.format == 7


def test_a_line_that_comes_to_recur_is_dropped_from_the_older_article_too(tmp_path: Path, hasher):
    """Furniture is known by recurring across articles: adding a second page of a site cleans the first
    again at the next build, although the first page's bytes did not change."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    site = "Lovenotes readers get a free guide to better dates every single week."

    def page(title: str, body: str) -> str:
        return f"{title}\n\n{body}\n\n{site}\n\nThat is all there is to it, really.\n"

    (corpus / "a.txt").write_text(
        page("How To Listen Well", "Listen first and talk later, every time."), "utf-8"
    )
    _build(corpus, hasher)
    texts = [c.text for c in load_index(corpus.parent / "index").chunks]
    assert any("Lovenotes" in t for t in texts)  # one page alone: nothing says the line is furniture
    (corpus / "b.txt").write_text(page("How To Apologise", "Say sorry and name what you did wrong."), "utf-8")
    report = _build(corpus, HashingEmbedder())
    assert report.added == ("b",) and report.changed == ("a",)
    texts = [c.text for c in load_index(corpus.parent / "index").chunks]
    assert texts and not any("Lovenotes" in t for t in texts)
    assert _build(corpus, HashingEmbedder()).up_to_date


def test_a_dry_run_writes_no_extracted_text_and_a_build_does(tmp_path: Path, hasher):
    from .test_formats import PAGE

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "page.html").write_text(PAGE, encoding="utf-8")
    report = _build(corpus, hasher, dry_run=True)
    assert report.added == ("page",) and not (corpus / ".text").exists()
    _build(corpus, hasher)
    copy = (corpus / ".text" / "page.html.txt").read_text(encoding="utf-8")
    chunks = load_index(corpus.parent / "index").chunks
    assert chunks and all(copy[c.start : c.end] == c.text for c in chunks)
