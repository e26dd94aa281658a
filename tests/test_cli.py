"""The rag command with the real all-MiniLM-L6-v2 model: ranking, exact citations, one-line errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.index.manifest import NAME as MANIFEST

CLINGY = "how do I avoid being clingy?"


def _run(*args: str, ok: bool = True):
    result = CliRunner().invoke(main, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result


def _folders(seed_index) -> list[str]:
    corpus_dir, index_dir = seed_index
    return ["--corpus", str(corpus_dir), "--index", str(index_dir)]


def test_clingy_question_finds_the_clinginess_passage_first(seed_index):
    out = json.loads(_run("search", CLINGY, "-k", "5", "--json", *_folders(seed_index)).output)
    assert len(out) == 5 and [p["rank"] for p in out] == [1, 2, 3, 4, 5]
    top = out[0]
    assert "to be clingy" in top["text"] and "Desire needs space" in top["text"]
    assert top["section"] == "The worst thing you’ll likely do"
    assert out[0]["score"] >= out[1]["score"] >= out[4]["score"]
    for key in ("rank", "score", "article_id", "title", "section", "path", "start", "end", "text"):
        assert key in top


@pytest.mark.parametrize("fusion", ["zscore", "rrf"])
def test_hybrid_results_say_why_they_were_found(seed_index, fusion: str):
    args = ["search", CLINGY, "-k", "3", "--json", "--rerank", "none", "--fusion", fusion]
    out = json.loads(_run(*args, *_folders(seed_index)).output)
    assert "to be clingy" in out[0]["text"]
    assert {"dense_rank", "keyword_rank", "fused_score"} <= set(out[0]["why"])  # both rankers found it
    for p in out:
        assert "fused_score" in p["why"] and {"dense_rank", "keyword_rank"} & set(p["why"])
        assert p["score"] == p["why"]["fused_score"]
    assert [p["score"] for p in out] == sorted((p["score"] for p in out), reverse=True)
    if fusion == "rrf":  # sum of 1 / (60 + rank) over two rankings
        assert all(0 < p["score"] <= 2 / 61 for p in out)


def test_a_word_only_one_passage_holds_brings_that_passage_first(seed_index):
    # Dense search alone ranks it far down; BM25 finds only it, which z-score fusion must not ignore.
    folders = _folders(seed_index)
    keyword = json.loads(_run("search", "Antonio", "--mode", "keyword", "--json", *folders).output)
    dense = json.loads(_run("search", "Antonio", "-k", "16", "--mode", "dense", "--json", *folders).output)
    assert len(keyword) == 1
    assert [p["start"] for p in dense].index(keyword[0]["start"]) > 3
    hybrid = json.loads(_run("search", "Antonio", "--rerank", "none", "--json", *folders).output)
    assert hybrid[0]["start"] == keyword[0]["start"] and hybrid[0]["why"]["keyword_rank"] == 1


def test_scores_fall_with_rank_beyond_the_reranked_top(seed_index):
    out = json.loads(_run("search", CLINGY, "-k", "16", "--json", *_folders(seed_index)).output)
    assert len(out) > 10  # more than the rerank's 10: the rest keep their retrieval order
    assert "rerank_score" in out[0]["why"] and "rerank_score" not in out[-1]["why"]
    assert [p["score"] for p in out] == sorted((p["score"] for p in out), reverse=True)


def test_every_citation_slices_back_to_the_text(seed_index, monkeypatch):
    corpus_dir, _ = seed_index
    monkeypatch.chdir(corpus_dir.parent)  # paths are then relative: corpus/<file>
    for q in (CLINGY, "who wrote this?", "should I post photos of fun nights out?", "trust"):
        for p in json.loads(_run("search", q, "-k", "21", "--json", *_folders(seed_index)).output):
            assert p["path"].startswith("corpus/")
            original = Path(p["path"]).read_text(encoding="utf-8")
            assert original[p["start"] : p["end"]] == p["text"]
            assert "Related:" not in p["text"] and "Pages: 1 2" not in p["text"]


def test_author_question_finds_the_bio(seed_index):
    out = json.loads(_run("search", "about the author", "-k", "3", "--json", *_folders(seed_index)).output)
    assert out[0]["section"] == "About the author"


def test_human_output(seed_index):
    out = _run("search", CLINGY, "-k", "2", *_folders(seed_index)).output
    assert re.match(r"\[1\] -?\d+\.\d{3}  ", out)
    assert "The worst thing you’ll likely do" in out and ".txt:" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", CLINGY, "-k", "0"], "-k must be at least 1 (got 0)"),
        (["search", "   "], "the question is empty"),
        (["search", "x" * 100_000], "the question is 100,000 characters; the limit is 2,000"),
    ],
)
def test_query_errors(seed_index, args, message):
    result = _run(*args, *_folders(seed_index), ok=False)
    assert result.exit_code == 1
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_huge_k_returns_every_piece_of_evidence_once(seed_index):
    corpus_dir, _ = seed_index
    out = json.loads(_run("search", CLINGY, "-k", str(10**9), "--json", *_folders(seed_index)).output)
    # neighbours sharing a sentence are merged: fewer results than passages, none overlapping
    assert 2 < len(out) < 16  # 16 passages at the default 160 words
    spans = sorted((p["article_id"], p["start"], p["end"]) for p in out)
    for (a1, _, e1), (a2, s2, _) in zip(spans, spans[1:], strict=False):
        assert a1 != a2 or s2 >= e1
    for p in out:
        original = (corpus_dir / Path(p["path"]).name).read_text(encoding="utf-8")
        assert original[p["start"] : p["end"]] == p["text"]


def test_missing_index_and_other_model(seed_index, tmp_path: Path):
    corpus_dir, index_dir = seed_index
    result = _run("search", CLINGY, "--corpus", str(corpus_dir), "--index", str(tmp_path / "none"), ok=False)
    assert result.exit_code == 1 and "no index at" in result.output and "rag build" in result.output
    other = tmp_path / "other"
    shutil.copytree(index_dir, other)
    manifest = json.loads((other / MANIFEST).read_text())
    manifest["embedder"]["fingerprint"] = "0" * 64  # built with other model files
    (other / MANIFEST).write_text(json.dumps(manifest))
    result = _run("search", CLINGY, "--corpus", str(corpus_dir), "--index", str(other), ok=False)
    assert "the files of model sentence-transformers/all-MiniLM-L6-v2 changed since" in result.output
    assert 'run "rag build' in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.slow  # `rag build` with the default, real model
def test_build_info_and_stale(corpus: Path):
    index = corpus.parent / "index"
    dry = _run("build", "--corpus", str(corpus), "--index", str(index), "--dry-run").output
    assert "passages: 16 (16 to embed, 0 reused)" in dry and not index.exists()
    out = _run("build", "--corpus", str(corpus), "--index", str(index)).output
    assert "full rebuild: no index yet" in out and "articles: 2 added" in out and "passages/s" in out
    info = _run("info", "--corpus", str(corpus), "--index", str(index)).output
    assert "articles: 2, passages: 16" in info and "up to date with" in info
    (corpus / "extra.txt").write_text("A brand new article. It has two sentences.", encoding="utf-8")
    info = _run("info", "--corpus", str(corpus), "--index", str(index)).output
    assert "stale against" in info and "1 new" in info
    again = _run("build", "--corpus", str(corpus), "--index", str(index), "--json").output
    report = json.loads(again)
    assert report["added"] == ["extra"] and report["embedded"] == 1 and report["reused"] == 16


def test_build_errors_are_one_line(tmp_path: Path):
    result = _run("build", "--corpus", str(tmp_path / "missing"), "--index", str(tmp_path / "i"), ok=False)
    assert result.exit_code == 1 and "does not exist - create it" in result.output
    assert len(result.output.strip().splitlines()) == 1
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_bytes(b"\xff\xfe\x00bin")
    result = _run("build", "--corpus", str(tmp_path / "c"), "--index", str(tmp_path / "i"), ok=False)
    assert "a.txt contains NUL bytes" in result.output and "Traceback" not in result.output
