"""Crash safety beyond test_crash.py: SIGKILL aimed at each phase of a build; read-only and full disks.

test_crash.py kills builds at random moments, and most of those kills land while the child is still
importing. Here every kill is aimed at a phase of `rag.index.index_folder.write_index`:

- writing the temporary folder `.index.building-PID`: before and after each file, around the keyword
  index, before and after the manifest;
- the swap window: just before and just after the renameat2(RENAME_EXCHANGE), and each step of the
  two-rename fallback that folder_swap.py uses where the exchange is unsupported;
- random delays after the temporary folder appears, and a first build with no previous index.

The build runs in a child process (a generated 300-article corpus, the hashing embedder). Only in
that child, the storage and swap helpers are wrapped so that each prints a marker; at the chosen marker the child
pauses, and the parent SIGKILLs it. For the fallback, the child's `_rename_exchange` reports "not
supported", as it does on a filesystem that refuses RENAME_EXCHANGE. The swap code itself runs
unmodified. After every kill the index must load as wholly old or wholly new, and the next build must
finish.

`rag build` through the real CLI must fail with one line, and leave the old index intact and
loadable, when:
- the index's parent folder is read-only. Under root the child drops CAP_DAC_OVERRIDE with setpriv,
  since root ignores permission bits otherwise.
- the filesystem is full. This uses a real tiny tmpfs mounted in a private mount namespace
  (`unshare -m`), and runs only where `mount` works. Where it does not, ENOSPC is simulated instead:
  in a child process only, `os.fsync` raises it, as on filesystems that report a full disk only at
  fsync. That simulation also backs the strict xfail about the extra output lines.

RAG_HEAVY_TESTS=1 adds a heavier variant: each phase is killed three times, 30 random kills follow, and
the simulated ENOSPC runs even where the real tmpfs test can.
"""

from __future__ import annotations

import errno
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import main
from rag.config import ChunkParams
from rag.errors import IndexLoadError
from rag.index import append
from rag.index.append import MAX_SEGMENTS
from rag.index.build import build
from rag.index.index_folder import load_index

from .conftest import ROOT, HashingEmbedder
from .test_crash import _corpus, _hashes_in, _sha

HEAVY = os.environ.get("RAG_HEAVY_TESTS") == "1"
ARTICLES = 200
RAG = Path(sys.executable).parent / "rag"

# Phases of write_index when the index exists and renameat2 works, in the order they happen.
EXCHANGE_PHASES = [
    "write:vectors.npy:before",  # the temporary folder exists, still empty
    "write:vectors.npy:after",
    "write:chunks.zlib:after",
    "write:chunks.offsets.npy:after",
    "keyword:before",
    "write:keys.npy:after",  # the keyword index's one segment (keyword_segments.py)
    "write:postings.rows.npy:after",
    "write:df.npy:after",
    "write:keyword.json:after",
    "keyword:after",
    "write:manifest.json:before",
    "write:manifest.json:after",  # the temporary folder is complete; next: fsync, swap
    "exchange:before",
    "exchange:after",  # swapped; the temporary folder now holds the old index, not yet deleted
]
# Phases of a build that appends a segment (one article changed, append.py), in order; {seg} is the
# new segment's file prefix. The previous segments' files are hard-linked, never written.
APPEND_PHASES = [
    "link:vectors.npy:before",  # the temporary folder exists, still empty
    "link:sentences.vectors.npy:after",  # the base's files linked (the last: no scales from format 7)
    "write:{seg}vectors.npy:after",
    "write:{seg}chunks.zlib:after",
    "write:{seg}sentences.vectors.npy:after",
    "write:rows.npy:after",
    "keyword:before",
    "link:keys.npy:before",  # the keyword index's base segment, linked too
    "link:vocab.json:after",
    "write:{seg}keys.npy:after",  # the keyword files of the new segment
    "write:{seg}pairs.npy:after",
    "write:{seg}vocab.json:after",
    "write:df.npy:after",  # the corpus-wide statistics, written again
    "write:keyword.json:after",
    "keyword:after",
    "write:manifest.json:after",  # complete; next: fsync, swap
    "exchange:before",
    "exchange:after",
]
# Phases of a build whose new segment merges the appended ones (append.MAX_SEGMENTS): the base's files
# linked, the merged segment ({seg}) written, the merged segments' files neither linked nor written.
MERGE_PHASES = [
    "link:vectors.npy:before",
    "link:sentences.vectors.npy:after",  # the base's files linked (the last); nothing of the merged segments
    "write:{seg}vectors.npy:after",
    "write:{seg}chunks.zlib:after",
    "write:{seg}sentences.vectors.npy:after",
    "write:rows.npy:after",
    "link:keys.npy:after",  # the keyword index's base
    "write:{seg}keys.npy:after",
    "write:{seg}postings.rows.npy:after",
    "write:{seg}vocab.json:after",
    "write:df.npy:after",
    "write:keyword.json:after",
    "write:manifest.json:after",
    "exchange:before",
    "exchange:after",
]
# The two-rename fallback: index -> .index.old-PID, .index.building-PID -> index, old -> building.
FALLBACK_PHASES = [
    "rename:index->old:before",
    "rename:index->old:after",  # no index/ at all for a moment: recover() must put it back
    "rename:new->index:after",
    "rename:old->new:after",
]

