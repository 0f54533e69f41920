"""The month's commit protocol: one writer, a journal, and nothing ever half new.

A month is four things that must describe the same run: the lake partition, the quarantine
file, the manifest and bronze (`bronze.quarantine`, and `bronze.events`: a view over the local
lake, or rows in a table for a gs:// lake). `pipeline.ingest.run` builds the new versions of
the files next to the old ones (`.staging-<run>`), checks them, and then commits them through
this module:

local lake (the default)
  prepared   journal `<data>/.ingest/journal-<month>.json` written (fsync'd): what will be
             swapped where. Then partition and quarantine are swapped by rename; each old one
             is kept as `.retired-<run>` beside it.
  loading    bronze is loaded from the live (new) files and its counts checked; the manifest,
             with those counts, is swapped in last.
  committed  the journal says so; the retired copies and staging folders are removed and the
             journal deleted.
gs:// lake
  committed  is written first, once the staged files are checked: GCS has no rename, so the
             upload cannot be undone and the month is rolled forward from its local staging
             copy (in `<data>/.ingest/`) instead.

A failure before `committed` in the running process rolls back: each swap is undone (the
retired copy renamed back) and, if bronze may have been touched, bronze is reloaded from the
restored files, so the previous month is live again. A process killed at any step leaves the
journal behind: the next start (`recover`) rolls a `prepared`/`loading` month back and a
`committed` one forward, then deletes every stale `.staging-*`/`.retired-*`. Every step is
idempotent, so a crash during recovery is recovered the same way.

Only one run writes a data directory at a time: `ingest_lock` takes an exclusive `flock` on
`<data>/.ingest/lock` (released by the kernel when the process dies, however it dies) and
records who holds it, which a second run reports before doing anything.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pipeline.errors import BusyError, EcomError, StorageError
from pipeline.faults import checkpoint
from pipeline.ingest.manifest import Manifest
from pipeline.ingest.storage import storage_errors, user
from pipeline.lake import Lake
from pipeline.settings import Settings
from pipeline.warehouse import BronzeLoad, connect

EVENTS_TABLE = "events"
Phase = Literal["prepared", "loading", "committed"]
STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"


@dataclass
class Swap:
    """One path replaced by a staged one; the old one is kept at `retired` until the end.

    Works for folders (the partition) and files (quarantine, manifest) alike: two renames in
    one directory. `had_old` says whether `target` existed when the journal was written, which
    is what makes every state after a crash unambiguous.
    """

    target: str
    staged: str
    retired: str
    had_old: bool

    def forward(self) -> None:
        """Put the staged version in place (idempotent: nothing to do once `staged` is gone)."""
        target, staged, retired = Path(self.target), Path(self.staged), Path(self.retired)
        if not staged.exists():
            return
        if target.exists():
            target.rename(retired)
        staged.rename(target)

    def back(self) -> None:
        """Put the old version back and drop the new one (idempotent, from any state)."""
        target, staged, retired = Path(self.target), Path(self.staged), Path(self.retired)
        if retired.exists():
            if target.exists() and not staged.exists():
                target.rename(staged)
            retired.rename(target)
        elif not self.had_old and target.exists() and not staged.exists():
            target.rename(staged)
        _remove(staged)

    def finish(self) -> None:
        _remove(Path(self.retired))


@dataclass
class Journal:
    run_id: str
    month: str
    month_key: str
    source_file: str
    lake: str
    phase: Phase
    swaps: dict[str, Swap]  # "partition" (local lake only), "quarantine", "manifest"
    staging: list[str]  # folders of this run to delete at the end
    warehouse: bool  # does this run load bronze
    bronze_loaded: bool = False
    gcs_staged: str | None = None  # gs:// lake: the local copy of the parts to upload
    pid: int = field(default_factory=os.getpid)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @staticmethod
    def path_for(settings: Settings, month: str) -> Path:
        return settings.ingest_state_dir / f"journal-{month}.json"

    def write(self, settings: Settings, phase: Phase | None = None) -> None:
        """Atomically and durably (fsync of the file and its folder): it is the commit record."""
        if phase is not None:
            self.phase = phase
        path = self.path_for(settings, self.month)
        tmp = path.with_name(path.name + ".tmp")
        with tmp.open("w") as handle:
            json.dump(asdict(self), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
        _fsync_dir(path.parent)

    @classmethod
    def read(cls, path: Path) -> Journal:
        data = json.loads(path.read_text())
        data["swaps"] = {name: Swap(**swap) for name, swap in data["swaps"].items()}
        return cls(**data)

    def delete(self, settings: Settings) -> None:
        self.path_for(settings, self.month).unlink(missing_ok=True)
        _fsync_dir(settings.ingest_state_dir)


def reload_bronze(settings: Settings, journal: Journal, *, undo: bool) -> BronzeLoad | None:
    """Make bronze what the live files say (after a swap, or after undoing one).

    On a gs:// lake the parts are the local staging copy of what was uploaded. A DuckDB
    warehouse that does not exist yet has nothing to undo.
    """
    if not journal.warehouse:
        return None
    if undo and settings.warehouse == "duckdb" and not settings.warehouse_path.exists():
        return None
    lake = Lake(journal.lake)
    if journal.gcs_staged is not None:
        parts: list[str] = sorted(str(p) for p in Path(journal.gcs_staged).glob("*.parquet"))
    else:
        parts = lake.parts(EVENTS_TABLE, journal.month_key)
    quarantine = Path(journal.swaps["quarantine"].target)
    return connect(settings).load_bronze(
        journal.source_file, parts, [quarantine] if quarantine.exists() else []
    )


def roll_back(settings: Settings, journal: Journal) -> None:
    """Undo an uncommitted month: old files back, bronze reloaded from them if it was touched."""
    for swap in reversed(list(journal.swaps.values())):
        swap.back()
    if journal.phase == "loading":
        reload_bronze(settings, journal, undo=True)
    for folder in journal.staging:
        _remove(Path(folder))
    journal.delete(settings)


def complete(settings: Settings, journal: Journal) -> BronzeLoad | None:
    """Finish a committed month: upload (gs://), swaps, bronze, manifest, clean-up. Idempotent."""
    loaded = None
    if journal.gcs_staged is not None and Path(journal.gcs_staged).exists():
        Lake(journal.lake).publish(Path(journal.gcs_staged), EVENTS_TABLE, journal.month_key)
        checkpoint("uploaded")
    for name, swap in journal.swaps.items():
        if name != "manifest":
            swap.forward()
    if journal.warehouse and not journal.bronze_loaded:
        loaded = reload_bronze(settings, journal, undo=False)
        if loaded is not None:
            record_loaded(Path(journal.swaps["manifest"].staged), loaded)
    journal.swaps["manifest"].forward()
    finish(settings, journal)
    return loaded


def finish(settings: Settings, journal: Journal) -> None:
    for swap in journal.swaps.values():
        swap.finish()
    for folder in journal.staging:
        _remove(Path(folder))
    checkpoint("cleaned")
    journal.delete(settings)


def record_loaded(staged_manifest: Path, loaded: BronzeLoad) -> None:
    """Write what bronze now holds into a staged (not yet live) manifest."""
    if not staged_manifest.exists():
        return
    manifest = Manifest.read(staged_manifest)
    replace(manifest, rows_loaded=loaded.events, quarantine_loaded=loaded.quarantined).write_to(
        staged_manifest
    )


def recover(settings: Settings) -> list[str]:
    """At start, with the lock held: settle every journal left by a killed run, then delete
    stale staging and retired folders. Returns one line per thing done, for the user."""
    done: list[str] = []
    state = settings.ingest_state_dir
    for path in sorted(state.glob("journal-*.json")) if state.is_dir() else []:
        journal = Journal.read(path)
        what = f"an interrupted ingest of {journal.month} (pid {journal.pid}, {journal.phase})"
        retry = f"ecom ingest --month {journal.month}"
        intact = f"The journal {path} is kept; the next start tries again."
        with storage_errors(f"recover {what} in", path.parent, intact=intact, retry=retry):
            try:
                if journal.phase == "committed":
                    complete(settings, journal)
                    done.append(f"completed {what}: the new run is live")
                else:
                    roll_back(settings, journal)
                    done.append(f"rolled back {what}: the previous run is live")
            except StorageError:
                raise
            except EcomError as err:  # e.g. the warehouse is held by another process
                raise type(err)(f"While recovering {what}: {err} {intact}") from err
    removed = _remove_stale(settings)
    if removed:
        done.append(f"removed {removed} stale staging folder(s) of killed runs")
    return done


def _remove_stale(settings: Settings) -> int:
    """Staging and retired leftovers no journal refers to (all of them, once recovered)."""
    folders = [settings.quarantine_dir, settings.manifest_dir, settings.ingest_state_dir]
    lake = Lake(settings.lake)
    if not lake.is_gcs:
        folders.append(Path(lake.uri) / EVENTS_TABLE)
    removed = 0
    for folder in folders:
        if not folder.is_dir():
            continue
        for stale in folder.iterdir():
            if stale.name.startswith((STAGING_PREFIX, RETIRED_PREFIX)) or (
                folder == settings.ingest_state_dir and stale.name.endswith(".tmp")
            ):
                _remove(stale)
                removed += 1
    return removed


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingestion per data directory; a second one fails at once, naming the holder."""
    state = settings.ingest_state_dir
    lock = state / "lock"
    retry = "ecom ingest"
    intact = "Nothing was changed."
    with storage_errors("create the ingestion lock", lock, intact=intact, retry=retry):
        state.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BusyError(
                f"Another ingestion is writing {settings.data_dir}: {_holder(fd)}. Only one "
                "`ecom ingest` may write a data directory at a time: wait for it to finish "
                "(or stop it), then re-run."
            ) from None
        holder = {
            "pid": os.getpid(),
            "user": user(),
            "host": socket.gethostname(),
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        try:
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        info = {}
    if not info:
        return "a process that is just starting"
    return (
        f"pid {info.get('pid')} (`{info.get('command')}`, user {info.get('user')}, "
        f"host {info.get('host')}, since {info.get('since')})"
    )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
