"""Articles changed on disk are noticed (watchfiles) and indexed without pressing anything."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rag.ingest.watch import is_article, start_watching


def test_only_article_files_count():
    assert is_article("a.md") and is_article("sub/b.TXT")
    assert not is_article(".hidden.md") and not is_article(".text/page.txt") and not is_article("notes.json")


def test_changes_on_disk_arrive_as_one_batch(tmp_path: Path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    batches: list[set[str]] = []
    seen = threading.Event()

    def changed(paths: set[str]) -> None:
        batches.append(paths)
        seen.set()

    stop = start_watching(corpus, changed, debounce_ms=300)
    try:
        time.sleep(0.5)  # the watcher is up
        (corpus / "a.md").write_text("# A\n\nOne. Two.\n")
        (corpus / "sub" / "b.txt").write_text("Three. Four.\n")
        (corpus / ".draft.md").write_text("hidden\n")
        (corpus / "notes.json").write_text("{}\n")
        assert seen.wait(20), "no change was noticed"
        time.sleep(1.0)  # anything else that would arrive
    finally:
        stop.set()
    assert set().union(*batches) == {"a.md", "sub/b.txt"}