# Runs one build in the child; only the child's copies of storage.py and folder_swap.py are instrumented.
CHILD = r"""
import os, signal, sys, threading, time
from pathlib import Path

import rag.index.append as ra
import rag.index.folder_swap as ri
import rag.index.keyword as rk
import rag.index.storage as rs
from rag.index.build import build
from rag.config import ChunkParams
from tests.conftest import HashingEmbedder

STOP = os.environ.get("FAULT_STOP", "")
ra.MAX_SEGMENTS = int(os.environ.get("FAULT_MAX_SEGMENTS", ra.MAX_SEGMENTS))  # a merge after fewer segments
KILL_AFTER = float(os.environ.get("FAULT_KILL_AFTER", "-1"))
INDEX_NAME = Path(sys.argv[2]).name
first = []


def mark(label):
    if not first:
        first.append(time.monotonic())
        if KILL_AFTER >= 0:  # a SIGKILL at a random instant of the write phase, with no pipe latency
            threading.Timer(KILL_AFTER, os.kill, (os.getpid(), signal.SIGKILL)).start()
    print(f"{label}\t{time.monotonic() - first[0]:.4f}", flush=True)
    if label == STOP:
        time.sleep(120)  # the parent kills us here


def short(path):
    name = Path(path).name
    if name == INDEX_NAME:
        return "index"
    return "new" if ".building-" in name else "old" if ".old-" in name else name


_write = rs.write_synced
def write_synced(path, data):
    mark(f"write:{path.name}:before")
    _write(path, data)
    mark(f"write:{path.name}:after")
rs.write_synced = write_synced

_link = rs.link
def link(source, target):
    mark(f"link:{Path(target).name}:before")
    _link(source, target)
    mark(f"link:{Path(target).name}:after")
rs.link = link

_save = rk.KeywordIndex.save
def save(self, keyword_dir, **kwargs):
    mark("keyword:before")
    out = _save(self, keyword_dir, **kwargs)
    mark("keyword:after")
    return out
rk.KeywordIndex.save = save

_exchange = ri._rename_exchange
def exchange(a, b):
    if os.environ.get("FAULT_NO_EXCHANGE"):
        return False  # as where RENAME_EXCHANGE is unsupported: folder_swap.py falls back to two renames
    mark("exchange:before")
    done = _exchange(a, b)
    mark("exchange:after")
    return done
ri._rename_exchange = exchange

_rename = os.rename
def rename(src, dst, *args, **kwargs):
    tag = f"rename:{short(src)}->{short(dst)}"
    mark(tag + ":before")
    _rename(src, dst, *args, **kwargs)
    mark(tag + ":after")
os.rename = rename

report = build(Path(sys.argv[1]), Path(sys.argv[2]), HashingEmbedder(), ChunkParams())
mark("done")
"""


