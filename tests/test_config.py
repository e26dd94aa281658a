"""Settings from the RAG_* variables: one table (config.ENV) read in one loop, and the CLI's flags offer
the choices and minimums that table names."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from rag.cli import main, serve_settings
from rag.config import ENV, FUSIONS, INDEX_TYPES, MODES, PRECISIONS, RERANKERS, Settings, cache_root
from rag.errors import RagError

EVERY = {
    "RAG_CORPUS": "c",
    "RAG_INDEX": "i",
    "RAG_STORE": "postgresql://rag@db/rag",
    "RAG_POOL_SIZE": "8",
    "RAG_FEEDBACK": "f.jsonl",
    "RAG_MODEL": "m",
    "RAG_RETRIEVAL": "dense",
    "RAG_FUSION": "rrf",
    "RAG_FUSION_DEPTH": "50",
    "RAG_INDEX_TYPE": "hnsw",
    "RAG_PRECISION": "fp32",
    "RAG_RERANK": "none",
    "RAG_ABSTAIN": "off",
    "RAG_LLM_URL": "http://127.0.0.1:11434/v1",
    "RAG_LLM_MODEL": "llm",
    "RAG_K": "7",
    "RAG_CHUNK_WORDS": "80",
    "RAG_HOST": "0.0.0.0",
    "GRADIO_SERVER_PORT": "8000",
    "RAG_AUTH": "reader:s3cret",
}


def test_every_variable_sets_its_setting():
    assert set(EVERY) == {var.name for var in ENV}
    s = Settings.from_env(EVERY)
    assert (s.corpus_dir, s.index_dir, s.feedback_path) == (Path("c"), Path("i"), Path("f.jsonl"))
    assert (s.store, s.pool_size) == ("postgresql://rag@db/rag", 8)
    assert (s.model, s.retrieval, s.fusion, s.fusion_depth) == ("m", "dense", "rrf", 50)
    assert (s.index_type, s.precision, s.rerank, s.abstain) == ("hnsw", "fp32", "none", False)
    assert (s.llm_url, s.llm_model, s.k, s.chunking.max_words) == (EVERY["RAG_LLM_URL"], "llm", 7, 80)
    assert (s.host, s.port, s.auth) == ("0.0.0.0", 8000, "reader:s3cret")
    assert s.chunking.overlap_sentences == Settings().chunking.overlap_sentences


def test_an_empty_variable_means_unset():
    assert Settings.from_env({name: "" for name in EVERY}) == Settings.from_env({})
    assert Settings.from_env({}).host == "127.0.0.1"  # never every interface by default


@pytest.mark.parametrize("var", [var for var in ENV if var.kind is int], ids=lambda var: var.name)
def test_whole_numbers_are_checked_with_the_variable_named(var):
    below = str(var.minimum - 1)
    with pytest.raises(RagError, match=f"{var.name}='{below}' is below its minimum {var.minimum}"):
        Settings.from_env({var.name: below})
    with pytest.raises(RagError, match=f"{var.name}='abc' is not a whole number"):
        Settings.from_env({var.name: "abc"})


def test_the_cache_dir_is_a_setting(tmp_path: Path):
    assert Settings.from_env({"RAG_CACHE_DIR": str(tmp_path)}).cache_dir == tmp_path
    assert Settings.from_env({"XDG_CACHE_HOME": str(tmp_path)}).cache_dir == tmp_path / "rag"
    assert cache_root({}) == Path.home() / ".cache" / "rag"


@pytest.mark.parametrize(
    ("command", "param", "choices"),
    [
        ("ask", "retrieval", MODES),
        ("search", "fusion", FUSIONS),
        ("search", "rerank", RERANKERS),
        ("build", "precision", PRECISIONS),
        ("build", "index_type", INDEX_TYPES),
    ],
)
def test_flags_offer_the_choices_of_their_setting(command: str, param: str, choices: tuple[str, ...]):
    option = next(p for p in main.commands[command].params if p.name == param)
    assert isinstance(option.type, click.Choice) and tuple(option.type.choices) == choices


def test_flags_take_the_minimum_of_their_setting():
    words = next(p for p in main.commands["build"].params if p.name == "chunking_max_words")
    assert isinstance(words.type, click.IntRange) and words.type.min == 10
    port = next(p for p in main.commands["serve"].params if p.name == "port")
    assert isinstance(port.type, click.IntRange) and port.type.min == 1
    pool = next(p for p in main.commands["serve"].params if p.name == "pool_size")
    assert isinstance(pool.type, click.IntRange) and pool.type.min == 1


def test_serve_takes_the_store_and_its_pool_size_flag_over_the_variable(monkeypatch):
    monkeypatch.setenv("RAG_STORE", "postgresql://env@db/rag")
    monkeypatch.setenv("RAG_POOL_SIZE", "3")
    from_env = serve_settings(None, None, None, None, None)
    assert (from_env.store, from_env.pool_size) == ("postgresql://env@db/rag", 3)
    s = serve_settings(None, None, None, None, None, store="postgresql://flag@db/rag", pool_size=9)
    assert (s.store, s.pool_size) == ("postgresql://flag@db/rag", 9)
    refused = CliRunner().invoke(main, ["serve", "--pool-size", "0"])
    assert refused.exit_code == 2 and "--pool-size" in refused.output
