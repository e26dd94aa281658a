"""The Assistant's PostgreSQL side (settings.store set; docs/postgres.md): what assistant.py asks of a
store, in one place.

One pool of connections per process (pgpool.py, `settings.pool_size`) serves the snapshot's reads
(pgindex.py), the generation checks that tell a process another one has written, and the status
checks; a build keeps a connection of its own for its lock. `status` compares the corpus with the
store's facts as the folder's status compares it with the manifest (the Library tab's article states,
`rag info`), `build` brings the store up to date (pgbuild.py); a rebuild started by the app waits its
turn behind another process's build instead of failing (two apps on one corpus folder both notice an
added article).
Only assistant.py makes one, from Settings; it parses no input and renders nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ChunkParams
from .errors import BuildLockedError, RagError, StoreError
from .index.status import IndexStatus, index_status

if TYPE_CHECKING:
    from .index.build import BuildReport
    from .index.embed import Embedder
    from .index.manifest import Manifest
    from .index.pgindex import PgIndex
    from .index.pgpool import PgPool

TURN_POLL_SECONDS = 1.0  # how often a waiting rebuild tries the build lock again
TURN_WAIT_SECONDS = 3600.0  # then it gives up, saying who holds the lock


class StoreLink:
    """One PostgreSQL store as the Assistant's index (see the module docstring)."""

    def __init__(self, dsn: str, pool_size: int) -> None:
        from .index.pgstore import shown_dsn

        self.dsn, self.pool_size = dsn, pool_size
        self.shown = shown_dsn(dsn)
        self._pool: PgPool | None = None
        self._lock = threading.Lock()

    def pool(self) -> PgPool:
        """The process's pool, opened on first use (a server that is down is one line, StoreError)."""
        with self._lock:
            if self._pool is None:
                from .index.pgpool import PgPool

                self._pool = PgPool(self.dsn, self.pool_size)
            return self._pool

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def load_index(self) -> PgIndex:
        """A snapshot of the store, reading through the pool."""
        from .index.pgindex import PgIndex

        pool = self.pool()
        with pool.store() as store:
            return PgIndex.load(store, pool)

    def generation(self) -> int:
        """Bumped by every committed write (this process's or another's)."""
        with self.pool().store() as store:
            return store.generation()

    def is_empty(self) -> bool:
        with self.pool().store() as store:
            return "embedder" not in store.meta()

    def manifest(self) -> Manifest:
        """The store's facts as a Manifest (articles, model, counts): no passages read, no BM25 built."""
        from .index.pgbuild import stored_manifest

        with self.pool().store() as store:
            found, problem = stored_manifest(store)
        if found is None:
            raise StoreError(f"{problem} - build it: rag build --store URL")
        return found.manifest

    def status(
        self, corpus_dir: Path, index_dir: Path, serving: Manifest | None, *, contents: bool = True
    ) -> IndexStatus:
        """The corpus against the serving snapshot's facts (or the store's, when none serves yet)."""
        try:
            manifest = serving or self.manifest()
        except RagError as exc:
            return IndexStatus(index_dir, corpus_dir, problem=str(exc), store=self.shown)
        return replace(index_status(corpus_dir, index_dir, manifest, contents=contents), store=self.shown)

    def build(
        self,
        corpus_dir: Path,
        embedder: Embedder,
        chunking: ChunkParams,
        *,
        waiting: Callable[[], None] | None = None,
        **options: Any,
    ) -> BuildReport:
        """Bring the store up to date with corpus_dir (pgbuild.build_store). With `waiting`, a build of
        another process is waited out (`waiting` is called at each try) rather than refused at once."""
        from .index.pgbuild import build_store
        from .index.pgstore import PgStore

        deadline = time.monotonic() + TURN_WAIT_SECONDS
        while True:
            try:
                with PgStore(self.dsn) as store:
                    return build_store(corpus_dir, store, embedder, chunking, **options)
            except BuildLockedError:
                if waiting is None or time.monotonic() > deadline:
                    raise
                waiting()
                time.sleep(TURN_POLL_SECONDS)
