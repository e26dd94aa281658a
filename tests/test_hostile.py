"""Hostile requests against the running app: every Gradio event and HTTP route, no file ever leaks.

The app runs as `python -m rag.web` (a real process, real model, a copy of the seed index) with Gradio's
file cache in a folder of the test's own. Then:
- every event of the page is sent file parts naming server paths (a secret outside the project, the
  index manifest, an article) in every input, the way a crafted request would: none of them may be
  copied into Gradio's cache or served by `/gradio_api/file=`;
- the `/ask` and `/search` API endpoints get wrong types and values: each is a one-line error that
  names the argument, and the app logs no traceback for them;
- the article viewer gets absurd offsets;
- a soak of API calls shows memory flat once Gradio's bounded caches are full.
The module prints "hostile requests sent N / clear errors M / files leaked 0" and the memory figures.
"""

from __future__ import annotations

import json
import math
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .browser_support import AppProcess, start_app

SECRET = "TOP-SECRET-7f3a9c never serve this"
_tally = {"sent": 0, "clear": 0}


@pytest.fixture(scope="module")
def hostile_app(
    seed_index, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AppProcess, Path, Path]]:
    base = tmp_path_factory.mktemp("hostile")
    corpus_src, index_src = seed_index
    shutil.copytree(corpus_src, base / "corpus")
    shutil.copytree(index_src, base / "index")
    secret = base / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(SECRET + "\n", encoding="utf-8")
    cache = base / "gradio-cache"
    app = start_app(
        base / "corpus", base / "index", base / "app.log", extra_env={"GRADIO_TEMP_DIR": str(cache)}
    )
    yield app, secret, cache
    app.stop()
    print(f"\nhostile requests sent {_tally['sent']} / clear errors {_tally['clear']} / files leaked 0")


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _queue(app: AppProcess, fn_index: int, data: list[Any]) -> str:
    """Send one event through the queue, as the page does; the whole event stream as text."""
    session = uuid.uuid4().hex
    body = {
        "data": data,
        "fn_index": fn_index,
        "session_hash": session,
        "event_data": None,
        "trigger_id": None,
    }
    _post(app.url + "/gradio_api/queue/join", body)
    with urllib.request.urlopen(f"{app.url}/gradio_api/queue/data?session_hash={session}", timeout=120) as r:
        return r.read().decode("utf-8", errors="replace")


def _call(app: AppProcess, api: str, data: list[Any]) -> str:
    """One call through the queue API gradio_client uses; the event stream as text."""
    event = _post(f"{app.url}/gradio_api/call/{api}", {"data": data})["event_id"]
    with urllib.request.urlopen(f"{app.url}/gradio_api/call/{api}/{event}", timeout=120) as resp:
        return resp.read().decode("utf-8", errors="replace")


