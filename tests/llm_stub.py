"""A tiny OpenAI-compatible /v1/chat/completions server on 127.0.0.1, for tests of generative mode.

It answers every POST with a canned reply (or raw body, HTTP status, or a delay) and records the
requests it received. Use it as a context manager: it runs in a daemon thread and is shut down, with
any delayed reply cut short, on exit.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class LLMStub:
    """Serves `content` as the assistant's reply; `raw` replaces the whole body, `delay` stalls it."""

    def __init__(self, content: str = "", *, raw: bytes | None = None, status: int = 200, delay: float = 0.0):
        self.content = content
        self.raw = raw
        self.status = status
        self.delay = delay
        self.requests: list[dict[str, Any]] = []
        self._stop = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                stub.requests.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
                if stub.delay and stub._stop.wait(stub.delay):
                    return
                body = stub.raw if stub.raw is not None else stub.reply_body()
                self.send_response(stub.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply_body(self) -> bytes:
        message = {"role": "assistant", "content": self.content}
        return json.dumps(
            {"object": "chat.completion", "choices": [{"index": 0, "message": message}]}
        ).encode()

    @property
    def prompt(self) -> str:
        """All message contents of the last request, joined."""
        return "\n".join(m["content"] for m in self.requests[-1]["body"]["messages"])

    def __enter__(self) -> LLMStub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


def unused_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
