"""The running assistant's state: the retriever it serves from, and rebuilds that do not interrupt it.

Questions are answered from `self.retriever`. A rebuild runs in a background thread (holding the build
lock, like `rag build`); only when it has written and verified a complete new index is a new Retriever
loaded and swapped in with one assignment, so every answer comes from one complete index, old or new.
A failed rebuild leaves the previous index serving and keeps the error to show. It does not render
anything (render.py, app.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .abstain import AbstentionPolicy
from .ask import LLMEndpoint, Reply, ask
from .build import BuildReport, build
from .config import Settings
from .embed import SentenceTransformerEmbedder
from .errors import RagError
from .index_folder import load_index
from .manifest import NAME as MANIFEST
from .retrieve import Retriever
from .status import IndexStatus, index_status
from .types import Passage

log = logging.getLogger(__name__)


@dataclass
class RebuildState:
    running: bool = False
    started: float = 0.0
    finished: float = 0.0
    report: BuildReport | None = None
    error: str = ""
    generation: int = 0  # how many rebuilds have been swapped in
    fraction: float = 0.0
    stage: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class Assistant:
    """One corpus, one index, one retriever at a time."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.corpus_dir = settings.corpus_dir
        self.index_dir = settings.index_dir
        self._retriever: Retriever | None = None
        self._stamp: tuple[int, int, int] | None = None  # the manifest file the retriever was loaded from
        self._checked = 0.0
        self._reload_lock = threading.Lock()
        self.rebuild_state = RebuildState()
        self._again = False  # another rebuild is due once the running one ends
        self.problem = ""  # shown in the UI, e.g. an article that stops the index from being refreshed

    @property
    def retriever(self) -> Retriever:
        """The retriever serving now: loaded on first use, and again when another process (a `rag build`
        in a terminal) has swapped a new index in, so answers never cite an index that is gone."""
        if self._retriever is None or self._index_swapped():
            with self._reload_lock:
                if self._retriever is None or self._index_swapped(force=True):
                    stamp = self._manifest_stamp()  # before loading: a swap during the load shows next time
                    try:
                        self._retriever = self._open_retriever()
                        self._stamp = stamp
                    except RagError:
                        if self._retriever is None:
                            raise
                        log.warning("a new index appeared but does not load yet; still serving the old one")
        return self._retriever

    RECHECK_SECONDS = 1.0  # how often a question looks at the manifest's stat (microseconds each)

    def _manifest_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = (self.index_dir / MANIFEST).stat()
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _index_swapped(self, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._checked < self.RECHECK_SECONDS:
            return False
        self._checked = now
        stamp = self._manifest_stamp()
        return stamp is not None and stamp != self._stamp

    @property
    def llm(self) -> LLMEndpoint | None:
        s = self.settings
        return LLMEndpoint(s.llm_url, s.llm_model) if s.llm_url else None

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        generative: bool = False,
        history: list[str] | None = None,
        article: str | None = None,
    ) -> Reply:
        retriever = self.retriever  # one index for the whole answer, even if a rebuild swaps meanwhile
        if mode and mode != retriever.mode:
            retriever = retriever.with_settings(mode=mode)
        policy = AbstentionPolicy(enabled=self.settings.abstain)
        return ask(
            retriever,
            question,
            k=k or self.settings.k,
            policy=policy,
            llm=self.llm if generative else None,
            history=history or (),
            article=article,
        )

    def search(
        self, question: str, *, k: int | None = None, mode: str | None = None, article: str | None = None
    ) -> list[Passage]:
        return self.retriever.search(question, k or self.settings.k, mode=mode, article=article)

    def status(self) -> IndexStatus:
        """The serving index against the corpus (loads the index from disk only when none serves yet)."""
        serving = self._retriever.index.manifest if self._retriever is not None else None
        return index_status(self.corpus_dir, self.index_dir, serving)

    def build_now(self) -> BuildReport:
        """Build in this thread (start-up); then serve from the result."""
        report = self._build(progress=True)
        self._retriever = None
        self.problem = ""
        return report

    def _build(self, **progress: Any) -> BuildReport:
        """Build with the settings' model, chunking and index type (progress: a bar or a callback)."""
        s = self.settings
        embedder = SentenceTransformerEmbedder(s.model, batch_size=s.batch_size, precision=s.precision)
        return build(
            self.corpus_dir, self.index_dir, embedder, s.chunking, index_type=s.index_type, **progress
        )

    def _open_retriever(self) -> Retriever:
        old = self._retriever
        if old is not None:  # a new index of the same model: keep the question embedder and its caches
            index = load_index(self.index_dir)
            if index.manifest.embedder.fingerprint == old.index.manifest.embedder.fingerprint:
                return old.with_settings(index=index)
        return Retriever.from_settings(self.settings, self.index_dir, self.corpus_dir)

    def start_rebuild(self) -> bool:
        """Start a background rebuild; False if one is already running."""
        state = self.rebuild_state
        with state.lock:
            if state.running:
                return False
            state.running, state.started, state.error, state.report = True, time.time(), "", None
            state.fraction, state.stage = 0.0, "reading the articles"
        threading.Thread(target=self._rebuild, name="rag-rebuild", daemon=True).start()
        return True

    def _rebuild(self) -> None:
        state = self.rebuild_state
        try:
            report = self._build(on_progress=self._progress)
            self._progress(0.98, "loading the new index")
            stamp = self._manifest_stamp()
            fresh = self._open_retriever()
            self._retriever, self._stamp = fresh, stamp  # the swap: one assignment serves the new index
            state.report = report
            state.generation += 1
        except RagError as exc:
            state.error = str(exc)
        except OSError as exc:
            state.error = f"cannot write the index ({exc.strerror}) - the previous index is still serving"
        except Exception as exc:  # a bug: keep serving, show it, log the traceback
            log.exception("rebuild failed")
            state.error = (
                f"rebuild failed ({exc.__class__.__name__}: {exc}) - the previous index is still serving"
            )
        finally:
            state.finished = time.time()
            state.running = False
            if self._again:  # articles changed on disk while this rebuild ran: index them too
                self._again = False
                self.start_rebuild()

    def rebuild_soon(self) -> None:
        """Index changes made on disk (the watcher): start a rebuild, or one more after the running one."""
        if not self.start_rebuild():
            self._again = True

    def _progress(self, fraction: float, stage: str) -> None:
        self.rebuild_state.fraction, self.rebuild_state.stage = fraction, stage

    def wait_for_rebuild(self, timeout: float = 600.0) -> None:
        deadline = time.time() + timeout
        while self.rebuild_state.running and time.time() < deadline:
            time.sleep(0.05)
