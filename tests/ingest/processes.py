"""Real processes for the fault tests: `ecom ingest` in a subprocess, paused at a named step of
the commit protocol (pipeline.faults), killed with SIGKILL, or run as an unprivileged user.

Nothing here mocks the file system: permissions are real (the process runs as uid 65534,
because root ignores them), kills are real, and two runs are two processes.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipeline.faults import PAUSE_AT, PAUSE_FILE
from pipeline.settings import Settings
from tests.conftest import skip_unless_ci

NOBODY = 65534
_START_TIMEOUT = 120  # seconds for a subprocess to reach its pause point (slow shared machine)


def ecom_command(*args: str) -> list[str]:
    """The `ecom` console script of this environment (as a user runs it)."""
    script = Path(sys.executable).with_name("ecom")
    if script.exists():
        return [str(script), *args]
    return [sys.executable, "-c", "from pipeline.cli import app; app(prog_name='ecom')", *args]


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without ECOM_* settings, a writable HOME, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    env.update(extra)
    return env


@dataclass
class Unprivileged:
    """How to run a process for which permissions count.

    As root (this machine and CI): uid/gid 65534 via `setpriv` (or `runuser`). Not root
    already: the current user, as is. `owner` is whom the test gives the data directory to.
    """

    prefix: list[str]
    uid: int
    gid: int

    def chown(self, root: Path) -> None:
        if os.geteuid() != 0:
            return
        for path in [root, *root.rglob("*")]:
            os.lchown(path, self.uid, self.gid)


@functools.cache
def unprivileged() -> Unprivileged:
    """Checked once: the tool exists and the unprivileged user can run this project's Python."""
    if os.geteuid() != 0:
        return Unprivileged([], os.geteuid(), os.getegid())
    if shutil.which("setpriv"):
        prefix = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    elif shutil.which("runuser"):
        prefix = ["runuser", "-u", "nobody", "--"]
    else:
        skip_unless_ci("neither setpriv nor runuser (util-linux) is installed")
    probe = subprocess.run(
        [*prefix, sys.executable, "-c", "import pipeline.ingest"],
        capture_output=True,
        text=True,
        cwd="/",
        env=child_env(Path("/tmp")),
        check=False,
    )
    if probe.returncode != 0:
        skip_unless_ci(f"uid {NOBODY} cannot run this project's Python: {probe.stderr[-500:]}")
    return Unprivileged(prefix, NOBODY, NOBODY)


@dataclass
class Ingest:
    """A running `ecom ingest` process (maybe paused at a step)."""

    proc: subprocess.Popen[str]
    marker: Path

    def wait_paused(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"exited {self.proc.returncode} before pausing:\n{out}{err}")
            if time.monotonic() > deadline:
                self.kill()
                raise AssertionError("never reached its pause point")
            time.sleep(0.01)

    def resume(self) -> None:
        self.marker.unlink()

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.marker.unlink(missing_ok=True)

    def finish(self, timeout: float = _START_TIMEOUT) -> subprocess.CompletedProcess[str]:
        out, err = self.proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


def start_ingest(
    data_dir: Path,
    *args: str,
    pause_at: str | None = None,
    prefix: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> Ingest:
    """`ecom ingest --data-dir DATA ARGS` in its own process; with `pause_at`, wait until it
    stops at that step."""
    home = data_dir.parent
    marker = home / f"pause-{uuid.uuid4().hex}"
    extra = {PAUSE_AT: pause_at, PAUSE_FILE: str(marker)} if pause_at else {}
    proc = subprocess.Popen(
        [*prefix, *ecom_command("ingest", "--data-dir", str(data_dir), *args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=home,
        env={**child_env(home, **extra), **(env or {})},
    )
    run = Ingest(proc, marker)
    if pause_at:
        run.wait_paused()
    return run


def run_ingest(data_dir: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return start_ingest(data_dir, *args, **kwargs).finish()


def output(done: subprocess.CompletedProcess[str]) -> str:
    """Everything the CLI printed, on one line (rich wraps long messages at the width)."""
    return " ".join((done.stdout + done.stderr).split())


def paused_in_this_process(
    monkeypatch, tmp_path: Path, damage: Callable[[], object], step: str = "parsing"
) -> threading.Thread:
    """Pause this process's next ingest at `step` (default: after its first part); `damage()`,
    then let it go on."""
    marker = tmp_path / "pause"
    monkeypatch.setenv(PAUSE_AT, step)
    monkeypatch.setenv(PAUSE_FILE, str(marker))

    def meddle() -> None:
        deadline = time.monotonic() + 60
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        damage()
        marker.unlink()

    thread = threading.Thread(target=meddle, daemon=True)
    thread.start()
    return thread


# ---- what a month looks like from outside --------------------------------------------------
def live_state(settings: Settings) -> dict[str, object]:
    """Everything a reader can see of the ingested months: files byte for byte, bronze rows."""
    lake = Path(settings.lake) / "events"
    files = {
        str(p.relative_to(settings.data_dir)): p.read_bytes()
        for root in (lake, settings.quarantine_dir, settings.manifest_dir)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    bronze: dict[str, object] = {}
    if settings.warehouse_path.exists():
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            bronze = {
                table: con.sql(
                    f"select * from {table} order by source_file, source_line"
                ).fetchall()
                for table in ("bronze.events", "bronze.quarantine")
            }
    return {"files": files, **bronze}


def leftovers(settings: Settings) -> list[str]:
    """Staging and retired folders, journals and temp files: none once a run is settled."""
    roots = [Path(settings.lake) / "events", settings.quarantine_dir, settings.manifest_dir]
    found = [p for root in roots if root.is_dir() for p in root.iterdir() if p.name.startswith(".")]
    state = settings.ingest_state_dir
    if state.is_dir():
        found += [p for p in state.iterdir() if p.name != "lock"]
    return sorted(str(p) for p in found)


def month_rows(settings: Settings, month: str) -> dict[str, pl.DataFrame]:
    """The month as the lake, the quarantine file and bronze each hold it (by source line)."""
    key = f"month={_key(month)}"
    parts = sorted((Path(settings.lake) / "events" / key).glob("*.parquet"))
    lake = pl.read_parquet(parts) if parts else pl.DataFrame({"source_line": []})
    quarantine_file = settings.quarantine_dir / f"{month}.parquet"
    quarantine = pl.read_parquet(quarantine_file) if quarantine_file.exists() else None
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        events, rejects = (
            pl.DataFrame(
                con.execute(
                    f"select source_line from {table} where source_file = ? order by 1",
                    [f"{month}.csv"],
                ).fetchall(),
                schema=["source_line"],
                orient="row",
            )
            for table in ("bronze.events", "bronze.quarantine")
        )
    return {"lake": lake, "quarantine": quarantine, "events": events, "rejects": rejects}


def _key(month: str) -> str:
    from pipeline.settings import month_key

    return month_key(month)