def _file_part(path: Path) -> dict[str, Any]:
    return {"path": str(path), "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}


def _served(app: AppProcess, path: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"{app.url}/gradio_api/file={urllib.parse.quote(path)}", timeout=30) as r:
            return r.read()
    except urllib.error.HTTPError:
        return None


def _assert_nothing_leaked(app: AppProcess, secret: Path, cache: Path, targets: list[Path]) -> None:
    copied = [p for p in cache.rglob("*") if p.is_file()] if cache.exists() else []
    for p in copied:
        assert SECRET.encode() not in p.read_bytes(), f"{p} holds the secret"
        assert p.name not in {t.name for t in targets}, f"{p} is a copy of a server file"
        assert _served(app, str(p)) is None or p.suffix in (".png",), f"{p} is served"
    for target in targets:
        assert _served(app, str(target)) is None, f"{target} is served"


def test_file_parts_naming_server_paths_are_never_copied_or_served(hostile_app):
    app, secret, cache = hostile_app
    targets = [secret, app.index_dir / "manifest.json", next(app.corpus_dir.glob("*.txt"))]
    config = json.loads(urllib.request.urlopen(app.url + "/config", timeout=30).read())
    events = [(i, d) for i, d in enumerate(config["dependencies"]) if d.get("inputs") is not None]
    assert len(events) >= 8  # ask (click, submit), upload, paste, remove, rebuild, evaluate, API
    for fn_index, dep in events:
        n = len(dep["inputs"])
        for target in targets:
            part = _file_part(target)
            chat_part = [{"role": "user", "content": [{"type": "file", "file": part}]}]
            for data in ([part] * n, [chat_part] * n, [[part]] * n, [{"file": part}] * n):
                text = _queue(app, fn_index, data)
                _tally["sent"] += 1
                assert SECRET not in text
    _assert_nothing_leaked(app, secret, cache, targets)


def test_the_chat_ignores_file_parts_in_its_history_and_still_answers(hostile_app):
    app, secret, cache = hostile_app
    config = json.loads(urllib.request.urlopen(app.url + "/config", timeout=30).read())
    ids = {c["id"]: c.get("props", {}).get("elem_id") for c in config["components"]}
    ask = next(
        i for i, d in enumerate(config["dependencies"]) if [ids.get(t[0]) for t in d["targets"]] == ["ask"]
    )
    history = [{"role": "user", "content": [{"type": "file", "file": _file_part(secret)}]}]
    text = _queue(app, ask, ["how do I avoid being clingy?", history, 5, "hybrid", False])
    assert SECRET not in text
    _assert_nothing_leaked(app, secret, cache, [secret])


BAD_API_ARGS = [
    ([None, 5, "hybrid"], "question must be text"),
    ([42, 5, "hybrid"], "question must be text"),
    ([["a", "list"], 5, "hybrid"], "question must be text"),
    (["\ud800 lone surrogate", 5, "hybrid"], "not valid text"),
    (["", 5, "hybrid"], "the question is empty"),
    (["x" * 5000, 5, "hybrid"], "the limit is"),
    (["trust", 0, "hybrid"], "k must be a whole number"),
    (["trust", -3, "hybrid"], "k must be a whole number"),
    (["trust", 2.5, "hybrid"], "k must be a whole number"),
    (["trust", 10**12, "hybrid"], "k must be a whole number"),
    (["trust", "five", "hybrid"], "k must be a whole number"),
    (["trust", 5, "semantic"], "mode must be one of"),
    (["trust", 5, 7], "mode must be one of"),
]


@pytest.mark.parametrize("api", ["ask", "search"])
@pytest.mark.parametrize(("data", "message"), BAD_API_ARGS, ids=[m for _, m in BAD_API_ARGS])
def test_bad_api_arguments_are_one_line_errors(hostile_app, api: str, data: list[Any], message: str):
    app, _, _ = hostile_app
    before = app.output(tail=10**7).count("Traceback")
    data = [*data, None] if api == "ask" else data  # /ask's fourth argument: the earlier questions
    body = json.dumps({"data": data}, allow_nan=True)  # a lone surrogate goes out as \\ud800, as JSON allows
    req = urllib.request.Request(
        f"{app.url}/gradio_api/call/{api}", body.encode(), {"Content-Type": "application/json"}
    )
    event = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
    with urllib.request.urlopen(f"{app.url}/gradio_api/call/{api}/{event}", timeout=60) as resp:
        text = resp.read().decode()
    _tally["sent"] += 1
    assert "event: error" in text, text[:300]
    assert message in text and "Traceback" not in text and "NoneType" not in text, text[:300]
    _tally["clear"] += 1
    assert app.output(tail=10**7).count("Traceback") == before  # rejected requests log no traceback


def test_a_bad_history_is_refused(hostile_app):
    app, _, _ = hostile_app
    for history in ("a string", [1, 2], {"a": 1}):
        text = _call(app, "ask", ["and what about texting?", 5, "hybrid", history])
        assert "event: error" in text and "history must be a list" in text, text[:300]
    text = _call(app, "ask", ["and what about texting?", 5, "hybrid", ["how do I avoid being clingy?"]])
    assert "event: complete" in text


def test_nan_k_is_refused(hostile_app):
    app, _, _ = hostile_app
    text = _call(app, "search", ["trust", math.nan, "hybrid"])
    assert "event: error" in text and "k must be a whole number" in text


def test_null_k_and_mode_mean_the_defaults(hostile_app):
    app, _, _ = hostile_app
    text = _call(app, "search", ["how do I avoid being clingy?", None, None])
    assert "event: complete" in text and "clingy" in text


def test_article_viewer_with_absurd_offsets_is_not_a_server_error(hostile_app):
    app, _, _ = hostile_app
    article = next(app.corpus_dir.glob("*.txt")).stem
    for query in (f"q=0-{'9' * 5000}", f"start={'9' * 5000}&end=1", "start=-5&end=-1", "q=" + "1-2," * 5000):
        try:
            with urllib.request.urlopen(f"{app.url}/article?id={article}&{query}", timeout=30) as resp:
                assert resp.status == 200
        except urllib.error.HTTPError as exc:
            assert exc.code in (404, 422), f"{query[:40]}: HTTP {exc.code}"
        _tally["sent"] += 1


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_flat_under_api_calls(hostile_app):
    """Before the fix every call kept ~108 kB (3,000 calls: 385 -> 711 MB); Gradio's caches are now
    bounded, so once they are full (a few hundred calls) memory stops growing."""
    app, _, _ = hostile_app
    for i in range(500):  # fill the bounded caches
        _call(app, "search", [f"clingy {i}?", 3, "keyword"])
    warm = _rss_mb(app.proc.pid)
    calls = 1000
    for i in range(calls):
        _call(app, "search", [f"trust {i}?", 3, "keyword"])
    grown = _rss_mb(app.proc.pid) - warm
    print(
        f"\nmemory after {500 + calls} API calls: {warm:.0f} MB warm, +{grown:.1f} MB over the last {calls}"
    )
    assert grown < 25, f"memory grew {grown:.1f} MB over {calls} calls ({grown * 1024 / calls:.0f} kB each)"
