"""Figures that need other processes: resident memory, cold starts, and the app's HTTP API.

Each figure starts fresh processes (`python -c`, the `rag` script, `rag serve`) so that imports,
model loading and the index's first reads are paid as a user pays them. In-process figures are in
inprocess.py; build processes in builds.py.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import RagError
from .inprocess import WARM_UP
from .report import Figure, latency_summary, percentile

# The one place the bench knows the checkout's layout: the seed questions are the committed eval file.
CHECKOUT = Path(__file__).resolve().parents[2]
SEED_QUERIES = CHECKOUT / "eval" / "queries.jsonl"
_OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}

_PROBE = """
import json, sys, time
started = time.perf_counter()
from pathlib import Path
from rag.search.retrieve import Retriever
retriever = Retriever.open(Path(sys.argv[1]), Path(sys.argv[2]))
passages = retriever.search(sys.argv[3], 5)
status = dict(line.split(":", 1) for line in open("/proc/self/status") if ":" in line)
print(json.dumps({
    "VmRSS": int(status["VmRSS"].split()[0]) * 1024, "VmHWM": int(status["VmHWM"].split()[0]) * 1024,
    "seconds": time.perf_counter() - started, "passages": len(passages), "backend": retriever.query_backend,
}))
"""


def process_env(**extra: str) -> dict[str, str]:
    """This environment, offline (no model download, no analytics), unbuffered, plus `extra`."""
    return {**os.environ, **_OFFLINE, "PYTHONUNBUFFERED": "1", **extra}


def rag_command() -> list[str]:
    """The `rag` console script beside this Python (what users run), else the same entry point via -c."""
    script = Path(sys.executable).parent / "rag"
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from rag.cli import main; main()"]


def memory_figure(index_dir: Path, corpus_dir: Path, question: str, scale: str) -> Figure:
    """VmRSS and VmHWM of a fresh process that opens the index and answers one question (defaults)."""
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, str(index_dir), str(corpus_dir), question],
        capture_output=True,
        text=True,
        env=process_env(),
        timeout=1800,
    )
    if run.returncode != 0:
        raise RagError(f"the memory probe failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    probe = json.loads(run.stdout.strip().splitlines()[-1])
    target = "memory_1m_mb" if scale == "1m" else None
    detail = {"VmRSS_MB": round(probe["VmRSS"] / 1e6, 1), "VmHWM_MB": round(probe["VmHWM"] / 1e6, 1)}
    detail |= {"open_and_answer_s": round(probe["seconds"], 2), "backend": probe["backend"]}
    return Figure("resident memory, peak (VmHWM)", scale, probe["VmHWM"] / 1e6, "MB", target, detail)


def cold_search_figure(corpus_dir: Path, index_dir: Path, question: str, runs: int = 3) -> Figure:
    """Wall clock of `rag search QUESTION` processes, start to exit (first answer printed)."""
    cmd = [*rag_command(), "search", question, "--corpus", str(corpus_dir), "--index", str(index_dir)]
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        run = subprocess.run(cmd, capture_output=True, text=True, env=process_env(), timeout=300)
        seconds.append(time.perf_counter() - started)
        if run.returncode != 0 or "[1]" not in run.stdout:
            raise RagError(f"rag search failed (exit {run.returncode}): {run.stderr.strip()[-500:]}")
    detail = {"runs_s": [round(s, 2) for s in seconds], "command": "rag search QUESTION --corpus C --index I"}
    value = percentile(seconds, 50)
    return Figure("cold start, rag search (median)", "seed", value, "s", "cold_start_search_s", detail)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AppServer:
    """`rag serve` over one corpus and index on a free loopback port; its API timed over raw HTTP."""

    def __init__(self, corpus_dir: Path, index_dir: Path, log_path: Path, **env: str) -> None:
        self.port = _free_port()
        cmd = [*rag_command(), "serve", "--corpus", str(corpus_dir.resolve())]
        cmd += ["--index", str(index_dir.resolve()), "--port", str(self.port)]
        self.log_path = log_path
        with log_path.open("wb") as log_file:
            self.started = time.perf_counter()
            self.proc = subprocess.Popen(
                cmd, env=process_env(**env), stdout=log_file, stderr=subprocess.STDOUT
            )
        self.conn: http.client.HTTPConnection | None = None

    def stop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)

    def first_answer(self, question: str, timeout: float) -> float:
        """Seconds from process start until /search first returns passages for the question."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-800:]
                raise RagError(f"rag serve exited with code {self.proc.returncode} before answering: {tail}")
            try:
                self.search(question, 5, "hybrid")
                return time.perf_counter() - self.started
            except (OSError, http.client.HTTPException):
                self.conn = None
                time.sleep(0.05)
        raise RagError(f"rag serve did not answer within {timeout:.0f} s (log: {self.log_path})")

    def checked(self, timeout: float) -> float:
        """Seconds from process start until the app says it compared the articles with the index (its
        background check after the start: answers meanwhile compete with hashing the corpus)."""
        from ..assistant import CHECKED

        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if CHECKED in self.log_path.read_text(errors="replace"):
                if self.conn is not None:  # idle past uvicorn's keep-alive (5 s): the server closed it
                    self.conn.close()
                    self.conn = None
                return time.perf_counter() - self.started
            if self.proc.poll() is not None:
                raise RagError(f"rag serve exited with code {self.proc.returncode} (log: {self.log_path})")
            time.sleep(0.1)
        raise RagError(
            f"rag serve did not compare the articles within {timeout:.0f} s (log: {self.log_path})"
        )

    def cpu_seconds(self) -> float:
        """CPU seconds the app has used so far, all its threads, user and system (/proc/PID/stat)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def search(self, question: str, k: int, mode: str, endpoint: str = "call") -> tuple[float, list[Any]]:
        """(seconds, passages) of one /search call: the queue API (POST + event stream) or the direct one."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        body = json.dumps({"data": [question, k, mode]})
        headers = {"Content-Type": "application/json"}
        started = time.perf_counter()
        if endpoint == "run":
            raw = self._request("POST", "/gradio_api/run/search", body, headers)
            seconds = time.perf_counter() - started
            return seconds, json.loads(raw)["data"][0]
        event_id = json.loads(self._request("POST", "/gradio_api/call/search", body, headers))["event_id"]
        stream = self._request("GET", f"/gradio_api/call/search/{event_id}").decode("utf-8")
        seconds = time.perf_counter() - started
        event, data = "", ""
        for line in stream.splitlines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event in ("complete", "error"):
                data = line[5:].strip()
        if event != "complete":
            raise RagError(f"/search answered {event or 'nothing'}: {data[:300]}")
        return seconds, json.loads(data)[0]

    def _request(
        self, method: str, url: str, body: str | None = None, headers: dict[str, str] | None = None
    ) -> bytes:
        assert self.conn is not None
        self.conn.request(method, url, body, headers or {})
        resp = self.conn.getresponse()
        raw = resp.read()
        if resp.status != 200:
            raise RagError(f"{method} {url} answered HTTP {resp.status}: {raw[:300]!r}")
        return raw


