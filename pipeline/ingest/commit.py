"""The month's commit protocol: one state machine, a journal, and nothing ever half new.

A month is four things that must describe the same run: the lake partition, the quarantine
file, the manifest and bronze (`bronze.quarantine`, and `bronze.events`: a view over the local
lake, or rows in a table for a gs:// lake). `pipeline.ingest.stage` writes the new files next
to the old ones and checks them; `commit` makes them live. The journal
`<data>/.ingest/journal-<month>.json` records how far it got; its phases are written and read
only here:

local lake (the default)
  prepared   journal written (fsync'd): what will be swapped where. Then partition and
             quarantine are swapped by rename; each old one is kept as `.retired-<run>`.
  loading    bronze is loaded from the live (new) files and its counts checked; the manifest,
             with those counts, is swapped in last.
  committed  the journal says so; the retired copies and staging folders are removed and the
             journal deleted.
gs:// lake
  committed  is written first: GCS has no rename, so the upload cannot be undone and the month
             is rolled forward from its local staging copy (in `<data>/.ingest/`) instead.

A failure before `committed` in the running process rolls back: each swap is undone (the
retired copy renamed back) and, if bronze was touched, bronze is reloaded from the restored
files, so the previous month is live again. The phase held in memory is always the one on
disk: a journal write that fails (a full disk) leaves the previous phase, never a phase that
was not recorded. When the roll-back itself cannot finish (bronze cannot be written either),
the journal is kept, and the next start finishes it.

A process killed at any step leaves the journal behind: the next start (`recover`) rolls a
`prepared`/`loading` month back and a `committed` one forward, then deletes every stale
`.staging-*`/`.retired-*`. Every step is idempotent, so a crash during recovery is recovered
the same way. Only one run writes a data directory at a time (`pipeline.ingest.run`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pipeline.errors import DataContractError, EcomError, Interrupted, StorageError
from pipeline.faults import checkpoint
from pipeline.files import (
    TMP_SUFFIX,
    atomic_write,
    fsync_dir,
    is_storage_error,
    message,
    remove,
    storage_errors,
)
from pipeline.ingest.layout import EVENTS_TABLE, RETIRED_PREFIX, STAGING_PREFIX, Layout
from pipeline.ingest.manifest import Manifest
from pipeline.ingest.stage import StagedMonth
from pipeline.lake import Lake
from pipeline.settings import Settings
from pipeline.warehouse import BronzeLoad, connect

Phase = Literal["prepared", "loading", "committed"]


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
        remove(staged)

    def finish(self) -> None:
        remove(Path(self.retired))


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

    def advance(self, settings: Settings, phase: Phase) -> None:
        """Record `phase` atomically and durably (it is the commit record); only once it is on
        disk is it this journal's phase."""
        record = {**asdict(self), "phase": phase}
        atomic_write(self.path_for(settings, self.month), json.dumps(record, indent=2))
        self.phase = phase

    @classmethod
    def read(cls, path: Path) -> Journal:
        data = json.loads(path.read_text())
        data["swaps"] = {name: Swap(**swap) for name, swap in data["swaps"].items()}
        return cls(**data)

    def delete(self, settings: Settings) -> None:
        self.path_for(settings, self.month).unlink(missing_ok=True)
        fsync_dir(settings.ingest_state_dir)


def commit(staged: StagedMonth, *, load_warehouse: bool) -> Manifest:
    """Make a staged month live in the lake, the quarantine, bronze and the manifest, or leave
    the previous one live; the manifest as committed (with bronze's counts and timings)."""
    layout = staged.layout
    journal = Journal(
        run_id=layout.run_id,
        month=layout.month,
        month_key=layout.key,
        source_file=staged.manifest.source_file,
        lake=layout.lake.uri,
        phase="prepared",  # not recorded yet: the procedures below write the first phase
        swaps={
            name: Swap(str(p.target), str(p.staged), str(p.retired), had_old=p.target.exists())
            for name, p in layout.places().items()
        },
        staging=[str(f) for f in layout.folders()],
        warehouse=load_warehouse,
        gcs_staged=str(layout.parts_dir) if layout.lake.is_gcs else None,
    )
    if layout.lake.is_gcs:
        return _commit_gcs(staged, journal)
    return _commit_local(staged, journal)


