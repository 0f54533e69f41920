"""One model version per family for the whole service at a time, switched together.

A service is a supervisor and its workers (api.supervisor), or one process serving alone. The
supervisor resolves each family's version once (the pinned id, else the registry's current
one) and writes a *plan*; every worker loads the plan's versions before it takes traffic. A
reload (SIGHUP, or a changed `current` pointer noticed by polling) writes a *pending* plan:
every worker loads it beside the one it serves and reports; once all have, the supervisor
flips the *active generation*, one 8-byte word in a shared memory map that each request reads,
so every worker answers with the new versions from the same instant. A worker started later
(a respawn) loads the active plan, never the registry's pointer.

The control folder (one per service, private to it):

    plan.json          {"active": {generation, versions}, "pending": {...} | null}
    active             the active generation, 8 bytes, read through mmap on every request
    loaded-<pid>.json  what each worker has loaded: {"generations": [...], "failed": {...}}

Serving alone (plain `uvicorn`, tests) the process runs the coordinator itself, on a private
folder: the same code, with one worker.
"""

from __future__ import annotations

import json
import logging
import mmap
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import EcomError
from pipeline.files import atomic_write
from pipeline.serving import registry
from pipeline.settings import Settings

log = logging.getLogger("api.control")
CONTROL_ENV = "ECOM_API_CONTROL_DIR"  # set by the supervisor for its workers
PLAN_FILE = "plan.json"
ACTIVE_FILE = "active"
_WORD = struct.Struct("<q")
# How long a reload waits for every worker to load the new versions before giving up.
RELOAD_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Plan:
    """What to serve: a generation number and each family's version (None: no model yet)."""

    generation: int
    versions: Mapping[str, str | None]

    def to_json(self) -> dict[str, Any]:
        return {"generation": self.generation, "versions": dict(self.versions)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        return cls(int(data["generation"]), dict(data["versions"]))


def resolve_versions(
    settings: Settings, pins: Mapping[str, str | None], families: Iterable[str]
) -> dict[str, str | None]:
    """Each family's version: its pin, else the registry's current one (None when the family
    has no model yet). Raises EcomError when a pointer cannot be read."""
    versions: dict[str, str | None] = {}
    for family in families:
        pinned = pins.get(family)
        versions[family] = pinned or registry.current_id(settings.models_dir, family)
    return versions


class ControlDir:
    """The files the supervisor and its workers share (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._map: mmap.mmap | None = None

    # -- the supervisor's side
    def create(self, plan: Plan) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / ACTIVE_FILE).write_bytes(_WORD.pack(plan.generation))
        self.write_plan(plan, None)

    def write_plan(self, active: Plan, pending: Plan | None) -> None:
        content = {"active": active.to_json(), "pending": pending and pending.to_json()}
        atomic_write(self.path / PLAN_FILE, json.dumps(content))

    def set_active(self, generation: int) -> None:
        self._active_map()[:8] = _WORD.pack(generation)

    def worker_report(self, pid: int) -> dict[str, Any]:
        try:
            return json.loads((self.path / f"loaded-{pid}.json").read_text())
        except (OSError, ValueError):
            return {}

    def forget_worker(self, pid: int) -> None:
        (self.path / f"loaded-{pid}.json").unlink(missing_ok=True)

    # -- the workers' side
    def read_plan(self) -> tuple[Plan, Plan | None]:
        data = json.loads((self.path / PLAN_FILE).read_text())
        pending = data.get("pending")
        return Plan.from_json(data["active"]), pending and Plan.from_json(pending)

    def plan_stamp(self) -> tuple[int, int]:
        """Changes whenever the plan is rewritten (each write is a new file: cheap to poll)."""
        try:
            stat = (self.path / PLAN_FILE).stat()
        except OSError:
            return (0, 0)
        return (stat.st_ino, stat.st_mtime_ns)

    def active(self) -> int:
        """The active generation: one read of shared memory (on every request)."""
        return _WORD.unpack_from(self._active_map())[0]

    def report(self, pid: int, generations: Iterable[int], failed: Mapping[int, str]) -> None:
        content = {
            "generations": sorted(generations),
            "failed": {str(k): v for k, v in failed.items()},
        }
        atomic_write(self.path / f"loaded-{pid}.json", json.dumps(content))

    def _active_map(self) -> mmap.mmap:
        if self._map is None:
            with open(self.path / ACTIVE_FILE, "r+b") as handle:
                self._map = mmap.mmap(handle.fileno(), 8)
        return self._map


class Coordinator:
    """Resolves the versions, and switches every worker to new ones together.

    `workers()` lists the pids that must have loaded a plan before it becomes active (the
    supervisor's live workers; the process itself when serving alone). Runs in a thread:
    `request_reload()` (SIGHUP) makes it look at once; otherwise it looks every `interval`
    seconds (0: only on request), and every few seconds while a required family has no model.
    """

    def __init__(
        self,
        control: ControlDir,
        settings: Settings,
        pins: Mapping[str, str | None],
        families: Iterable[str],
        required: Iterable[str],
        workers: Callable[[], list[int]],
        interval: float,
        missing_retry: float = 5.0,
    ) -> None:
        self.control = control
        self.settings = settings
        self.pins = dict(pins)
        self.families = list(families)
        self.required = set(required)
        self.workers = workers
        self.interval = interval
        self.missing_retry = missing_retry
        self.active: Plan | None = None
        self._refused: dict[str, str | None] | None = None  # versions a reload failed to load
        self._forced = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def initial_plan(self) -> Plan:
        """Generation 1: what the service starts with (families without a model: None)."""
        try:
            versions = resolve_versions(self.settings, self.pins, self.families)
        except EcomError as err:
            log.error("model versions not resolved at start: %s", err)
            versions = dict.fromkeys(self.families)
        self.active = Plan(1, versions)
        self.control.create(self.active)
        log.info("serving %s", _describe(self.active), extra={"generation": 1})
        return self.active

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-coordinator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def request_reload(self, reason: str) -> None:
        log.info("reload requested (%s)", reason)
        self._forced = True
        self._wake.set()

    def _missing_required(self) -> bool:
        return self.active is not None and any(
            self.active.versions.get(f) is None for f in self.required
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            timeout = self.interval or None
            if self._missing_required():
                timeout = min(timeout or self.missing_retry, self.missing_retry)
            self._wake.wait(timeout)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:  # the coordinator must outlive any one bad reload
                log.exception("reload failed")

    def check(self) -> bool:
        """Switch to the registry's versions if they changed; True when switched."""
        assert self.active is not None
        try:
            versions = resolve_versions(self.settings, self.pins, self.families)
        except EcomError as err:
            log.error("model versions not resolved, serving on: %s", err)
            return False
        forced, self._forced = self._forced, False
        if versions == dict(self.active.versions):
            return False
        if versions == self._refused and not forced:
            return False  # tried and failed: again only when they change, or on request
        switched = self.switch(Plan(self.active.generation + 1, versions))
        self._refused = None if switched else versions
        return switched

    def switch(self, pending: Plan) -> bool:
        """Have every worker load `pending`, then make it active; False (and the old plan
        kept) if a worker cannot load it or not in time."""
        assert self.active is not None
        log.info("loading %s beside the served versions", _describe(pending))
        self.control.write_plan(self.active, pending)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while True:
            waiting, failed = [], None
            for pid in self.workers():
                report = self.control.worker_report(pid)
                if str(pending.generation) in report.get("failed", {}):
                    failed = report["failed"][str(pending.generation)]
                elif pending.generation not in report.get("generations", []):
                    waiting.append(pid)
            if failed or time.monotonic() > deadline or self._stop.is_set():
                why = failed or f"workers {waiting} did not load it in {RELOAD_TIMEOUT_S:.0f} s"
                log.error("reload abandoned, serving on: %s", why)
                self.control.write_plan(self.active, None)
                return False
            if not waiting:
                break
            time.sleep(0.05)
        self.control.set_active(pending.generation)
        self.active = pending
        self.control.write_plan(pending, None)
        log.info("switched to %s", _describe(pending), extra={"generation": pending.generation})
        return True


def _describe(plan: Plan) -> str:
    return ", ".join(
        f"{family} {version or '(no model yet)'}" for family, version in plan.versions.items()
    )
