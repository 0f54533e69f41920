"""Real services for the hostile tests: `ecom serve api` on a free loopback port, its process
tree and its memory read from /proc, and a bounded load from a thread pool."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.settings import REPO_ROOT
from tests.processes import stop

READY_TIMEOUT_S = 240.0


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ecom_command() -> list[str]:
    ecom = shutil.which("ecom", path=str(Path(sys.executable).parent))
    return [ecom] if ecom else [sys.executable, "-c", "from pipeline.cli import app; app()"]


# ----------------------------------------------------------------------------- /proc


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes, from /proc/<pid>/status (VmRSS)."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class MemoryWatch:
    """The service tree's resident memory, sampled every 10 ms in a thread: `peak` is the
    highest sum seen (new processes included)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes([self.root, *descendants(self.root)]))
            self._stop.wait(0.01)

    def __enter__(self) -> MemoryWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ----------------------------------------------------------------------------- the service


@dataclass
class Service:
    base_url: str
    process: subprocess.Popen  # `ecom serve api`
    stdout: Path
    stderr: Path

    @property
    def supervisor(self) -> int:
        """The server's own parent process (the supervisor; uvicorn's on older releases)."""
        (pid,) = children(self.process.pid)
        return pid

    def workers(self) -> list[int]:
        """uvicorn's worker processes (multiprocessing children of the supervisor)."""
        return [p for p in children(self.supervisor) if "spawn_main" in cmdline(p)]

    def tree(self) -> list[int]:
        return [self.process.pid, *descendants(self.process.pid)]

    def rss(self) -> int:
        return rss_bytes(self.tree())

    def log(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_ready(self, headers: dict | None = None, streak: int = 6) -> None:
        """Until /ready answers 200 `streak` times in a row on new connections (every worker)."""
        deadline, seen = time.monotonic() + READY_TIMEOUT_S, 0
        while seen < streak:
            assert self.process.poll() is None, self.log()[-4000:]
            assert time.monotonic() < deadline, f"not ready in time:\n{self.log()[-4000:]}"
            try:
                ok = httpx.get(self.base_url + "/ready", timeout=5, headers=headers).status_code
            except httpx.HTTPError:
                ok = 0
            seen = seen + 1 if ok == 200 else 0
            time.sleep(0.05 if ok == 200 else 0.5)


@contextmanager
def serve(
    data_dir: Path,
    folder: Path,
    *,
    workers: int = 1,
    env: dict[str, str] | None = None,
    args: tuple[str, ...] = (),
    wait: bool = True,
) -> Iterator[Service]:
    """`ecom serve api` on a free loopback port, with only the given ECOM_* settings."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")}
    clean.update({"ECOM_DATA_DIR": str(data_dir), **(env or {})})
    command = [
        *ecom_command(), "serve", "api", "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers), *args,
    ]  # fmt: skip
    stdout, stderr = folder / "stdout.log", folder / "stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=clean, stdout=out, stderr=err)
    service = Service(f"http://127.0.0.1:{port}", process, stdout, stderr)
    try:
        if wait:
            service.wait_ready(streak=3 * workers)
        yield service
    finally:
        stop(process, timeout=30)


def kill(pid: int, sig: signal.Signals) -> None:
    os.kill(pid, sig)


# ----------------------------------------------------------------------------- load


@dataclass(frozen=True)
class Answer:
    sent: float
    done: float
    status: int  # 0: no answer (the connection failed)
    model_id: str | None
    error: str = ""


def load(
    base_url: str,
    seconds: float,
    threads: int,
    request: Callable[[httpx.Client, int], httpx.Response],
    during: Callable[[float], None] | None = None,
) -> list[Answer]:
    """`threads` callers sending requests back to back for `seconds`; `during(elapsed)` is
    called every 50 ms from the main thread (to send signals at set times)."""
    answers: list[Answer] = []
    start = time.monotonic()
    stop_at = start + seconds

    def caller(k: int) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as http:
            i = 0
            while time.monotonic() < stop_at:
                sent = time.monotonic() - start
                try:
                    response = request(http, k * 1_000_000 + i)
                    status = response.status_code
                    model = response.headers.get("x-model-id") or _model_of(response)
                    answers.append(Answer(sent, time.monotonic() - start, status, model))
                except httpx.HTTPError as err:
                    answers.append(Answer(sent, time.monotonic() - start, 0, None, repr(err)))
                i += 1

    with ThreadPoolExecutor(max_workers=threads) as pool:
        futures = [pool.submit(caller, k) for k in range(threads)]
        while time.monotonic() < stop_at:
            if during is not None:
                during(time.monotonic() - start)
            time.sleep(0.05)
        for future in futures:
            future.result()
    return sorted(answers, key=lambda a: a.sent)


def _model_of(response: httpx.Response) -> str | None:
    try:
        return response.json().get("model", {}).get("model_id")
    except (ValueError, AttributeError):
        return None


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")