class Child:
    """A build in a child process, its markers read by a thread so every wait has a deadline."""

    def __init__(
        self,
        corpus: Path,
        index: Path,
        stop: str = "",
        no_exchange: bool = False,
        kill_after: float | None = None,
        max_segments: int | None = None,
    ) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "FAULT_STOP": stop}
        if max_segments is not None:
            env["FAULT_MAX_SEGMENTS"] = str(max_segments)
        if no_exchange:
            env["FAULT_NO_EXCHANGE"] = "1"
        if kill_after is not None:
            env["FAULT_KILL_AFTER"] = f"{kill_after:.4f}"
        self.err_path = index.parent / f"child-{time.monotonic_ns()}.err"
        with self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(corpus), str(index)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []  # markers, in order
        self.times: list[float] = []  # seconds since the first marker
        self.ended = False  # its output reached end of file
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode().rstrip("\n"))
        self.lines.put(None)

    def _add(self, line: str) -> str:
        label, _, elapsed = line.partition("\t")
        self.seen.append(label)
        self.times.append(float(elapsed or 0))
        return label

    def wait_for(self, marker: str, timeout: float = 60.0) -> bool:
        """True once the child printed `marker`; False if it ended without printing it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                pytest.fail(f"no {marker!r} from the build child within {timeout:.0f} s; saw {self.seen}")
            if line is None:
                self.ended = True
                return False
            if self._add(line) == marker:
                return True

    def kill(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        rc = self.proc.wait(timeout=30)
        while not self.ended:  # drain what it printed before dying, to tell where the kill landed
            try:
                line = self.lines.get(timeout=10)
            except queue.Empty:
                break
            if line is None:
                self.ended = True
                break
            self._add(line)
        return rc

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")[-3000:]


def _state(index: Path, old: set[str] | None, new: set[str]) -> str:
    """Load the index after a kill: 'old', 'new' or 'none' (first build), never anything else."""
    try:
        loaded = load_index(index)
    except IndexLoadError as exc:
        assert old is None, f"the previous index no longer loads after the kill: {exc}"
        assert "no index at" in str(exc), exc
        return "none"
    assert len(loaded.chunks) == loaded.vectors.ntotal == loaded.manifest.chunk_count
    assert len(loaded.keyword) == len(loaded.chunks)
    hashes = {meta.sha256 for meta in loaded.manifest.articles.values()}
    variants = {c.text.split("Note ")[1].split("-")[0] for c in loaded.chunks if "Note " in c.text}
    assert len(variants) == 1, f"passages from several corpus versions: {variants}"
    if hashes == new:
        return "new"
    assert hashes == old, "the index is neither the old one nor the new one"
    return "old"


def _next_build_finishes(corpus: Path, index: Path) -> None:
    report = build(corpus, index, HashingEmbedder(), ChunkParams())
    assert report.wrote or report.up_to_date
    assert _hashes_in(index) == {_sha(p) for p in corpus.glob("*.txt")}
    assert not list(index.parent.glob(f".{index.name}.building-*")), "a killed build's folder was left"


class Kills:
    """Kill after kill on one index folder; counts what survived, per phase."""

    def __init__(self, base: Path, first_build: bool = True) -> None:
        self.corpus, self.index = base / "corpus", base / "index"
        self.variant = 0
        _corpus(self.corpus, ARTICLES, variant=self.variant)
        if first_build:
            build(self.corpus, self.index, HashingEmbedder(), ChunkParams())
        self.log: list[tuple[str, str, str]] = []  # (aimed at, landed after, index state)

    def _new_version(self) -> tuple[set[str] | None, set[str]]:
        old = _hashes_in(self.index) if self.index.exists() else None
        self.variant += 1
        _corpus(self.corpus, ARTICLES, variant=self.variant)  # every article changes
        return old, {_sha(p) for p in self.corpus.glob("*.txt")}

    def at(self, phase: str, *, no_exchange: bool = False, then_build: bool = True) -> str:
        """Kill a build paused at `phase`; check the index; let the next build finish."""
        old, new = self._new_version()
        child = Child(self.corpus, self.index, stop=phase, no_exchange=no_exchange)
        reached = child.wait_for(phase)
        rc = child.kill()
        assert reached, f"the build never reached {phase}; it printed {child.seen}\n{child.stderr()}"
        assert rc == -signal.SIGKILL, f"child ended with {rc} before the kill\n{child.stderr()}"
        state = _state(self.index, old, new)
        self.log.append((phase, child.seen[-1], state))
        if then_build:
            _next_build_finishes(self.corpus, self.index)
        return state

    def calibrate(self) -> float:
        """Run one build to the end; how long it takes from the temporary folder to done (s)."""
        _, new = self._new_version()
        child = Child(self.corpus, self.index)
        finished = child.wait_for("done", timeout=120)
        assert child.kill() in (0, -signal.SIGKILL) and finished, f"{child.seen}\n{child.stderr()}"
        assert _hashes_in(self.index) == new
        return child.times[-1]

    def random(self, rng: random.Random, window: float) -> str:
        """SIGKILL at a random instant up to `window` s after the temporary folder appeared."""
        old, new = self._new_version()
        child = Child(self.corpus, self.index, kill_after=rng.uniform(0, window * 1.2))
        child.wait_for("done", timeout=120)
        rc = child.kill()
        assert child.seen, f"the build died before its temporary folder existed\n{child.stderr()}"
        landed = child.seen[-1] if rc == -signal.SIGKILL else f"finished ({rc})"
        state = _state(self.index, old, new)
        self.log.append(("random", f"{landed} +{child.times[-1] * 1000:.0f} ms", state))
        _next_build_finishes(self.corpus, self.index)
        return state

    def report(self, title: str) -> None:
        print(f"\n{title}: {len(self.log)} kills survived / {len(self.log)} tried")
        for aimed, landed, state in self.log:
            print(f"  aimed at {aimed:28s} last marker {landed:28s} index loads as {state}")


def test_sigkill_while_writing_the_temporary_folder(tmp_path: Path):
    kills = Kills(tmp_path)
    rounds = 3 if HEAVY else 1
    for _ in range(rounds):
        for phase in EXCHANGE_PHASES[: EXCHANGE_PHASES.index("exchange:before")]:
            assert kills.at(phase) == "old", phase  # nothing is swapped in before the folder is complete
    window = kills.calibrate()
    print(f"\nthe write phase takes {window * 1000:.0f} ms: random kills fall in that window")
    rng = random.Random(7)
    for _ in range(30 if HEAVY else 4):
        kills.random(rng, window=window)
    kills.report("temporary-folder phase and swap, aimed and random")


def test_sigkill_in_the_swap_window(tmp_path: Path):
    kills = Kills(tmp_path)
    for _ in range(3 if HEAVY else 1):
        assert kills.at("exchange:before") == "old"
        assert kills.at("exchange:after") == "new"
    kills.report("swap window (renameat2 exchange)")


def test_sigkill_during_the_first_build(tmp_path: Path):
    kills = Kills(tmp_path, first_build=False)
    assert kills.at("write:manifest.json:after", then_build=False) == "none"
    assert kills.at("rename:new->index:before", then_build=False) == "none"
    assert kills.at("rename:new->index:after") == "new"
    kills.report("first build (no previous index)")


@pytest.mark.parametrize("phase", FALLBACK_PHASES)
def test_sigkill_in_the_two_rename_fallback_swap(tmp_path: Path, phase: str):
    kills = Kills(tmp_path)
    expected = "old" if phase.startswith("rename:index->old") else "new"
    for _ in range(3 if HEAVY else 1):
        assert kills.at(phase, no_exchange=True) == expected
    kills.report(f"fallback swap, {phase}")


def test_fallback_swap_killed_late_leaves_no_stale_copy(tmp_path: Path):
    kills = Kills(tmp_path)
    assert kills.at("rename:new->index:after", no_exchange=True) == "new"  # and the next build finishes
    leftovers = sorted(p.name for p in tmp_path.glob(".index.old-*"))
    assert not leftovers, f"stale copies of an old index stay beside index/: {leftovers}"


def test_stale_copy_is_never_restored_after_a_later_kill(tmp_path: Path):
    kills = Kills(tmp_path)
    kills.at("rename:new->index:after", no_exchange=True)  # leaves .index.old-<pid1> holding version 0
    stale = next(tmp_path.glob(".index.old-*"), None)
    if stale is None:  # the leak is fixed, so the second half cannot happen
        return
    old, new = kills._new_version()
    child = Child(kills.corpus, kills.index, stop="rename:index->old:after", no_exchange=True)
    reached = child.wait_for("rename:index->old:after")
    child.kill()
    assert reached, child.seen
    fresh = f".index.old-{child.proc.pid}"
    if fresh < stale.name:
        pytest.skip(f"{fresh} sorts before {stale.name}: the stale copy cannot be picked this time")
    assert _state(kills.index, old, new) == "old"  # fails: the stale version 0 loads


def _old_index_copy(seed_index: tuple[Path, Path], base: Path) -> tuple[Path, Path, int, set[str]]:
    corpus_src, index_src = seed_index
    corpus, index = base / "corpus", base / "index"
    shutil.copytree(corpus_src, corpus)
    shutil.copytree(index_src, index)
    loaded = load_index(index)
    return corpus, index, len(loaded.chunks), _hashes_in(index)


def _assert_old_index_intact(index: Path, passages: int, hashes: set[str]) -> None:
    loaded = load_index(index)
    assert len(loaded.chunks) == passages and _hashes_in(index) == hashes
    assert not list(index.parent.glob(f".{index.name}.building-*"))


def _error_line(output: str) -> str:
    """The one `Error: ...` line, which must end the output; other lines are noise (see the xfail)."""
    lines = output.strip().splitlines()
    assert "Traceback" not in output, output
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], output
    if len(lines) > 1:
        print(f"\n({len(lines) - 1} more line(s) before the error: {lines[:-1]})")
    return errors[0]


@pytest.mark.parametrize("lock_exists", [True, False], ids=["lock-file-left-by-a-build", "no-lock-file"])
def test_read_only_index_folder_fails_with_one_line(seed_index, tmp_path: Path, lock_exists: bool):
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes into 0555 folders anyway; drop the capability that allows it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a read-only folder cannot be simulated")
        prefix = [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]
    base = tmp_path / "ro"
    base.mkdir()
    corpus, index, passages, hashes = _old_index_copy(seed_index, base)
    lock = base / ".index.lock"
    if lock_exists:
        lock.write_text("1")
    next(corpus.glob("*.txt")).unlink()  # the build has work to do: write an index without it
    base.chmod(0o555)
    try:
        run = subprocess.run(
            [*prefix, str(RAG), "build", "--corpus", str(corpus), "--index", str(index)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        base.chmod(0o755)
    line = _error_line(run.stderr)
    print(f"\nread-only folder ({'lock file present' if lock_exists else 'no lock file'}): {line}")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Permission denied" in line and "the previous index is untouched" in line
    assert (".index.building-" if lock_exists else ".index.lock") in line  # names what it could not write
    _assert_old_index_intact(index, passages, hashes)


def _mount_works() -> bool:
    unshare = shutil.which("unshare")
    if unshare is None or sys.platform != "linux":
        return False
    probe = subprocess.run(
        [unshare, "-m", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        timeout=30,
    )
    return probe.returncode == 0


# Runs inside a private mount namespace with a tiny tmpfs at argv[3]: copy the index there, fill the
# disk but a few pages, run `rag build` through the CLI, then free the space and build again.
FULL_DISK_CHILD = r"""
import errno, json, os, shutil, sys
from pathlib import Path
from click.testing import CliRunner
from rag.cli import main
from rag.index.index_folder import load_index

