"""Bad input to `rag build --store`: the same articles and corpus folders test_bad_input.py gives the folder
index, against a real PostgreSQL store (pglocal.py). Each gets one clear line and exit code 1 from the
CLI, and the store keeps what it held: the same articles, passages and generation (no write committed).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rag.index.index_folder import load_index
from rag.index.pgstore import PgStore

from .test_bad_input import BAD_ARTICLES, clear_error
from .test_pgindex import copied


class StoreWorkspace:
    """A copy of the seed corpus, the store holding the seed index, and what the store held before."""

    def __init__(self, dsn: str, seed_index: tuple[Path, Path], base: Path) -> None:
        corpus_src, index_src = seed_index
        self.dsn, self.base, self.corpus = dsn, base, base / "corpus"
        shutil.copytree(corpus_src, self.corpus)
        copied(dsn, load_index(index_src)).close()
        self.before = self._contents()

    def _contents(self) -> tuple[dict[str, str], int, int]:
        with PgStore(self.dsn) as store:
            articles = {aid: facts["sha256"] for aid, facts in store.articles().items()}
            return articles, store.count(), store.generation()

    def args(self, corpus: Path | None = None) -> list[str]:
        return ["build", "--corpus", str(corpus or self.corpus), "--store", self.dsn]

    def nothing_lost(self) -> None:
        assert self._contents() == self.before, "the store changed"


@pytest.fixture
def sws(pg_dsn: str, seed_index: tuple[Path, Path], tmp_path: Path) -> StoreWorkspace:
    return StoreWorkspace(pg_dsn, seed_index, tmp_path)


@pytest.mark.parametrize(
    ("name", "filename", "data", "names"), BAD_ARTICLES, ids=[c[0] for c in BAD_ARTICLES]
)
def test_bad_article_is_refused_and_the_store_kept(sws: StoreWorkspace, name, filename, data, names):
    (sws.corpus / filename).write_bytes(data)
    line = clear_error(f"store: {name}", sws.args(), names)
    print(f"\nstore, {name}: {line}")
    sws.nothing_lost()


def test_corpus_folders_that_cannot_be_built_keep_the_store(sws: StoreWorkspace):
    missing = sws.base / "no-such-folder"
    clear_error("store: a missing corpus folder", sws.args(missing), [str(missing), "does not exist"])
    article = next(sws.corpus.iterdir())
    clear_error("store: a corpus path that is a file", sws.args(article), [str(article), "is not a folder"])
    for f in sws.corpus.iterdir():
        f.unlink()
    clear_error("store: an empty corpus folder", sws.args(), [str(sws.corpus), "has no .txt or .md"])
    sws.nothing_lost()
