"""The web server: the Gradio page and the /article viewer mounted on one FastAPI app, served by uvicorn.

    rag serve [--corpus DIR] [--index DIR] [--host 127.0.0.1] [--port 7860] [--auth USER:PASSWORD] [--no-watch]
              [--store postgresql://... [--pool-size N]]
    python app.py ... (`make run`) and python -m rag.web ... are `rag serve` with the same flags (cli.py)

Builds or refreshes the index first when it is missing or articles were added or removed, then serves
on 127.0.0.1 (another host only when asked); articles changed in place are found by hashing them in
the background, and indexed while the index as it was answers. With a PostgreSQL store
(docs/postgres.md) an empty one is built first and a built one serves at once, every article compared
with it in the background. What it guards: a login when asked (the article route too), the corpus and
index folders blocked from Gradio's file serving, the Blocks marked launched so Gradio checks that a file
named in a request was uploaded, upload size, and Gradio's per-session memory kept bounded (sessions.py). Citations open
`/article`, the article as text with the cited span marked (render.py).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves route annotations from here

from rag.assistant import Assistant
from rag.config import Settings
from rag.errors import RagError


def import_gradio() -> Any:
    """gradio, imported without rewriting its type stubs: on every import, Gradio parses the source of
    each of its ~80 component classes and rewrites its .pyi file (an editor's aid; half of the 3-7 s
    `import gradio` took here). The stubs are left as they are; nothing at run time reads them."""
    if "gradio" not in sys.modules:
        sys.meta_path.insert(0, _NoStubs())
    import gradio

    return gradio


class _NoStubs(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta as usual, then replaces its create_or_modify_pyi with a no-op."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "gradio.component_meta":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            run(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.create_or_modify_pyi = lambda *args, **kwargs: None

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def create_app(assistant: Assistant, auth: tuple[str, str] | None = None) -> Any:
    """A FastAPI app serving the UI at / and the article viewer at /article."""
    gr = import_gradio()
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse, PlainTextResponse
    from starlette.routing import Mount

    from rag.ingest.extract import cited_path, cited_text
    from rag.ingest.library import MAX_UPLOAD_BYTES
    from rag.ingest.read import article_sha256

    from . import sessions
    from .layout import HEAD, build_ui
    from .render import ARTICLE_CSP, STALE_NOTE, article_page, parse_spans

    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    def logged_in(request: Request) -> bool:
        if auth is None:
            return True
        ui: Any = next(r.app for r in app.routes if isinstance(r, Mount) and hasattr(r.app, "tokens"))
        token = request.cookies.get(f"access-token-{ui.cookie_id}") or request.cookies.get(
            f"access-token-unsecure-{ui.cookie_id}"
        )
        return token in ui.tokens

    @app.get("/article")
    def article(request: Request, id: str, start: int = 0, end: int = 0, q: str = "") -> Any:
        if not logged_in(request):
            return PlainTextResponse("log in first", status_code=401)
        meta = assistant.indexed_articles().get(id)
        if meta is None:  # only articles of the index are served: no paths from the request
            return PlainTextResponse("no such article in the index", status_code=404)
        try:
            data = (assistant.corpus_dir / meta.path).read_bytes()
            text = cited_text(assistant.corpus_dir, meta.path)  # as offsets count: no newline translation
        except (OSError, UnicodeDecodeError, RagError):
            return PlainTextResponse("the article file is gone - rebuild the index", status_code=410)
        spans = parse_spans(start, end, q)
        note = ""
        # offsets into a changed article would mark the wrong words
        if article_sha256(assistant.corpus_dir / meta.path, data) != meta.sha256:
            spans, note = [], STALE_NOTE
        page = article_page(meta.title or id, cited_path(meta.path), text, spans, note=note)
        return HTMLResponse(
            page, headers={"Content-Security-Policy": ARTICLE_CSP, "X-Content-Type-Options": "nosniff"}
        )

    demo = sessions.bounded(lambda: build_ui(assistant))
    mounted = gr.mount_gradio_app(
        app,
        demo,
        path="",
        auth=auth,
        max_file_size=MAX_UPLOAD_BYTES,
        head=HEAD,
        footer_links=["api"],
        blocked_paths=[str(assistant.corpus_dir.resolve()), str(assistant.index_dir.resolve())],
        enable_monitoring=False,  # Gradio's traffic dashboard: its summary is not kept (sessions.py)
    )
    # mount_gradio_app does not mark the Blocks launched, and until then Gradio skips its check that a
    # file named in a request was uploaded: any server path in a file part would be copied and served.
    demo.has_launched = True
    sessions.lean_queue(app, demo)
    return mounted


def ensure_index(assistant: Assistant) -> None:
    """Build or refresh the index when it is missing or stale (as the README's main command promises)."""
    assistant.ensure_index(
        say=lambda line: print(line, flush=True),
        warn=lambda line: print(line, file=sys.stderr, flush=True),
    )


def serve(settings: Settings, *, watch: bool = True) -> int:
    """Build or refresh the index, then serve the page on settings.host:port until stopped (`rag serve`).

    Returns the exit code: 2 for a malformed --auth, 1 when no index can be served."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Gradio asks matplotlib for its backend around every event; unset, finding it imported pyplot
    # (about a second) during the first answer. A server draws off-screen (the Evaluate tab's plot).
    os.environ.setdefault("MPLBACKEND", "agg")
    auth = None
    if settings.auth:
        user, sep, password = settings.auth.partition(":")
        if not sep or not user or not password:
            print("error: --auth must be USER:PASSWORD", file=sys.stderr)
            return 2
        auth = (user, password)
    # gradio takes seconds to import and the index seconds to load (at a million passages): side by side
    import threading

    importing = threading.Thread(target=import_gradio, name="rag-import-gradio", daemon=True)
    importing.start()
    assistant = Assistant(settings)
    try:
        ensure_index(assistant)
        assistant.retriever  # load the model and index before the first question  # noqa: B018
    except RagError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    importing.join()
    import gc

    import uvicorn

    app = create_app(assistant, auth)
    if watch:  # articles edited or copied in while the app runs are indexed by themselves
        from rag.ingest.watch import start_watching

        start_watching(assistant.corpus_dir, lambda changed: assistant.rebuild_soon())
    # What is loaded now (the index manifest alone is ~100,000 objects at a million passages) lives as
    # long as the process: keep it out of the garbage collector's full passes, which ran during requests.
    gc.freeze()
    assistant.check_contents_later(say=lambda line: print(line, flush=True))
    print(f"serving on http://{settings.host}:{settings.port}", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
    return 0