corpus, index_src, mnt = map(Path, sys.argv[1:4])
index = mnt / "index"
shutil.copytree(index_src, index)
before = load_index(index)
fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT)
try:
    while True:
        os.write(fd, b"\0" * 4096)
except OSError as exc:
    assert exc.errno == errno.ENOSPC, exc
os.ftruncate(fd, os.fstat(fd).st_size - 8192)  # room for the lock file, not for the index
os.close(fd)
args = ["build", "--corpus", str(corpus), "--index", str(index)]
full = CliRunner().invoke(main, args)
after = load_index(index)
out = {
    "exit": full.exit_code,
    "output": full.output,
    "before": [len(before.chunks), sorted(m.sha256 for m in before.manifest.articles.values())],
    "after": [len(after.chunks), sorted(m.sha256 for m in after.manifest.articles.values())],
    "leftovers": sorted(p.name for p in mnt.iterdir() if ".building-" in p.name),
}
os.unlink(mnt / "filler")
again = CliRunner().invoke(main, args)
out["again_exit"], out["again_output"] = again.exit_code, again.output
out["again_passages"] = len(load_index(index).chunks)
print("RESULT " + json.dumps(out), flush=True)
"""


MOUNT_WORKS = _mount_works()


@pytest.mark.skipif(not MOUNT_WORKS, reason="mount is not permitted here (needs CAP_SYS_ADMIN)")
def test_full_filesystem_fails_with_one_line_and_keeps_the_old_index(seed_index, tmp_path: Path):
    corpus_src, index_src = seed_index
    corpus = tmp_path / "corpus"
    shutil.copytree(corpus_src, corpus)
    (corpus / "extra.txt").write_text(
        "Extra Notes\n\nA brand new article about patience. " * 3 + "\n", encoding="utf-8"
    )  # the build must embed and write a new index
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f'mount -t tmpfs -o size=1m tmpfs "{mnt}" && exec "$0" -c "$1" "$2" "$3" "$4"'
    out = _child_result(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script, sys.executable, FULL_DISK_CHILD]
        + [str(corpus), str(index_src), str(mnt)],
        timeout=300,
    )
    line = _error_line(out["output"])
    print(f"\nfull tmpfs: {line}")
    assert out["exit"] == 1 and "No space left on device" in line and "previous index is untouched" in line
    assert out["after"] == out["before"], "the old index changed"
    assert out["leftovers"] == [], "the failed build left its temporary folder on the full disk"
    assert out["again_exit"] == 0, out["again_output"]
    assert out["again_passages"] > out["before"][0]  # with space again, the next build finishes


# Portable stand-in for a full disk: every fsync reports ENOSPC, as NFS or delayed allocation do.
ENOSPC_CHILD = r"""
import errno, json, os, sys
from click.testing import CliRunner


