"""A worker's bulk processes: bounded concurrency, a bounded queue, 503 with Retry-After beyond.

Each worker runs ECOM_BULK_CONCURRENCY bulk processes (api.bulk_process, default 1) and lets
at most ECOM_BULK_QUEUE more calls wait for one. A call beyond that is refused before its body
is read (503, Retry-After from the recent call times), so neither memory nor the wait grows
with the callers. A process that dies is started again (and told the loaded versions) by the
next call that needs it; the call it was serving gets a 503 to retry.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from api.bulk_process import read_message, write_message
from api.errors import ApiError
from pipeline.settings import REPO_ROOT

log = logging.getLogger("api.bulk")


class BulkProcessDied(RuntimeError):
    pass


class BulkProcess:
    """One child process and its two pipes; calls are serialized by a lock."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._to: Any = None
        self._from: Any = None
        self._lock = threading.Lock()
        self.loaded: dict[int, Mapping[str, str]] = {}  # what it must have: generation -> folders

    def _spawn(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "api.bulk_process", str(to_child_r), str(from_child_w)],
            pass_fds=(to_child_r, from_child_w),
            cwd=REPO_ROOT if (REPO_ROOT / "api").is_dir() else None,
            close_fds=True,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._to = os.fdopen(to_child_w, "wb")
        self._from = os.fdopen(from_child_r, "rb")
        log.info("bulk process %s started", self._process.pid)
        for generation, folders in self.loaded.items():
            self._exchange({"op": "load", "generation": generation, "folders": folders}, b"")

    def _exchange(self, header: Mapping[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        try:
            write_message(self._to, header, body)
            return read_message(self._from)
        except (OSError, EOFError, ValueError) as err:
            self._reap(expected=False)
            raise BulkProcessDied(str(err)) from None

    def _reap(self, expected: bool = True) -> None:
        for stream in (self._to, self._from):
            with suppress(OSError, AttributeError):
                stream.close()
        if self._process is not None:
            with suppress(OSError):
                self._process.kill()
            self._process.wait()
            (log.info if expected else log.warning)(
                "bulk process %s stopped (exit %s)", self._process.pid, self._process.returncode
            )
        self._process = None

    def call(self, header: Mapping[str, Any], body: bytes = b"") -> tuple[dict[str, Any], bytes]:
        """Send one request and wait for its answer (blocking: run it in a thread)."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                if self._process is not None:
                    self._reap(expected=False)
                self._spawn()
            return self._exchange(header, body)

    def load(self, generation: int, folders: Mapping[str, str]) -> None:
        answer, _ = self.call({"op": "load", "generation": generation, "folders": dict(folders)})
        if not answer.get("ok"):
            raise RuntimeError(f"the bulk process could not load generation {generation}")
        self.loaded[generation] = dict(folders)  # a restarted process is told again

    def drop(self, generation: int) -> None:
        self.loaded.pop(generation, None)
        if self._process is not None:
            with suppress(BulkProcessDied):
                self.call({"op": "drop", "generation": generation})

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                try:
                    self._to.close()  # the process exits at the end of its input
                    self._process.wait(timeout=5)
                except (OSError, subprocess.TimeoutExpired):
                    pass
                self._reap()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid


class BulkPool:
    """The worker's bulk processes, with admission control (see the module docstring)."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self.processes = [BulkProcess() for _ in range(concurrency)]
        self.capacity = concurrency + queue
        self.admitted = 0
        self._idle: asyncio.Queue[BulkProcess] | None = None
        self._holds: dict[int, int] = {}
        self._recent: list[float] = []  # seconds of the last calls

    # -- the model versions (called from the worker's loader thread)
    def load(self, generation: int, folders: Mapping[str, Path]) -> None:
        paths = {family: str(folder) for family, folder in folders.items()}
        errors = []
        threads = [
            threading.Thread(target=self._load_one, args=(p, generation, paths, errors))
            for p in self.processes
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    @staticmethod
    def _load_one(process: BulkProcess, generation: int, paths: dict, errors: list) -> None:
        try:
            process.load(generation, paths)
        except Exception as err:  # reported to the loader, which reports the generation failed
            errors.append(err)

    def drop(self, generation: int) -> None:
        for process in self.processes:
            process.drop(generation)

    def in_use(self, generation: int) -> bool:
        return self._holds.get(generation, 0) > 0

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    # -- calls (on the event loop)
    def retry_after(self) -> int:
        """Seconds a refused caller should wait: the recent call time, per queued call."""
        typical = sorted(self._recent)[len(self._recent) // 2] if self._recent else 2.0
        waiting = max(self.admitted - len(self.processes) + 1, 1)
        return max(1, math.ceil(typical * waiting / len(self.processes)))

    @asynccontextmanager
    async def admission(self) -> AsyncIterator[None]:
        """A place among the running and queued calls, or 503 at once when there is none."""
        if self.admitted >= self.capacity:
            raise ApiError(
                503,
                f"Bulk scoring is at capacity ({self.capacity} calls running or waiting in this "
                "worker): retry after the time in Retry-After.",
                headers={"Retry-After": str(self.retry_after())},
            )
        self.admitted += 1
        try:
            yield
        finally:
            self.admitted -= 1

    async def run(
        self, generation: int, header: Mapping[str, Any], body: bytes
    ) -> tuple[dict[str, Any], bytes]:
        """Run one scoring call in an idle bulk process (waiting for one if all are busy)."""
        from starlette.concurrency import run_in_threadpool

        if self._idle is None:
            self._idle = asyncio.Queue()
            for process in self.processes:
                self._idle.put_nowait(process)
        process = await self._idle.get()
        self._holds[generation] = self._holds.get(generation, 0) + 1
        started = time.monotonic()
        try:
            return await run_in_threadpool(
                process.call, {**header, "op": "score", "generation": generation}, body
            )
        except BulkProcessDied:
            raise ApiError(
                503,
                "The bulk scoring process stopped during this call (it is being restarted): "
                "send the request again.",
                headers={"Retry-After": "2"},
            ) from None
        finally:
            self._holds[generation] -= 1
            self._recent = [*self._recent[-19:], time.monotonic() - started]
            self._idle.put_nowait(process)
