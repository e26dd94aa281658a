"""A throwaway local PostgreSQL with pgvector, for the tests and `rag bench`: start it, get its DSN, stop it.

The server binaries come from the `pgserver` wheel (the `postgres` extra: PostgreSQL 16.2 with pgvector
0.6.2), so nothing is installed outside the virtualenv. Its Python wrapper is
not used: it registers exit hooks, shares one lock file per user and, as root, creates a system user;
here initdb and pg_ctl are run directly on a fresh temporary folder that holds the data and the unix
socket (no TCP port, so parallel runs never clash), and stopping deletes the folder. PostgreSQL refuses
to run as root, so under root the server runs as `nobody`.
It is not how to run PostgreSQL for real (docs/postgres.md) and holds no store logic (pgstore.py).
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..errors import LocalServerError

INSTALL_HINT = "pip install -e '.[postgres]' (make setup does)"
START_TIMEOUT = 60  # seconds; initdb + start take ~2 s on an idle machine, much longer on a loaded one


def bin_dir() -> Path:
    """The folder of the wheel's PostgreSQL programs (found without importing its Python wrapper)."""
    spec = importlib.util.find_spec("pgserver")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = Path(location) / "pginstall" / "bin"
        if (found / "postgres").is_file():
            return found
    raise LocalServerError(f"no PostgreSQL server programs are installed - {INSTALL_HINT}")


@dataclass(frozen=True)
class LocalPostgres:
    """A running server: its folder (data, socket, log) and how to connect."""

    base_dir: Path
    user: str = "postgres"
    database: str = "postgres"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir

    def dsn(self, database: str | None = None) -> str:
        """A postgresql:// URI to the server over its unix socket."""
        return f"postgresql://{self.user}@{quote(str(self.socket_dir), safe='')}/{database or self.database}"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "server.log"


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) to run the server as: None for a normal user, `nobody` for root."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("nobody")
    return entry.pw_uid, entry.pw_gid


def _run(args: list[str], base_dir: Path, owner: tuple[int, int] | None, timeout: float) -> None:
    try:
        subprocess.run(
            args,
            cwd=base_dir,
            user=owner[0] if owner else None,
            group=owner[1] if owner else None,
            extra_groups=[] if owner else None,
            env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "TZ": "UTC"},
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.CalledProcessError as exc:
        tail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        log = base_dir / "server.log"
        more = log.read_text(errors="replace").strip().splitlines()[-1:] if log.is_file() else []
        raise LocalServerError(
            f"{Path(args[0]).name} failed ({'; '.join(tail + more)}) - see {base_dir}"
        ) from None
    except subprocess.TimeoutExpired:
        raise LocalServerError(
            f"{Path(args[0]).name} took over {timeout:.0f} s - is the machine overloaded?"
        ) from None


def start(parent: Path | None = None) -> LocalPostgres:
    """initdb a fresh cluster in a new temporary folder and start it on a unix socket there."""
    programs = bin_dir()
    base_dir = Path(tempfile.mkdtemp(prefix="rag-pg-", dir=parent))
    owner = _run_as()
    if owner:
        os.chown(base_dir, *owner)
        base_dir.chmod(0o755)  # the socket must be reachable by the tests' own user
    server = LocalPostgres(base_dir)
    data = base_dir / "data"
    try:
        _run(
            [str(programs / "initdb"), "-D", str(data), "-U", server.user, "--auth=trust",
             "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            base_dir, owner, START_TIMEOUT,
        )  # fmt: skip
        options = f"-k {base_dir} -c listen_addresses='' -c max_connections=50 -c shared_buffers=256MB"
        _run(
            [str(programs / "pg_ctl"), "-D", str(data), "-l", str(server.log_path), "-o", options,
             "-w", "-t", str(START_TIMEOUT), "start"],
            base_dir, owner, START_TIMEOUT + 5,
        )  # fmt: skip
    except BaseException:
        shutil.rmtree(base_dir, ignore_errors=True)
        raise
    return server


def stop(server: LocalPostgres) -> None:
    """Stop the server (fast shutdown: open sessions are ended) and delete its folder."""
    try:
        if (server.base_dir / "data" / "postmaster.pid").exists():
            _run(
                [str(bin_dir() / "pg_ctl"), "-D", str(server.base_dir / "data"), "-m", "fast", "-w", "stop"],
                server.base_dir, _run_as(), START_TIMEOUT,
            )  # fmt: skip
    finally:
        shutil.rmtree(server.base_dir, ignore_errors=True)


@contextmanager
def local_postgres(parent: Path | None = None) -> Iterator[LocalPostgres]:
    """A fresh server for the duration of the block."""
    server = start(parent)
    try:
        yield server
    finally:
        stop(server)