def no_space(fd):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


os.fsync = no_space
from rag.cli import main

result = CliRunner().invoke(main, ["build", "--corpus", sys.argv[1], "--index", sys.argv[2]])
print("RESULT " + json.dumps({"exit": result.exit_code, "output": result.output}), flush=True)
"""


def _child_result(argv: list[str], timeout: float) -> dict:
    """Run a child process and return the JSON of its last 'RESULT ' line."""
    run = subprocess.run(
        argv,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    results = [ln for ln in run.stdout.splitlines() if ln.startswith("RESULT ")]
    assert run.returncode == 0 and results, run.stdout[-3000:] + run.stderr[-3000:]
    return json.loads(results[-1][len("RESULT ") :])


def _build_with_enospc(corpus: Path, index: Path) -> tuple[int, str]:
    out = _child_result([sys.executable, "-c", ENOSPC_CHILD, str(corpus), str(index)], timeout=120)
    return out["exit"], out["output"]


@pytest.mark.skipif(
    MOUNT_WORKS and not HEAVY, reason="a real full tmpfs is tested instead (RAG_HEAVY_TESTS=1 runs both)"
)
def test_enospc_at_fsync_fails_with_one_line_and_keeps_the_old_index(seed_index, tmp_path: Path):
    corpus, index, passages, hashes = _old_index_copy(seed_index, tmp_path)
    next(corpus.glob("*.txt")).unlink()  # work to do: an index without that article
    exit_code, output = _build_with_enospc(corpus, index)
    line = _error_line(output)
    print(f"\nENOSPC at fsync (simulated): {line}")
    assert exit_code == 1 and os.strerror(errno.ENOSPC) in line and "previous index is untouched" in line
    _assert_old_index_intact(index, passages, hashes)
    again = CliRunner().invoke(main, ["build", "--corpus", str(corpus), "--index", str(index)])
    assert again.exit_code == 0, again.output  # space again: the next build finishes
    assert len(load_index(index).chunks) < passages  # the removed article's passages are gone


def test_a_failed_build_prints_only_its_error_line(seed_index, tmp_path: Path):
    corpus, index, _, _ = _old_index_copy(seed_index, tmp_path)
    (corpus / "extra.txt").write_text("Extra Notes\n\nPatience is a quiet kind of trust.\n", encoding="utf-8")
    exit_code, output = _build_with_enospc(corpus, index)
    assert exit_code == 1
    assert output.strip().splitlines() == [_error_line(output)]


def _append_round(kills: Kills, marker: str) -> tuple[set[str], set[str]]:
    """Change one article (a paragraph with `marker` added): the next build appends a segment."""
    old = _hashes_in(kills.index)
    path = kills.corpus / "a0007.txt"
    path.write_text(path.read_text(encoding="utf-8") + f"\nA paragraph of {marker}. It is new.\n", "utf-8")
    return old, {_sha(p) for p in kills.corpus.glob("*.txt")}


def _append_state(index: Path, old: set[str], new: set[str], marker: str) -> str:
    """'old' or 'new' after a kill, checking the changed article's passages match its manifest record."""
    loaded = load_index(index)
    assert len(loaded.chunks) == loaded.vectors.ntotal == loaded.manifest.chunk_count == len(loaded.keyword)
    hashes = {meta.sha256 for meta in loaded.manifest.articles.values()}
    assert hashes in (old, new), "the index is neither the old one nor the new one"
    text = " ".join(c.text for c in loaded.chunks if c.article_id == "a0007")
    assert (marker in text) == (hashes == new), "the manifest and the passages are of different builds"
    return "new" if hashes == new else "old"


