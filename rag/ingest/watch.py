"""Notice articles changed on disk (an editor, a sync tool, files copied in) and have them indexed.

Uses watchfiles (inotify on Linux) on the corpus folder, recursively, looking only at article files
(not hidden ones, not the extracted-text copies or sidecars the cleaner keeps); bursts of changes are
debounced into one batch. `watch_corpus` calls `on_change` with each batch until `stop` is set; the
app starts a rebuild from it, `rag build --watch` builds. It does not build anything itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

DEBOUNCE_MS = 1600  # an editor's save (write, rename, chmod) or a copied folder arrives as one batch


def is_article(path: str) -> bool:
    """A path an index is built from: an article suffix, and no hidden part in its path."""
    from .read import SUFFIXES

    p = Path(path)
    return p.suffix.lower() in SUFFIXES and not any(part.startswith(".") for part in p.parts)


def watch_corpus(
    corpus_dir: Path,
    on_change: Callable[[set[str]], None],
    stop: threading.Event,
    *,
    debounce_ms: int = DEBOUNCE_MS,
) -> None:
    """Call on_change(changed corpus-relative paths) for each debounced batch until stop is set."""
    from watchfiles import watch

    root = corpus_dir.resolve()

    def relevant(_change: object, path: str) -> bool:
        try:
            return is_article(Path(path).resolve().relative_to(root).as_posix())
        except ValueError:
            return False

    for changes in watch(
        root, watch_filter=relevant, debounce=debounce_ms, stop_event=stop, yield_on_timeout=False
    ):
        changed = {Path(path).resolve().relative_to(root).as_posix() for _, path in changes}
        log.info("articles changed on disk: %s", ", ".join(sorted(changed)))
        on_change(changed)


def start_watching(
    corpus_dir: Path, on_change: Callable[[set[str]], None], *, debounce_ms: int = DEBOUNCE_MS
) -> threading.Event:
    """watch_corpus in a daemon thread; set the returned event to stop it."""
    stop = threading.Event()

    def run() -> None:
        try:
            watch_corpus(corpus_dir, on_change, stop, debounce_ms=debounce_ms)
        except Exception:  # a watcher that dies must not take the app with it: say so
            log.exception("the corpus watcher stopped; changes on disk need Rebuild index")

    threading.Thread(target=run, name="rag-watch", daemon=True).start()
    return stop