def _begin(layout: Layout, journal: Journal, phase: Phase) -> None:
    """Write the journal's first phase; without it nothing may go live, so a failure removes
    what was staged."""
    settings = layout.settings
    try:
        with storage_errors(
            "write the ingestion journal in",
            settings.ingest_state_dir,
            intact=layout.untouched,
            retry=layout.retry,
        ):
            journal.advance(settings, phase)
    except BaseException as err:
        layout.remove_folders()
        remove(Journal.path_for(settings, layout.month))
        if isinstance(err, KeyboardInterrupt):
            raise layout.interrupted(layout.untouched) from None
        raise
    checkpoint(phase)


def _commit_local(staged: StagedMonth, journal: Journal) -> Manifest:
    """Swap partition and quarantine, load bronze, swap the manifest; roll back on failure."""
    layout, settings = staged.layout, staged.layout.settings
    started, timings = time.perf_counter(), {"parse_and_write": staged.seconds}
    _begin(layout, journal, "prepared")
    bronze_touched = False
    manifest = staged.manifest
    try:
        journal.swaps["partition"].forward()
        checkpoint("swapped-partition")
        journal.swaps["quarantine"].forward()
        checkpoint("swapped-quarantine")
        timings["publish"] = time.perf_counter() - started
        if journal.warehouse:
            journal.advance(settings, "loading")
            mark = time.perf_counter()
            loaded = connect(settings).load_bronze(
                manifest.source_file,
                layout.lake.parts(EVENTS_TABLE, layout.key),
                [manifest.quarantine_path],
            )
            bronze_touched = True  # a load that raised committed nothing: no undo needed
            checkpoint("bronze-loaded")
            timings["warehouse_load"] = time.perf_counter() - mark
            manifest = manifest.with_loaded(loaded.events, loaded.quarantined)
            if problems := manifest.load_problems():
                raise DataContractError(
                    f"Bronze does not hold what was written for {manifest.source_file}: "
                    f"{'; '.join(problems)}. If it persists, report the manifest."
                )
        total = staged.seconds + time.perf_counter() - started
        manifest = manifest.model_copy(update={"timings_seconds": {**timings, "total": total}})
        manifest.write_to(Path(journal.swaps["manifest"].staged))
        journal.swaps["manifest"].forward()
        checkpoint("swapped-manifest")
        journal.bronze_loaded = journal.warehouse
        journal.advance(settings, "committed")
        checkpoint("committed")
    except BaseException as err:
        told = _rolled_back(layout, journal, err, bronze_touched=bronze_touched)
        if told is err:
            raise
        raise told from err
    try:
        finish(settings, journal)
    except (OSError, KeyboardInterrupt) as err:
        why = "you interrupted the clean-up" if isinstance(err, KeyboardInterrupt) else str(err)
        error = Interrupted if isinstance(err, KeyboardInterrupt) else StorageError
        raise error(
            f"{layout.month} is committed and live, but removing its old copies failed ({why}). "
            "The next `ecom ingest` removes them."
        ) from None
    return manifest


def _rolled_back(
    layout: Layout, journal: Journal, err: BaseException, *, bronze_touched: bool
) -> BaseException:
    """Undo the uncommitted month; the error to raise says why, and that it was undone (or
    that the journal is kept because the undo could not finish)."""
    settings = layout.settings
    path = Journal.path_for(settings, layout.month)
    undo: BaseException | None = None
    try:
        roll_back(settings, journal, bronze_touched=bronze_touched)
        state = layout.rolled_back
    except BaseException as failure:
        undo = failure
        state = (
            f"Rolling this run back failed too ({_said(failure)}): the journal {path} is kept, "
            "and the next `ecom ingest` finishes the roll-back first."
        )
    if isinstance(err, KeyboardInterrupt) or isinstance(undo, KeyboardInterrupt):
        return layout.interrupted(state, retry=undo is None)
    if isinstance(err, EcomError):
        return type(err)(f"{err} {state} Fix the cause and re-run `{layout.retry}`.")
    if is_storage_error(err):
        where = Path(getattr(err, "filename", None) or journal.swaps["partition"].target)
        action = "write the ingestion journal" if where == path else "commit"
        return StorageError(message(action, where, err, intact=state, retry=layout.retry))
    if undo is not None:
        return StorageError(f"Committing {layout.month} failed ({err}). {state}")
    return err


