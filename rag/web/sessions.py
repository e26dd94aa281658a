"""Gradio's bookkeeping for each session and event kept small: what an API call costs beyond its answer.

Every call of the queue API (`/gradio_api/call/search`, what gradio_client uses) is a Gradio session of
its own. As Gradio has them, each session copied the configuration of the page's 79 blocks (~100 kB;
~10 ms of the event loop a call), the queue kept every session's pending events and messages, and each
finished event summarised the last ones with pandas for Gradio's monitoring dashboard. Here: sessions
bounded, each one's configuration made only when read whole (by a deep link; the page has no button for
them); sessions with nothing pending dropped now and then; no summary (the dashboard is off, server.py).
Nothing here changes what a call answers; server.py mounts the page.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

KEPT_SESSIONS = 200


def bounded(build: Callable[[], Any]) -> Any:
    """The Blocks build() makes, with Gradio's per-session and per-event keeping bounded."""
    os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", str(KEPT_SESSIONS))  # read when the queue is made
    # Gradio summarises the kept events after every event (pandas, in a worker thread: ~1.5 ms a call at
    # 1M) for its monitoring dashboard, which is off: every sys.maxsize events instead.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(sys.maxsize))
    demo = build()
    # Gradio keeps a copy of the page's configuration (~100 kB) for each session, 10,000 by default, and
    # every API call is a session of its own: memory grew by ~108 kB a request. Nothing here keeps state
    # between requests (the chat history lives in the page), so a few hundred sessions is plenty.
    demo.state_session_capacity = KEPT_SESSIONS
    _session_config_on_demand()
    return demo


def lean_queue(app: Any, demo: Any) -> None:
    """The mounted Blocks' queue keeps messages of a bounded number of sessions and drops empty ones."""
    from gradio.utils import LRUCache

    demo._queue.pending_messages_per_session = LRUCache(KEPT_SESSIONS * 2)  # Gradio keeps 2,000 (~20 kB each)
    app.add_middleware(_PruneSessions, demo=demo)


class _PruneSessions:
    """Gradio's queue keeps an (empty) set of pending events for every session it has seen; every
    KEPT_SESSIONS requests the empty ones are dropped, on the event loop that owns them, so memory stays
    flat under API traffic. Plain ASGI: Starlette's BaseHTTPMiddleware (`app.middleware("http")`) relayed
    every streamed event of every response through a task group and a memory stream."""

    def __init__(self, app: Any, demo: Any) -> None:
        self.app, self.demo, self.requests = app, demo, 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.requests += 1
            queue = getattr(self.demo, "_queue", None)
            if self.requests % KEPT_SESSIONS == 0 and queue is not None:
                pending = queue.pending_event_ids_session
                for session in [s for s, ids in pending.items() if not ids]:
                    pending.pop(session, None)
        await self.app(scope, receive, send)


def _session_config_on_demand() -> None:
    """Gradio's sessions work out each block's configuration when made, for deep links only.

    Every API call is a session of its own, and working out the page's 79 blocks took ~10 ms of each
    /search call, on the event loop (each call sets its inputs' and output's values in it, which read it
    whole). The page has no deep link button: a session now works them out when they are read, and
    puts in the values set before, so a deep link gets what it got before.
    """
    from gradio import state_holder

    if issubclass(state_holder.SessionState, _OnDemandSession):
        return
    base = state_holder.SessionState

    class Session(_OnDemandSession, base):  # type: ignore[misc, valid-type]
        pass

    state_holder.SessionState = Session  # type: ignore[misc]


class _OnDemandSession:
    """SessionState without its configuration copy: made when read whole, with the values set before."""

    def __init__(self, blocks: Any) -> None:
        from copy import copy

        self._blocks = blocks
        self.blocks_config = copy(blocks.default_config)
        self._configs: dict[int, Any] | None = None  # every block's configuration, once read
        self._values: dict[int, Any] = {}  # values set before that, by block: put in when it is made
        self.state_data: dict[int, Any] = {}
        self._state_ttl: dict[int, Any] = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600

    @property
    def config_values(self) -> dict[int, Any]:
        if self._configs is None:  # as Gradio makes it, then each value set as Gradio sets it
            blocks = self.blocks_config.blocks
            configs = {k: self._config_of(k) for k in blocks if k in self._blocks.blocks}
            for key, value in self._values.items():
                _set_value(configs, key, value, self._config_of)
            self._configs, self._values = configs, {}
        return self._configs

    @config_values.setter
    def config_values(self, value: dict[int, Any]) -> None:
        self._configs = value

    def _update_value_in_config(self, key: int, value: Any) -> None:
        """Gradio's (a block's value kept in its configuration): kept aside until that is made."""
        if self._configs is None:
            self._values[key] = value
        else:
            _set_value(self._configs, key, value, self._config_of)

    def _config_of(self, key: int) -> Any:
        return self.blocks_config.config_for_block(key, [], self.blocks_config.blocks[key])


def _set_value(configs: dict[int, Any], key: int, value: Any, config_of: Any) -> None:
    """SessionState._update_value_in_config's body, on the given configurations."""
    if key not in configs:
        configs[key] = config_of(key)
    if "props" in configs[key]:
        configs[key]["props"]["value"] = value