def _aimed_append_kill(kills: Kills, phase: str, marker: str, max_segments: int | None = None) -> Child:
    """Change one article, kill the build paused at `phase`: the index is the old one (the new one once
    swapped), never a half; then the next build finishes."""
    old, new = _append_round(kills, marker)
    child = Child(kills.corpus, kills.index, stop=phase, max_segments=max_segments)
    reached = child.wait_for(phase)
    rc = child.kill()
    assert reached, f"the build never reached {phase}; it printed {child.seen}\n{child.stderr()}"
    assert rc == -signal.SIGKILL, f"child ended with {rc} before the kill\n{child.stderr()}"
    assert not any(m.startswith("write:vectors.npy") for m in child.seen), "it wrote the whole index"
    state = _append_state(kills.index, old, new, marker)
    assert state == ("new" if phase == "exchange:after" else "old"), phase
    kills.log.append((phase, child.seen[-1], state))
    _next_build_finishes(kills.corpus, kills.index)
    return child


def _random_append_kills(kills: Kills, rounds: int, seed: int, before=lambda: None, **child_args) -> None:
    """One build timed to the end, then `rounds` builds killed at random instants of that window."""
    before()
    _append_round(kills, "calibration")
    child = Child(kills.corpus, kills.index, **child_args)
    assert child.wait_for("done", timeout=120), child.stderr()
    child.kill()
    window = child.times[-1]  # from the temporary folder to done: where random kills fall
    rng = random.Random(seed)
    for round_ in range(rounds):
        before()
        marker = f"random {round_}"
        old, new = _append_round(kills, marker)
        child = Child(kills.corpus, kills.index, kill_after=rng.uniform(0, window * 1.2), **child_args)
        child.wait_for("done", timeout=120)
        child.kill()
        state = _append_state(kills.index, old, new, marker)
        kills.log.append(("random", child.seen[-1] if child.seen else "-", state))
        _next_build_finishes(kills.corpus, kills.index)


