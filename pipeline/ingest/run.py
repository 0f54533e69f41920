"""One run of `ecom ingest`: take the lock, settle what a killed run left, then each month in
turn: `stage` (write and check the new files beside the live ones), then `commit` (make them
live in the lake, the quarantine, bronze and the manifest, or leave the previous month).

Only one run writes a data directory at a time: an exclusive `flock` on `<data>/.ingest/lock`
(released by the kernel when the process dies, however it dies) that records who holds it,
which a second run reports before doing anything.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.errors import BusyError, EcomError, InputError, Interrupted
from pipeline.experiment.config import load_experiments
from pipeline.files import LockHeld, exclusive_lock, storage_errors, user
from pipeline.ingest import commit
from pipeline.ingest.manifest import Manifest
from pipeline.ingest.sources import known_month, unread_files
from pipeline.ingest.stage import stage
from pipeline.ingest.writer import DEFAULT_BATCH_ROWS
from pipeline.settings import MONTHS, Settings

if TYPE_CHECKING:
    from rich.progress import Progress


def ingest(
    settings: Settings,
    months: Sequence[str] | None = None,
    *,
    batch_size: int | None = None,
    load_warehouse: bool = True,
    force: bool = False,
    progress: Progress | None = None,
    report: Callable[[str], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Manifest]:
    """Ingest the given months (default: every month whose raw file exists), one at a time.

    Takes the data directory's ingestion lock for the whole run, and first settles whatever a
    killed run left (`commit.recover`); `report` receives one line per thing recovered, `warn`
    one line per file in the raw folder that looks meant as a month but is not read.
    """
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch_size must be a positive number of lines, not {batch_size}.")
    unread = unread_files(settings.raw_dir, MONTHS if months is None else months)
    if months is None:
        months = [m for m in MONTHS if (settings.raw_dir / f"{m}.csv").exists()]
        if not months:
            raise InputError(
                f"No raw files in {settings.raw_dir}. Run `ecom generate` first, or copy "
                f"monthly CSVs there named like {MONTHS[0]}.csv."
                + (f" {unread}." if unread else "")
            )
    for month in months:
        known_month(month)  # every name checked before anything is touched
    load_experiments(settings)  # and experiments.yml, which says what to assign and inject
    if unread and warn is not None:
        warn(unread)
    with ingest_lock(settings):
        try:
            recovered = commit.recover(settings)
        except KeyboardInterrupt:
            raise Interrupted(
                "Interrupted (Ctrl-C) while settling what a killed run left: its journal is "
                "kept, and the next `ecom ingest` finishes it first."
            ) from None
        for line in recovered:
            if report is not None:
                report(line)
        done: list[Manifest] = []
        for position, month in enumerate(months):
            try:
                staged = stage(
                    settings,
                    month,
                    batch_size=batch_size or DEFAULT_BATCH_ROWS,
                    force=force,
                    progress=progress,
                )
                done.append(commit.commit(staged, load_warehouse=load_warehouse))
            except (EcomError, KeyboardInterrupt) as err:
                stopped = _stopped(err, month, done, months[position + 1 :])
                if stopped is err:
                    raise
                raise stopped from err
        return done


def _stopped(
    err: BaseException, month: str, done: list[Manifest], rest: Sequence[str]
) -> BaseException:
    """The month's error, plus which months went in before it and which were not attempted."""
    if isinstance(err, KeyboardInterrupt):  # outside a month's own handling (e.g. between two)
        err = Interrupted(f"Interrupted (Ctrl-C) while ingesting {month}.")
    if not rest:
        return err
    before = f"Ingested before it: {', '.join(m.month for m in done)}. " if done else ""
    again = " ".join(f"--month {m}" for m in [month, *rest])
    return type(err)(
        f"{err} {before}Not attempted: {', '.join(rest)}; once fixed, `ecom ingest {again}` "
        "ingests them."
    )


def ingest_month(
    settings: Settings,
    month: str,
    *,
    batch_size: int | None = None,
    load_warehouse: bool = True,
    force: bool = False,
    progress: Progress | None = None,
) -> Manifest:
    """Ingest one month; re-running it replaces its partition, quarantine and bronze rows."""
    (manifest,) = ingest(
        settings,
        [month],
        batch_size=batch_size,
        load_warehouse=load_warehouse,
        force=force,
        progress=progress,
    )
    return manifest


@contextmanager
def ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingestion per data directory; a second one fails at once, naming the holder."""
    lock = settings.ingest_state_dir / "lock"
    holder = {
        "pid": os.getpid(),
        "user": user(),
        "host": socket.gethostname(),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with ExitStack() as held:
        with storage_errors(
            "create the ingestion lock", lock, intact="Nothing was changed.", retry="ecom ingest"
        ):
            try:
                held.enter_context(exclusive_lock(lock, wait=False, note=json.dumps(holder)))
            except LockHeld as other:
                raise BusyError(
                    f"Another ingestion is writing {settings.data_dir}: {_holder(other.note)}. "
                    "Only one `ecom ingest` may write a data directory at a time: wait for it "
                    "to finish (or stop it), then re-run."
                ) from None
        yield


def _holder(note: str) -> str:
    try:
        info = json.loads(note or "{}")
    except ValueError:
        info = {}
    if not info:
        return "a process that is just starting"
    return (
        f"pid {info.get('pid')} (`{info.get('command')}`, user {info.get('user')}, "
        f"host {info.get('host')}, since {info.get('since')})"
    )
