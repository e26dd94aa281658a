"""A pool of connections to one PostgreSQL store, for a process that answers several questions at once.

psycopg_pool's ConnectionPool (autocommit connections, at most `size`), each connection wrapped once
as a PgStore (pgstore.py) and that wrapper kept for the connection's life, so what a PgStore remembers
of its session (the vector type registered, `hnsw.ef_search` set) is not asked again at every
checkout. `store()` lends one for the duration of a block: a snapshot's reads (pgindex.py) and the
generation checks take one each, so questions no longer wait on one connection. A block that needs
a connection while all `size` are lent waits up to WAIT_SECONDS, then fails in one line.
It holds no store logic (pgstore.py) and never builds (a build keeps a connection of its own for its lock).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..errors import StoreError
from .pgstore import CONNECT_TIMEOUT, PgStore, connect, shown_dsn

WAIT_SECONDS = 30.0  # for a free connection when all are lent


class PgPool:
    """At most `size` connections to the store at `dsn`, lent as PgStores."""

    def __init__(self, dsn: str, size: int) -> None:
        from psycopg_pool import ConnectionPool

        self.dsn, self.size = dsn, size
        self._stores: weakref.WeakKeyDictionary[Any, PgStore] = weakref.WeakKeyDictionary()
        self._pool = ConnectionPool(
            dsn,
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT},
            timeout=WAIT_SECONDS,
            open=False,
            name="rag-store",
        )
        connect(dsn).close()  # a wrong URL or a server that is down is said at once, in one line
        self._pool.open(wait=True, timeout=CONNECT_TIMEOUT)

    @contextmanager
    def store(self) -> Iterator[PgStore]:
        """A connection of the pool, as a PgStore, for the block (given back at its end, rolled back
        first if a transaction was left open)."""
        from psycopg_pool import PoolTimeout

        try:
            conn = self._pool.getconn()
        except PoolTimeout:
            raise StoreError(
                f"all {self.size} connections to the store at {shown_dsn(self.dsn)} stayed busy for"
                f" {WAIT_SECONDS:.0f} s - raise --pool-size (RAG_POOL_SIZE) or ask again"
            ) from None
        try:
            store = self._stores.get(conn)
            if store is None:
                store = self._stores[conn] = PgStore(self.dsn, conn)
            yield store
        finally:
            self._pool.putconn(conn)

    def close(self) -> None:
        self._pool.close()
