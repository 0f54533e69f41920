"""What a worker serves: the loaded versions of every family, one generation at a time.

The lifespan calls `ServingState.start` before the worker accepts a connection: it loads the
plan's active generation (every family's version, api.control) and, when the service has a bulk
process, has it load the same versions. A worker therefore takes traffic only once its models
are loaded. Then a watcher thread follows the plan: it loads a pending generation beside the
served one (and reports it), drops generations nobody serves any more, and retries a load that
failed. `current()` is what a request scores with: the generation the shared active word names.

A worker started by the supervisor gets its control folder in ECOM_API_CONTROL_DIR. Serving
alone, the worker coordinates itself (a private control folder, api.control.Coordinator).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from api.control import CONTROL_ENV, ControlDir, Coordinator, Plan
from api.families import FAMILIES, Family, Served, version_folder
from pipeline.settings import Settings

log = logging.getLogger("api.state")
RETRY_SECONDS = 5.0  # a failed load is retried this often
WATCH_SECONDS = 0.1  # how often a worker looks at the plan
# A generation replaced by a newer one is kept this long (a bulk call admitted just before the
# switch still finds its versions in the bulk process).
DROP_GRACE_S = 5.0


@dataclass(frozen=True)
class Generation:
    """Every family's loaded version (None: the family has no model yet)."""

    number: int
    versions: Mapping[str, str | None]
    models: Mapping[str, Any]
    problems: Mapping[str, str] = field(default_factory=dict)  # why a family has no model

    @property
    def session(self) -> Served | None:
        return self.models.get("session")