def _said(err: BaseException) -> str:
    return "interrupted with Ctrl-C" if isinstance(err, KeyboardInterrupt) else str(err)


def _commit_gcs(staged: StagedMonth, journal: Journal) -> Manifest:
    """gs:// lake: commit first, then roll forward (an upload cannot be undone)."""
    layout, settings = staged.layout, staged.layout.settings
    _begin(layout, journal, "committed")
    mark = time.perf_counter()
    try:
        loaded = complete(settings, journal)
    except (Exception, KeyboardInterrupt) as err:
        kept = (
            f"The new run of {layout.month} is committed: its journal "
            f"{Journal.path_for(settings, layout.month)} is kept, and the next `ecom ingest` "
            "finishes it (upload, quarantine, bronze, manifest)."
        )
        if isinstance(err, KeyboardInterrupt):
            raise layout.interrupted(kept, retry=False) from None
        if isinstance(err, EcomError):
            raise type(err)(f"{err} {kept}") from err
        if is_storage_error(err):
            raise StorageError(
                message("complete", layout.parts_dir, err, intact=kept, retry="ecom ingest")
            ) from err
        raise
    manifest = staged.manifest
    if loaded is not None:
        manifest = manifest.with_loaded(loaded.events, loaded.quarantined)
    timings = {
        "parse_and_write": staged.seconds,
        "publish_and_load": time.perf_counter() - mark,
        "total": staged.seconds + time.perf_counter() - mark,
    }
    manifest = manifest.model_copy(update={"timings_seconds": timings})
    manifest.write_to(Path(journal.swaps["manifest"].target))
    if problems := manifest.load_problems():
        raise DataContractError(
            f"Bronze does not hold what was written for {manifest.source_file}: "
            f"{'; '.join(problems)}. Re-run `{layout.retry}`; if the counts still differ, "
            "report the manifest."
        )
    return manifest


# ---- the steps, shared by the running commit and by recovery --------------------------------
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
    # BigQuery loads a gs:// lake's objects itself (one load job from the bucket); DuckDB
    # loads the local staging copy of the same files.
    if journal.gcs_staged is not None and settings.warehouse == "duckdb":
        parts: list[str] = sorted(str(p) for p in Path(journal.gcs_staged).glob("*.parquet"))
    else:
        parts = lake.parts(EVENTS_TABLE, journal.month_key)
    quarantine = Path(journal.swaps["quarantine"].target)
    return connect(settings).load_bronze(
        journal.source_file, parts, [quarantine] if quarantine.exists() else []
    )


def roll_back(settings: Settings, journal: Journal, *, bronze_touched: bool) -> None:
    """Undo an uncommitted month: old files back, bronze reloaded from them if it was touched.

    Bronze is reloaded before anything is deleted: if that fails, the journal (still in its
    last recorded phase) lets the next start finish the roll-back."""
    for swap in reversed(list(journal.swaps.values())):
        swap.back()
    if bronze_touched:
        reload_bronze(settings, journal, undo=True)
    for folder in journal.staging:
        remove(Path(folder))
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
            _record_loaded(Path(journal.swaps["manifest"].staged), loaded)
    journal.swaps["manifest"].forward()
    finish(settings, journal)
    return loaded


def finish(settings: Settings, journal: Journal) -> None:
    """A committed month's clean-up: retired copies and staging folders, then the journal."""
    for swap in journal.swaps.values():
        swap.finish()
    for folder in journal.staging:
        remove(Path(folder))
    checkpoint("cleaned")
    journal.delete(settings)


def _record_loaded(staged_manifest: Path, loaded: BronzeLoad) -> None:
    """Write what bronze now holds into a staged (not yet live) manifest."""
    if staged_manifest.exists():
        manifest = Manifest.read(staged_manifest)
        manifest.with_loaded(loaded.events, loaded.quarantined).write_to(staged_manifest)


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
                    # A killed `loading` run may have committed bronze: reload it to be sure.
                    roll_back(settings, journal, bronze_touched=journal.phase == "loading")
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
                folder == settings.ingest_state_dir and stale.name.endswith(TMP_SUFFIX)
            ):
                remove(stale)
                removed += 1
    return removed