@contextmanager
def app_server(corpus_dir: Path, index_dir: Path, log_path: Path, **env: str) -> Iterator[AppServer]:
    from ..index.status import index_status

    if index_status(corpus_dir, index_dir).stale:  # the app would rebuild: never on a bench index
        raise RagError(f"{index_dir}/ is not up to date with {corpus_dir}/ - the app would rebuild it")
    app = AppServer(corpus_dir, index_dir, log_path, **env)
    try:
        yield app
    finally:
        app.stop()


def http_pass(
    app: AppServer, questions: list[str], mode: str, endpoint: str, k: int = 10
) -> tuple[list[float], float]:
    """Seconds per /search round trip (request sent to response read), after one warm-up request, and
    the app's CPU seconds per request over them (what serving cost it, less swayed by the load)."""
    app.search(WARM_UP, k, mode, endpoint)
    seconds, used = [], app.cpu_seconds()
    for q in questions:
        took, passages = app.search(q, k, mode, endpoint)
        if not passages:
            raise RagError(f"/search returned no passages for {q!r}")
        seconds.append(took)
    return seconds, (app.cpu_seconds() - used) / len(questions)


def http_figures(
    corpus_dir: Path,
    index_dir: Path,
    log_path: Path,
    questions: list[str],
    in_process: dict[str, Figure],
    scale: str,
    k: int = 10,
) -> list[Figure]:
    """/search over HTTP (rerank none) per endpoint and mode, and its overhead over the same in process.

    Each pass gets a freshly started app: the app caches question vectors, so a second pass over the
    same questions would skip embedding them.
    """
    figures, starts = [], []
    for endpoint in ("call", "run"):
        for mode in ("dense", "hybrid"):
            url = f"/gradio_api/{endpoint}/search"
            with app_server(corpus_dir, index_dir, log_path, RAG_RERANK="none") as app:
                started = app.first_answer(WARM_UP, timeout=1800)
                starts.append(round(started, 2))
                checked = app.checked(timeout=1800)  # steady state: the start's hashing is done
                seconds, cpu = http_pass(app, questions, mode, endpoint, k)
            summary = latency_summary(seconds) | {"server_cpu_ms_per_request": round(cpu * 1000, 2)}
            detail = {**summary, "endpoint": url, "rerank": "none", "k": k, "app_start_s": round(started, 2)}
            detail["articles_checked_s"] = round(checked, 2)
            figures.append(
                Figure(f"query over HTTP {url}, {mode}", scale, summary["p50_ms"], "ms", None, detail)
            )
            if (base := in_process.get(mode)) is not None:
                figures += _overheads(url, mode, scale, summary, base)
    detail = {"starts_s": starts, "rerank": "none", "how": "rag serve until /search first answers"}
    start_target = "app_start_1m_s" if scale == "1m" else None
    return [
        Figure(
            "app start to first answer (median)", scale, percentile(starts, 50), "s", start_target, detail
        ),
        *figures,
    ]


