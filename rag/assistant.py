"""The composition root: the one place that turns Settings into an embedder, a retriever, an abstention
policy and an LLM endpoint, and the one object the CLI and the web handlers call (build, search, ask,
status, evaluate).

Questions are answered from `self.retriever`, loaded on first use and again when another process (a
`rag build` in a terminal) swaps a new index in. A rebuild started here runs in a background thread
(holding the build lock, like `rag build`); only when it has written and verified a complete new index
is a new Retriever loaded and swapped in with one assignment, so every answer comes from one complete
index, old or new. A failed rebuild leaves the previous index serving and keeps the error to show.
With `settings.store` (a postgresql:// URL) questions are answered from that PostgreSQL store instead
(pgindex.PgIndex: the same retriever over the store interface, through a pool of `pool_size`
connections), reloaded when the store's generation moves on (another process's build included);
`build` writes the store (pgbuild.py: only what changed, under the store's build lock); what is
store-specific is in assistant_store.py.
It parses no input and renders nothing (cli.py, rag/web/).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .answer.abstain import AbstentionPolicy
from .answer.ask import LLMEndpoint, Reply, ask
from .assistant_store import StoreLink
from .config import ChunkParams, Settings, cache_root
from .errors import RagError
from .index.build import BuildReport, build
from .index.index_folder import load_index
from .index.manifest import NAME as MANIFEST
from .index.manifest import ArticleRecord
from .index.status import IndexStatus, index_status
from .index.store import IndexStore
from .search.retrieve import Retriever, check_k, check_question
from .types import Passage

if TYPE_CHECKING:
    from .evaluation.evaluate import EvalRun
    from .index.embed import SentenceTransformerEmbedder

log = logging.getLogger(__name__)
Say = Callable[[str], None]
CHECKED = "articles compared with the index"  # the line check_contents_later says when it is done


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
    """One corpus, one index, one retriever at a time, all wired from one Settings."""

    RECHECK_SECONDS = 1.0  # how often a question looks at the manifest's stat (microseconds each)

    def __init__(self, settings: Settings, *, query_model: str | None = None) -> None:
        self.settings = settings
        self.corpus_dir = settings.corpus_dir
        self.index_dir = settings.index_dir
        self.query_model = query_model  # must be the index's model (`rag search --model`); None: the index's
        self._retriever: Retriever | None = None
        # the manifest file (or the store's generation) the retriever was loaded from
        self._stamp: tuple[int, ...] | None = None
        self.store = StoreLink(settings.store, settings.pool_size) if settings.store else None
        self._checked = 0.0
        self._reload_lock = threading.Lock()
        self.rebuild_state = RebuildState()
        self._again = False  # another rebuild is due once the running one ends
        self.problem = ""  # shown in the UI, e.g. an article that stops the index from being refreshed
        # ensure_index compared paths only: the articles' contents are still to be compared (in the
        # background, check_contents_later), and what that check found
        self.contents_due = False
        self.checked_status: IndexStatus | None = None

    # ---- Settings into objects ---------------------------------------------------------------------

    def embedder(self) -> SentenceTransformerEmbedder:
        """The passage embedder of the settings' model, batch size and precision (torch: loaded lazily)."""
        from .index.embed import SentenceTransformerEmbedder

        s = self.settings
        return SentenceTransformerEmbedder(s.model, batch_size=s.batch_size, precision=s.precision)

    def policy(self) -> AbstentionPolicy:
        return AbstentionPolicy(enabled=self.settings.abstain)

    @property
    def llm(self) -> LLMEndpoint | None:
        s = self.settings
        return LLMEndpoint(s.llm_url, s.llm_model) if s.llm_url else None

    @property
    def cache_dir(self) -> Path:
        return self.settings.cache_dir or cache_root()

    def open_retriever(self, index_dir: Path | None = None, corpus_dir: Path | None = None) -> Retriever:
        """A Retriever over index_dir (default: the settings') with the settings' retrieval options."""
        s = self.settings
        return Retriever.over(
            self.load_index() if index_dir is None else load_index(index_dir),
            corpus_dir or self.corpus_dir,
            self.query_model,
            mode=s.retrieval,
            fusion=s.fusion,
            fusion_depth=s.fusion_depth,
            rerank=s.rerank,
        )

    def load_index(self) -> IndexStore:
        """The index the settings name: the folder index_dir, or the PostgreSQL store when one is set."""
        if self.store is None:
            return load_index(self.index_dir)
        return self.store.load_index()

    # ---- serving -----------------------------------------------------------------------------------

    @property
    def retriever(self) -> Retriever:
        """The retriever serving now: loaded on first use, and again when another process (a `rag build`
        in a terminal) has swapped a new index in, so answers never cite an index that is gone."""
        if self._retriever is None or self._index_swapped():
            with self._reload_lock:
                if self._retriever is None or self._index_swapped(force=True):
                    stamp = self._manifest_stamp()  # before loading: a swap during the load shows next time
                    try:
                        self._retriever = self._reopen()
                        self._stamp = stamp
                    except RagError:
                        if self._retriever is None:
                            raise
                        log.warning("a new index appeared but does not load yet; still serving the old one")
        return self._retriever

    def _manifest_stamp(self) -> tuple[int, ...] | None:
        if self.store is not None:  # the store's generation, bumped by every committed write
            return (self.store.generation(),)
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

    def _reopen(self) -> Retriever:
        old = self._retriever
        if old is not None:  # a new index of the same model: keep the question embedder and its caches
            index = self.load_index()
            if index.manifest.embedder.fingerprint == old.index.manifest.embedder.fingerprint:
                return old.with_settings(index=index)
        return self.open_retriever()

    def _checked_k(self, question: str, k: int | None) -> int:
        """k (default: the settings'), after the question and k are checked, before any index is loaded."""
        check_question(question, self.settings.max_question_chars)
        return check_k(self.settings.k if k is None else k)

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: str | None = None,
        generative: bool = False,
        history: list[str] | tuple[str, ...] | None = None,
        article: str | None = None,
    ) -> Reply:
        """Answer from the index serving now; `generative` uses the LLM endpoint when one is set;
        `article`: from that article only (its id or corpus-relative path)."""
        k = self._checked_k(question, k)
        retriever = self.retriever  # one index for the whole answer, even if a rebuild swaps meanwhile
        if mode and mode != retriever.mode:
            retriever = retriever.with_settings(mode=mode)
        return ask(
            retriever,
            question,
            k=k,
            policy=self.policy(),
            llm=self.llm if generative else None,
            history=history or (),
            article=article,
        )

    def search(
        self, question: str, *, k: int | None = None, mode: str | None = None, article: str | None = None
    ) -> list[Passage]:
        k = self._checked_k(question, k)
        return self.retriever.search(question, k, mode=mode, article=article)

    def indexed_articles(self) -> Mapping[str, ArticleRecord]:
        """The serving index's articles by article_id (path, title, sha256): only these are shown."""
        return self.retriever.index.manifest.articles

    def status(self, *, verify: bool = False, contents: bool = True) -> IndexStatus:
        """The serving index against the corpus (loads the index from disk only when none serves yet);
        `contents=False`: the articles' paths only, no file read (status.index_status)."""
        if self.store is not None:  # the snapshot serving now, after another process's build too
            serving = self.retriever.index.manifest if self._retriever is not None else None
            return self.store.status(self.corpus_dir, self.index_dir, serving, contents=contents)
        serving = self._retriever.index.manifest if self._retriever is not None else None
        return index_status(self.corpus_dir, self.index_dir, serving, verify=verify, contents=contents)

    def evaluate(
        self,
        query_file: Path | None = None,
        *,
        depth: int = 10,
        progress: bool = False,
        say: Say | None = None,
    ) -> EvalRun:
        """Retrieval and answers on a span-labelled query file (default: the settings' test questions)."""
        from .evaluation.evaluate import evaluate_query_file

        retriever = self.retriever
        if say is not None and (status := self.status()).stale:
            say(f'warning: {status.shown} is stale against {self.corpus_dir}/ - run "{status.rebuild}" first')
        return evaluate_query_file(
            retriever,
            query_file or self.settings.query_path,
            depth=depth,
            policy=self.policy(),
            progress=progress,
        )

    def evaluate_beir(
        self,
        beir_dir: Path,
        *,
        depth: int = 100,
        chunk_words: int = 0,
        overlap: int = 0,
        cache_dir: Path | None = None,
        say: Say = log.info,
    ) -> tuple[EvalRun, str, dict[str, float]]:
        """Build (or refresh) a benchmark index of a BEIR folder in the cache and evaluate on it;
        chunk_words 0 keeps whole documents.

        Returns the run, its label and the published figures for the model."""
        from .evaluation.beir import load_beir, published_figures, write_corpus
        from .evaluation.evaluate import evaluate_beir

        s = self.settings
        beir = load_beir(beir_dir)
        chunking = ChunkParams(max_words=chunk_words or 1_000_000, overlap_sentences=overlap, prefix="none")
        root = (cache_dir or self.cache_dir / "beir") / f"{beir.name}-{beir.fingerprint[:12]}"
        write_corpus(beir, root / "corpus")
        short = s.model.rstrip("/").rsplit("/", 1)[-1]
        embedder = self.embedder()
        bf16 = "-bf16" if embedder.precision == "bf16" else ""  # its own index: vectors are reused by text
        index_dir = root / f"index-{short}-{chunk_words or 'whole'}-{overlap}{bf16}"
        report = build(root / "corpus", index_dir, embedder, chunking, progress=True)
        say(f"benchmark index {index_dir}: " + "; ".join(report.lines()))
        retriever = self.open_retriever(index_dir, root / "corpus")
        settings = {
            "model": s.model,
            "precision": embedder.precision,
            "chunking": chunking.to_json(),
            "retrieval": s.retrieval,
            "fusion": s.fusion,
            "fusion_depth": s.fusion_depth,
            "rerank": s.rerank,
            "depth": depth,
            "build": report.to_json(),
        }
        run = evaluate_beir(
            retriever.search,
            beir.queries,
            beir.qrels,
            depth=depth,
            settings=settings,
            source=str(beir_dir),
            progress=True,
        )
        return run, f"beir-{beir.name}", published_figures(beir_dir, s.model)

    # ---- building ----------------------------------------------------------------------------------

    def build(
        self,
        *,
        dry_run: bool = False,
        embedder: SentenceTransformerEmbedder | None = None,
        compact: bool = False,
        waiting: Callable[[], None] | None = None,
        **progress: Any,
    ) -> BuildReport:
        """Build or refresh the index with the settings' model, chunking and index type in this thread
        (progress: `progress=True` for a bar, or `on_progress=callback`); `compact` writes it whole.
        With a store set, into the store (index type and `compact` are the folder's and do not apply);
        `waiting`: another process's build of the store is waited out, not refused (called meanwhile)."""
        s = self.settings
        if self.store is not None:  # only what changed written, under the store's build lock (pgbuild.py)
            embedder = embedder or self.embedder()
            return self.store.build(
                self.corpus_dir, embedder, s.chunking, waiting=waiting, dry_run=dry_run, **progress
            )
        return build(
            self.corpus_dir,
            self.index_dir,
            embedder or self.embedder(),
            s.chunking,
            dry_run=dry_run,
            index_type=s.index_type,
            compact=compact,
            **progress,
        )

    def build_now(self, **options: Any) -> BuildReport:
        """Build in this thread (start-up); then serve from the result."""
        report = self.build(progress=True, **options)
        self._retriever = None
        self.problem = ""
        return report

    def ensure_index(self, say: Say, warn: Say) -> None:
        """Build or refresh the index when it is missing, damaged or its articles were added or removed
        (before serving); articles changed in place are left to `check_contents_later`, which hashes
        them in the background and rebuilds while this index answers. If a refresh fails while an
        older index loads, serve that one and keep the reason in `problem`."""
        from .index.onnx_embed import read_export

        if self.store is not None:  # an empty store is built; a built one serves at once, its articles
            if self.store.is_empty():  # compared in the background (check_contents_later)
                say(f"index: the store at {self.store.shown} is empty - building")
                # another app starting on the same empty store: its build is waited out, not refused
                for line in self.build_now(waiting=self._wait_turn).lines():
                    say(line)
            self.retriever  # noqa: B018
            self.contents_due = True
            return
        # Load the index once, so that status() reuses its manifest; if it is missing, damaged or of
        # another format, status() says which and a build follows.
        try:
            self.retriever  # noqa: B018
            serving = True
        except RagError:
            serving = False
        # Paths only: hashing every article (1.4 GB at a million passages) took seconds before the
        # first answer, and an article edited in place is as well rebuilt in the background.
        status = self.status(contents=False)
        if not status.stale:
            if status.manifest is not None and read_export(status.manifest.embedder.fingerprint) is None:
                say("exporting the model for torch-free questions (once per machine)")
                self.build_now()  # an up-to-date build only makes the export
            self.contents_due = True
            return
        say(f"index: {status.problem or 'stale against ' + str(self.corpus_dir) + '/'} - building")
        try:
            for line in self.build_now().lines():
                say(line)
        except RagError as exc:
            if not serving:
                raise
            # One bad article must not take the whole library offline: serve the index as it is, say why.
            self.problem = (
                f"The index could not be refreshed: {exc}. Questions are answered from the index as it was."
            )
            warn(f"warning: {exc} - serving the index as it was")

    def check_contents_later(self, say: Say) -> threading.Thread | None:
        """The articles' contents against the index, when ensure_index left them unchecked: hashed in a
        background thread (returned), which starts a rebuild when one changed since the index was built."""
        if not self.contents_due:
            return None
        self.contents_due = False
        check = threading.Thread(target=self._check_contents, args=(say,), name="rag-check", daemon=True)
        check.start()
        return check

    def _check_contents(self, say: Say) -> None:
        import os

        started = time.perf_counter()
        with contextlib.suppress(AttributeError, OSError):  # Linux: this thread only, behind answers
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        try:
            status = self.status()
            self.checked_status = status
            took = f"{CHECKED} in {time.perf_counter() - started:.1f} s"
            if not status.stale:
                say(f"index: {took}: up to date")
                return
            found = (
                status.problem
                or f"{len(status.changed)} changed, {len(status.new)} new and"
                f" {len(status.missing)} removed article(s) since it was built"
            )
            say(f"index: {took}: {found} - indexing them while the index as it was answers")
            self.rebuild_soon()
        except Exception:  # a bug: the index still answers; the Library's own check will say more
            log.exception("checking the articles against the index failed")

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
            report = self.build(on_progress=self._progress, waiting=self._wait_turn)
            self._progress(0.98, "loading the new index")
            stamp = self._manifest_stamp()
            fresh = self._reopen()
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

    def _wait_turn(self) -> None:
        self._progress(0.0, "waiting for another process's build of the store")

    def wait_for_rebuild(self, timeout: float = 600.0) -> None:
        deadline = time.time() + timeout
        while self.rebuild_state.running and time.time() < deadline:
            time.sleep(0.05)