class ServingState:
    def __init__(
        self, settings: Settings, families: tuple[Family, ...] = FAMILIES, bulk: Any = None
    ) -> None:
        self.settings = settings
        self.families = families
        self.bulk = bulk  # api.bulk_pool.BulkPool, or None
        self.generations: dict[int, Generation] = {}
        self.failed: dict[int, str] = {}
        self.on_switch: list[Callable[[Generation, Generation | None], None]] = []
        self.problem = "the model is loading"
        self.control: ControlDir | None = None
        self._current: Generation | None = None
        self._coordinator: Coordinator | None = None
        self._private_dir: str | None = None
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._next_retry = 0.0
        self._superseded: dict[int, float] = {}  # generation -> when it stopped being served

    # -- lifecycle
    def start(self) -> None:
        """Load the active generation (blocking: called before the worker serves), then follow
        the plan in a thread."""
        path = os.environ.get(CONTROL_ENV)
        if path:
            self.control = ControlDir(path)
        else:
            self._private_dir = tempfile.mkdtemp(prefix="ecom-api-control-")
            self.control = ControlDir(self._private_dir)
            self._coordinator = Coordinator(
                self.control,
                self.settings,
                {f.name: f.pin(self.settings) for f in self.families},
                [f.name for f in self.families],
                [f.name for f in self.families if f.required],
                workers=lambda: [os.getpid()],
                interval=self.settings.api_reload_seconds,
                missing_retry=RETRY_SECONDS,
            )
            self._coordinator.initial_plan()
        self._follow_plan()
        self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._thread.start()
        if self._coordinator is not None:
            self._coordinator.start()

    def stop(self) -> None:
        self._stop.set()
        if self._coordinator is not None:
            self._coordinator.stop()
        if self.control is not None:
            self.control.forget_worker(os.getpid())
        if self._private_dir:
            shutil.rmtree(self._private_dir, ignore_errors=True)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a generation with every required family is served (tests and
        benchmarks); False on timeout."""
        return self._loaded.wait(timeout)

    # -- on every request
    def current(self) -> Generation | None:
        """The generation to score with: the one the shared active word names."""
        current = self._current
        number = self.control.active() if self.control is not None else 0
        if current is not None and current.number == number:
            return current
        found = self.generations.get(number)
        if found is None:
            return current  # not loaded here (yet): the last one served
        with self._lock:
            if self._current is not found:
                previous, self._current = self._current, found
                if previous is not None:
                    self._superseded[previous.number] = time.monotonic()
                self._switched(found, previous)
        return found

    def problems(self, generation: Generation) -> dict[str, str]:
        """Why a family of `generation` has no model (families that have one are left out)."""
        return {
            f.name: generation.problems.get(f.name) or _no_model(f.name)
            for f in self.families
            if generation.models.get(f.name) is None
        }

    def _switched(self, now: Generation, previous: Generation | None) -> None:
        missing = [f.name for f in self.families if f.required and now.models.get(f.name) is None]
        if missing:
            self.problem = _no_model(missing[0])
            self._loaded.clear()
        else:
            self.problem = ""
            self._loaded.set()
        for callback in self.on_switch:
            callback(now, previous)

    # -- following the plan
    def _watch(self) -> None:
        stamp = (0, 0)  # read the plan at once: it may have changed while the worker started
        while not self._stop.wait(WATCH_SECONDS):
            assert self.control is not None
            now = self.control.plan_stamp()
            retry = self.failed and not self._stop.wait(0) and self._retry_due()
            if now != stamp or retry:
                stamp = now
                try:
                    self._follow_plan()
                except Exception:  # the watcher must outlive a bad plan or folder
                    log.exception("following the model plan failed")
            self._drop_unused()
            self.current()  # switch now, not at the next request (metrics, /ready)

    def _retry_due(self) -> bool:
        if time.monotonic() < self._next_retry:
            return False
        self._next_retry = time.monotonic() + RETRY_SECONDS
        return True

    def _follow_plan(self) -> None:
        assert self.control is not None
        active, pending = self.control.read_plan()
        planned = {active.generation} | ({pending.generation} if pending else set())
        self.failed = {k: v for k, v in self.failed.items() if k in planned}
        for plan in (active, pending):
            if plan is not None and plan.generation not in self.generations:
                self._load(plan)
        self.control.report(os.getpid(), self.generations, self.failed)
        self.current()
        if self._current is None and active.generation in self.failed:
            self.problem = self.failed[active.generation]

    def _load(self, plan: Plan) -> None:
        """Load every family's version of a plan (and have the bulk process load them)."""
        folders = {
            family: version_folder(self.settings, family, model_id)
            for family, model_id in plan.versions.items()
            if model_id is not None
        }
        try:
            with ThreadPoolExecutor(max_workers=1) as pool:
                bulk = pool.submit(self.bulk.load, plan.generation, folders) if self.bulk else None
                models: dict[str, Any] = {}
                problems: dict[str, str] = {}
                for family in self.families:
                    folder = folders.get(family.name)
                    models[family.name] = (
                        None if folder is None else self._load_one(family, folder, problems)
                    )
                if bulk is not None:
                    bulk.result()
        except Exception as err:  # a broken folder must not kill the worker: say why, retry
            log.exception("generation %s not loaded", plan.generation)
            versions = ", ".join(v for v in plan.versions.values() if v)
            self.failed[plan.generation] = (
                f"model {versions} could not be loaded ({type(err).__name__}; the service log "
                "says more). It is retried every few seconds"
            )
            return
        self.failed.pop(plan.generation, None)
        self.generations[plan.generation] = Generation(
            plan.generation, dict(plan.versions), models, problems
        )

    def _load_one(self, family: Family, folder: Any, problems: dict[str, str]) -> Any:
        """One family's version. An optional family's broken version does not stop the FIRST
        load (the service starts without it and says why in /ready); in a reload it fails the
        whole generation, so the versions served before stay."""
        if family.required or self.generations:
            return family.load(folder)
        try:
            return family.load(folder)
        except Exception as err:
            log.exception("%s model not loaded; serving without it", family.name)
            problems[family.name] = (
                f"the {family.name} version {folder.name} could not be loaded ({err}); promote "
                f"another (`ecom models promote --family {family.name} ID`) or retrain"
            )
            return None

    def _drop_unused(self) -> None:
        """Forget generations that are neither active nor pending (and not in use by a bulk
        call still running on them)."""
        assert self.control is not None
        if len(self.generations) <= 1:
            return
        try:
            active, pending = self.control.read_plan()
        except (OSError, ValueError):
            return
        wanted = {active.generation, self.control.active()}
        if pending is not None:
            wanted.add(pending.generation)
        now = time.monotonic()
        for number in list(self.generations):
            if number in wanted or (self.bulk is not None and self.bulk.in_use(number)):
                continue
            if now - self._superseded.get(number, -DROP_GRACE_S) < DROP_GRACE_S:
                continue
            del self.generations[number]
            self._superseded.pop(number, None)
            if self.bulk is not None:
                self.bulk.drop(number)
            log.info("generation %s dropped", number)
        self.control.report(os.getpid(), self.generations, self.failed)


def _no_model(family: str) -> str:
    option = "" if family == "session" else f" --family {family}"
    return (
        f"no {family} model yet: train one (`ecom train{option}`) or promote a version "
        f"(`ecom models promote{option} ID`); the service loads it within seconds"
    )