def _overheads(url: str, mode: str, scale: str, http: dict[str, float], base: Figure) -> list[Figure]:
    """HTTP p50 minus in-process p50 (the target), and the same in CPU per request: the wall figures
    were measured minutes apart, so the load moves them; CPU time, what serving adds, less so."""
    detail = {"http_p50_ms": http["p50_ms"], "in_process_p50_ms": base.value, "endpoint": url}
    figures = [
        Figure(
            f"HTTP overhead {url}, {mode}",
            scale,
            http["p50_ms"] - base.value,
            "ms",
            "http_overhead_ms",
            detail,
        )
    ]
    if (in_process_cpu := base.detail.get("cpu_ms_per_query")) is not None:
        server_cpu = http["server_cpu_ms_per_request"]
        detail = {"server_cpu_ms_per_request": server_cpu, "in_process_cpu_ms_per_query": in_process_cpu}
        name = f"HTTP overhead in CPU {url}, {mode}"
        figures.append(
            Figure(name, scale, server_cpu - in_process_cpu, "ms", None, detail | {"endpoint": url})
        )
    return figures


def cold_app_figure(corpus_dir: Path, index_dir: Path, question: str) -> Figure:
    """Process start until the app (its defaults: rerank sentence) first answers over /search."""
    with (
        tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp,
        app_server(corpus_dir, index_dir, Path(tmp) / "app.log") as app,
    ):
        seconds = app.first_answer(question, timeout=300)
    detail = {"how": "rag serve started, /gradio_api/call/search polled until passages come back"}
    return Figure("cold start, app to first answer", "seed", seconds, "s", "cold_start_app_s", detail)