def test_sigkill_in_each_phase_of_an_appending_build(tmp_path: Path):
    kills = Kills(tmp_path)
    for round_, phase in enumerate(APPEND_PHASES * (3 if HEAVY else 1)):
        segments = load_index(kills.index).manifest.segments
        if segments is not None and len(segments) > MAX_SEGMENTS - 1:  # the next build would merge
            build(kills.corpus, kills.index, HashingEmbedder(), ChunkParams(), compact=True)
            segments = None
        phase = phase.format(seg=f"seg{len(segments or [None])}.")
        child = _aimed_append_kill(kills, phase, f"round {round_}")
        assert not any(m.startswith("write:keys.npy") for m in child.seen), "it wrote the keyword base"
        assert load_index(kills.index).manifest.segments, "the next build appended a segment too"
    _random_append_kills(kills, 30 if HEAVY else 6, seed=11)
    kills.report("appending builds")


def test_sigkill_in_each_phase_of_a_merging_build(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(append, "MAX_SEGMENTS", 2)  # the third appended segment merges the two before it
    kills = Kills(tmp_path)

    def merging_next() -> str:
        """Append segments until the next build merges; the prefix its merged segment will have."""
        while len(load_index(kills.index).manifest.segments or [None]) < 3:
            _append_round(kills, f"setup {time.monotonic_ns()}")
            assert build(kills.corpus, kills.index, HashingEmbedder(), ChunkParams()).merged == 0
        segments = load_index(kills.index).manifest.segments or ()
        return f"seg{1 + max(int(s['prefix'][3:-1]) for s in segments[1:])}."

    for round_, phase in enumerate(MERGE_PHASES * (3 if HEAVY else 1)):
        phase = phase.format(seg=merging_next())
        child = _aimed_append_kill(kills, phase, f"round {round_}", max_segments=2)
        assert not any(m.startswith("link:seg") for m in child.seen), "it linked a merged segment"
        assert len(load_index(kills.index).manifest.segments or ()) == 2, "the next build merged"
    _random_append_kills(kills, 12 if HEAVY else 4, seed=13, before=merging_next, max_segments=2)
    kills.report("merging builds")
