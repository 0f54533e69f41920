"""One month at a time: raw CSV -> Parquet lake + quarantine + manifest -> bronze.

A month is one streaming Polars query over its lines, read once. The engine hands batches of
`batch_size` lines to a callback that writes each as one bronze part (plus a quarantine part
when it holds bad lines), so memory stays flat whatever the file size. Nothing is kept but
the row count and one 64-bit hash per good row (32 MB for a full month, to count duplicates).

Everything new is staged next to what it replaces and checked before anything goes live:
every row accounted for, the input unchanged since it was opened, and the refusal rule (a live
month is not replaced by a run that writes nothing or quarantines more than
`max_quarantine_share` of its lines, unless forced). Then `pipeline.ingest.commit` swaps it in
under a journal, so a failure or a killed process never leaves a half-new month.

(Why not two native `sink_parquet`s via `collect_all`? Measured on a full month it read the
plan twice and buffered: 2x the time and 2.5 GB peak. One stream split per batch costs
~10% over a single native sink.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from rich.progress import Progress

from pipeline.errors import DataContractError, EcomError, InputError, StorageError
from pipeline.experiment import GROUPS
from pipeline.faults import checkpoint
from pipeline.ingest import commit
from pipeline.ingest.commit import EVENTS_TABLE, RETIRED_PREFIX, STAGING_PREFIX, Journal, Swap
from pipeline.ingest.manifest import Manifest
from pipeline.ingest.sources import (
    RawFile,
    check_header,
    known_month,
    month_bounds,
    open_raw,
    raw_file,
    raw_lines,
    scan_lines,
    utf8_copy,
)
from pipeline.ingest.storage import is_storage_error, message, storage_errors
from pipeline.ingest.transforms import bronze_rows, enrich, parse, quarantine_rows, split_fields
from pipeline.lake import Lake
from pipeline.schema import QUARANTINE_SCHEMA
from pipeline.settings import MONTHS, Settings, month_key
from pipeline.warehouse import connect

# Lines per streaming batch and per bronze part file: big enough for few files and fast
# Parquet writes, small enough that a few batches in flight stay well under 700 MiB.
DEFAULT_BATCH_ROWS = 250_000
# zstd level 1: a third smaller than lz4/snappy; against zstd's default level 3 it saves ~20%
# of the encoding CPU (~0.5 s of a month's ~9 CPU-seconds) for files ~5% larger (measured).
PARQUET_OPTIONS: dict[str, object] = {"compression": "zstd", "compression_level": 1}
# How many quarantined lines a refusal message shows.
_SHOWN_REJECTS = 3


def ingest(
    settings: Settings,
    months: Sequence[str] | None = None,
    *,
    batch_size: int | None = None,
    load_warehouse: bool = True,
    force: bool = False,
    progress: Progress | None = None,
    report: Callable[[str], None] | None = None,
) -> list[Manifest]:
    """Ingest the given months (default: every month whose raw file exists), one at a time.

    Takes the data directory's ingestion lock for the whole run, and first settles whatever a
    killed run left (`commit.recover`); `report` receives one line per thing recovered.
    """
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch_size must be a positive number of lines, not {batch_size}.")
    if months is None:
        months = [m for m in MONTHS if (settings.raw_dir / f"{m}.csv").exists()]
        if not months:
            raise InputError(
                f"No raw files in {settings.raw_dir}. Run `ecom generate` first, or copy "
                f"monthly CSVs there named like {MONTHS[0]}.csv."
            )
    for month in months:
        known_month(month)  # every name checked before anything is touched
    with commit.ingest_lock(settings):
        for line in commit.recover(settings):
            if report is not None:
                report(line)
        return [
            _ingest_month(
                settings,
                month,
                batch_size=batch_size or DEFAULT_BATCH_ROWS,
                load_warehouse=load_warehouse,
                force=force,
                progress=progress,
            )
            for month in months
        ]


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


@dataclass
class _Run:
    """Where one run of a month stages its files, and what each replaces."""

    settings: Settings
    month: str
    key: str
    run_id: str
    lake: Lake

    @property
    def retry(self) -> str:
        return f"ecom ingest --month {self.month}"

    @property
    def untouched(self) -> str:
        return f"Nothing was published: the previous run of {self.month} (if any) is intact."

    def folder(self, parent: Path, prefix: str = STAGING_PREFIX) -> Path:
        return parent / f"{prefix}{self.run_id}"

    @property
    def parts_dir(self) -> Path:
        """Local lake: beside the partition (same file system, so publishing is a rename);
        gs:// lake: a durable local copy under the ingestion state folder."""
        if self.lake.is_gcs:
            return self.folder(self.settings.ingest_state_dir)
        return self.folder(Path(self.lake.uri) / EVENTS_TABLE)

    @property
    def quarantine_dir(self) -> Path:
        return self.folder(self.settings.quarantine_dir)

    @property
    def manifest_dir(self) -> Path:
        return self.folder(self.settings.manifest_dir)

    @property
    def batches_dir(self) -> Path:
        return self.quarantine_dir / "batches"

    def swaps(self) -> dict[str, Swap]:
        def file_swap(folder: Path, name: str) -> Swap:
            target = folder / name
            return Swap(
                target=str(target),
                staged=str(self.folder(folder) / name),
                retired=str(self.folder(folder, RETIRED_PREFIX) / name),
                had_old=target.exists(),
            )

        swaps = {}
        if not self.lake.is_gcs:
            target = Path(self.lake.partition(EVENTS_TABLE, self.key))
            swaps["partition"] = Swap(
                target=str(target),
                staged=str(self.parts_dir),
                retired=str(self.folder(target.parent, RETIRED_PREFIX)),
                had_old=target.exists(),
            )
        swaps["quarantine"] = file_swap(self.settings.quarantine_dir, f"{self.month}.parquet")
        swaps["manifest"] = file_swap(self.settings.manifest_dir, f"{self.month}.json")
        return swaps

    def folders(self) -> list[Path]:
        """Every folder this run creates, in creation order (all removed at the end)."""
        folders = [self.parts_dir, self.quarantine_dir, self.batches_dir, self.manifest_dir]
        for parent in (self.settings.quarantine_dir, self.settings.manifest_dir):
            folders.append(self.folder(parent, RETIRED_PREFIX))
        return folders

    def create_folders(self) -> None:
        """All staging folders up front: a read-only lake, quarantine or manifest folder fails
        here, before a month is parsed."""
        for folder in self.folders():
            with storage_errors(
                "create a staging folder in",
                folder.parent,
                intact=self.untouched,
                retry=self.retry,
            ):
                folder.mkdir(parents=True)

    def remove_folders(self) -> None:
        for folder in reversed(self.folders()):
            commit._remove(folder)


def _ingest_month(
    settings: Settings,
    month: str,
    *,
    batch_size: int,
    load_warehouse: bool,
    force: bool,
    progress: Progress | None,
) -> Manifest:
    started = time.perf_counter()
    timings: dict[str, float] = {}
    key = month_key(known_month(month))
    path = raw_file(settings, month)
    lake = Lake(settings.lake)
    run = _Run(settings, month, key, uuid.uuid4().hex[:16], lake)
    ingested_at = datetime.now(UTC)
    with open_raw(path) as raw:
        check_header(raw)
        # The bar counts lines, estimated up front from the file size (counting costs a pass).
        task = (
            progress.add_task(f"ingest {month}", total=_estimated_lines(raw)) if progress else None
        )

        def on_rows(n: int) -> None:
            if progress is not None and task is not None:
                progress.advance(task, n)

        try:
            run.create_folders()
            manifest = _stage(run, raw, batch_size, ingested_at, on_rows, force)
            timings["parse_and_write"] = time.perf_counter() - started
        except BaseException:
            run.remove_folders()
            raise
        if progress is not None and task is not None:
            progress.update(task, total=manifest.rows_read, completed=manifest.rows_read)
    journal = Journal(
        run_id=run.run_id,
        month=month,
        month_key=key,
        source_file=path.name,
        lake=lake.uri,
        phase="prepared",
        swaps=run.swaps(),
        staging=[str(f) for f in run.folders()],
        warehouse=load_warehouse,
        gcs_staged=str(run.parts_dir) if lake.is_gcs else None,
    )
    mark = time.perf_counter()
    if lake.is_gcs:
        return _commit_gcs(run, journal, manifest, timings, started)
    return _commit_local(run, journal, manifest, timings, started, mark)


def _stage(
    run: _Run,
    raw: RawFile,
    batch_size: int,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
    force: bool,
) -> Manifest:
    """Write and check every new file of the month in its staging folder; publish nothing."""
    settings, month = run.settings, run.month
    with ThreadPoolExecutor(max_workers=1) as pool:
        # hashlib releases the GIL: the fingerprint overlaps the Polars query.
        digest = pool.submit(raw.sha256)
        rows_read, hashes = _write_parts(run, raw, batch_size, ingested_at, on_rows)
        staged_quarantine = Path(run.swaps()["quarantine"].staged)
        with storage_errors(
            "write the quarantine file", staged_quarantine, intact=run.untouched, retry=run.retry
        ):
            _stage_quarantine(sorted(run.batches_dir.glob("*.parquet")), staged_quarantine, raw)
        # Account for every row from the staged files, before anything goes live.
        with storage_errors(
            "read back the staged files in", run.parts_dir, intact=run.untouched, retry=run.retry
        ):
            written = _bronze_counts(sorted(run.parts_dir.glob("*.parquet")))
            reasons = _reason_counts(staged_quarantine)
        sha256 = digest.result()
    raw.check_unchanged()  # the bytes hashed and parsed are still what the path names
    part_names = sorted(p.name for p in run.parts_dir.glob("*.parquet"))
    partition = run.lake.partition(EVENTS_TABLE, run.key)
    manifest = Manifest(
        month=month,
        month_key=run.key,
        source_file=raw.path.name,
        source_path=str(raw.path),
        input_bytes=raw.size,
        input_sha256=sha256,
        rows_read=rows_read,
        rows_written=int(written["rows"].sum()),
        rows_quarantined=sum(reasons.values()),
        quarantined_by_reason=reasons,
        rows_injected=int(written["injected"].sum()),
        duplicate_rows=hashes.len() - hashes.n_unique(),
        rows_by_group=_by_group(written, "rows"),
        injected_by_group=_by_group(written, "injected"),
        rows_loaded=None,
        quarantine_loaded=None,
        parts=[f"{partition}/{name}" for name in part_names],
        quarantine_path=str(settings.quarantine_dir / f"{month}.parquet"),
        batch_size=batch_size,
        ingested_at=ingested_at.isoformat(),
        run_id=run.run_id,
        forced=False,
        experiment=settings.experiment.to_dict(),
    )
    if problems := manifest.accounting_problems():
        raise DataContractError(
            f"Row accounting failed for {raw.path.name}: {'; '.join(problems)}. Nothing was "
            f"published: the lake partition {partition}, {manifest.quarantine_path}, bronze "
            f"and the manifest still hold the previous run of {month} (if any). Re-run "
            f"`{run.retry}`; if it fails again, report this message."
        )
    manifest = replace(manifest, forced=_refusal(run, manifest, staged_quarantine, force))
    staged_manifest = Path(run.swaps()["manifest"].staged)
    with storage_errors(
        "write the manifest", staged_manifest, intact=run.untouched, retry=run.retry
    ):
        manifest.write_to(staged_manifest)
    checkpoint("staged")
    return manifest


def _refusal(run: _Run, manifest: Manifest, staged_quarantine: Path, force: bool) -> bool:
    """Refuse to replace a live month by a run that writes nothing or quarantines too much.

    Returns whether `force` overrode the rule (recorded in the manifest). A month that is not
    live yet is never refused: there is nothing to lose, and the manifest tells what was found.
    """
    limit = run.settings.max_quarantine_share
    share = manifest.rows_quarantined / manifest.rows_read if manifest.rows_read else 0.0
    if manifest.rows_written > 0 and share <= limit:
        return False
    live_manifest = run.settings.manifest_dir / f"{run.month}.json"
    if not live_manifest.exists() and not run.lake.parts(EVENTS_TABLE, run.key):
        return False
    if force:
        return True
    if manifest.rows_read == 0:
        found = f"{manifest.source_file} has no data lines (only a header)"
    elif manifest.rows_written == 0:
        found = f"none of the {manifest.rows_read:,} lines of {manifest.source_file} is valid"
    else:
        found = (
            f"{manifest.rows_quarantined:,} of the {manifest.rows_read:,} lines of "
            f"{manifest.source_file} ({share:.1%}) were quarantined, more than the limit of "
            f"{limit * 100:g}% (ECOM_MAX_QUARANTINE_SHARE)"
        )
    reasons = ", ".join(f"{r} {n:,}" for r, n in manifest.quarantined_by_reason.items())
    shown = ""
    if manifest.rows_quarantined:
        sample = pl.read_parquet(staged_quarantine, n_rows=_SHOWN_REJECTS)
        shown = "; first: " + "; ".join(
            f"line {line} ({reason}): {text[:100]!a}"
            for line, text, reason in sample.select("source_line", "raw_line", "reason").iter_rows()
        )
    live = "The live month is unchanged"
    try:
        old = Manifest.read(live_manifest)
        live += f" ({old.rows_written:,} rows written by the run of {old.ingested_at})"
    except (OSError, ValueError, TypeError):
        pass
    raise InputError(
        f"Refusing to replace {run.month}: {found}"
        + (f" (by reason: {reasons}{shown})" if reasons else "")
        + f". {live}. Fix the file, or re-run with `{run.retry} --force` to replace it anyway."
    )


def _commit_local(
    run: _Run,
    journal: Journal,
    manifest: Manifest,
    timings: dict[str, float],
    started: float,
    mark: float,
) -> Manifest:
    """Swap partition and quarantine, load bronze, swap the manifest; roll back on failure."""
    settings = run.settings
    with storage_errors(
        "write the ingestion journal in",
        settings.ingest_state_dir,
        intact=run.untouched,
        retry=run.retry,
    ):
        try:
            journal.write(settings, "prepared")
        except BaseException:
            run.remove_folders()
            commit._remove(Journal.path_for(settings, run.month))
            raise
    checkpoint("prepared")
    bronze_touched = False
    try:
        journal.swaps["partition"].forward()
        checkpoint("swapped-partition")
        journal.swaps["quarantine"].forward()
        checkpoint("swapped-quarantine")
        timings["publish"] = time.perf_counter() - mark
        if journal.warehouse:
            journal.write(settings, "loading")
            mark = time.perf_counter()
            loaded = connect(settings).load_bronze(
                manifest.source_file,
                run.lake.parts(EVENTS_TABLE, run.key),
                [manifest.quarantine_path],
            )
            bronze_touched = True
            checkpoint("bronze-loaded")
            timings["warehouse_load"] = time.perf_counter() - mark
            manifest = replace(
                manifest, rows_loaded=loaded.events, quarantine_loaded=loaded.quarantined
            )
            if problems := manifest.load_problems():
                raise DataContractError(
                    f"Bronze does not hold what was written for {manifest.source_file}: "
                    f"{'; '.join(problems)}. If it persists, report the manifest."
                )
        manifest = replace(
            manifest, timings_seconds={**timings, "total": time.perf_counter() - started}
        )
        manifest.write_to(Path(journal.swaps["manifest"].staged))
        journal.swaps["manifest"].forward()
        checkpoint("swapped-manifest")
        journal.bronze_loaded = journal.warehouse
        journal.write(settings, "committed")
        checkpoint("committed")
    except BaseException as err:
        if not bronze_touched:
            journal.phase = "prepared"  # the load never committed: bronze needs no undo
        replacement = _rolled_back(run, journal, err)
        if replacement is err:
            raise
        raise replacement from err
    try:
        commit.finish(settings, journal)
    except OSError as err:
        raise StorageError(
            f"{run.month} is committed and live, but removing its old copies failed: {err}. "
            "The next `ecom ingest` removes them."
        ) from err
    return manifest


def _rolled_back(run: _Run, journal: Journal, err: BaseException) -> BaseException:
    """Undo the uncommitted month; the error to raise says it was undone (or how it wasn't)."""
    try:
        commit.roll_back(run.settings, journal)
    except Exception as undo:
        return StorageError(
            f"Committing {run.month} failed ({err}) and rolling it back failed too ({undo}). "
            f"The journal {Journal.path_for(run.settings, run.month)} is kept: fix the cause "
            "and run `ecom ingest` again, which finishes the roll-back first."
        )
    intact = (
        f"This run was rolled back: the previous run of {run.month} (if any) is live again in "
        "the lake, the quarantine, the manifest and bronze."
    )
    if isinstance(err, EcomError):
        return type(err)(f"{err} {intact} Fix the cause and re-run `{run.retry}`.")
    if is_storage_error(err):
        where = Path(getattr(err, "filename", None) or journal.swaps["partition"].target)
        return StorageError(message("commit", where, err, intact=intact, retry=run.retry))
    return err


def _commit_gcs(
    run: _Run, journal: Journal, manifest: Manifest, timings: dict[str, float], started: float
) -> Manifest:
    """gs:// lake: commit first, then roll forward (an upload cannot be undone)."""
    settings = run.settings
    with storage_errors(
        "write the ingestion journal in",
        settings.ingest_state_dir,
        intact=run.untouched,
        retry=run.retry,
    ):
        try:
            journal.write(settings, "committed")
        except BaseException:
            run.remove_folders()
            raise
    checkpoint("committed")
    mark = time.perf_counter()
    try:
        loaded = commit.complete(settings, journal)
    except Exception as err:
        kept = (
            f"The new run of {run.month} is committed: its journal "
            f"{Journal.path_for(settings, run.month)} is kept, and the next `ecom ingest` "
            "finishes it (upload, quarantine, bronze, manifest)."
        )
        if isinstance(err, EcomError):
            raise type(err)(f"{err} {kept}") from err
        if is_storage_error(err):
            raise StorageError(
                message("complete", run.parts_dir, err, intact=kept, retry="ecom ingest")
            ) from err
        raise
    timings["publish_and_load"] = time.perf_counter() - mark
    if loaded is not None:
        manifest = replace(
            manifest, rows_loaded=loaded.events, quarantine_loaded=loaded.quarantined
        )
    manifest = replace(
        manifest, timings_seconds={**timings, "total": time.perf_counter() - started}
    )
    manifest.write_to(Path(journal.swaps["manifest"].target))
    if problems := manifest.load_problems():
        raise DataContractError(
            f"Bronze does not hold what was written for {manifest.source_file}: "
            f"{'; '.join(problems)}. Re-run `{run.retry}`; if the counts still differ, report "
            "the manifest."
        )
    return manifest


def _write_parts(
    run: _Run,
    raw: RawFile,
    batch_size: int,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
) -> tuple[int, pl.Series]:
    try:
        return _write_parts_once(run, raw.readable, batch_size, ingested_at, on_rows)
    except pl.exceptions.ComputeError as err:
        if "utf" not in str(err).lower():
            raise _storage_or(err, run) from err
    # Not valid UTF-8: read a copy with the bad bytes replaced; its bad lines are known by index.
    for stale in [*run.parts_dir.glob("*.parquet"), *run.batches_dir.glob("*.parquet")]:
        stale.unlink()
    copy = run.quarantine_dir / "utf8-copy.csv"
    with storage_errors(
        "write a UTF-8 copy of the input to", copy, intact=run.untouched, retry=run.retry
    ):
        bad_lines = utf8_copy(raw, copy)
    try:
        return _write_parts_once(
            run, str(copy), batch_size, ingested_at, on_rows, bad_lines=bad_lines
        )
    finally:
        copy.unlink(missing_ok=True)


def _storage_or(err: BaseException, run: _Run) -> BaseException:
    if is_storage_error(err):
        return StorageError(
            message(
                "write the staged parts in",
                run.parts_dir,
                err,
                intact=run.untouched,
                retry=run.retry,
            )
        )
    return err


def _write_parts_once(
    run: _Run,
    source: str,
    batch_size: int,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
    *,
    bad_lines: list[int] | None = None,
) -> tuple[int, pl.Series]:
    """Stream the month once; each batch of `batch_size` lines becomes one bronze part.

    The streaming engine parses the next batches while this thread writes the current one;
    memory holds a few batches, whatever the file size.
    """
    start, end = month_bounds(run.month)
    fields = split_fields(scan_lines(source))
    parsed = parse(fields, month_start=start, month_end=end, bad_lines=bad_lines)
    enriched = enrich(parsed, f"{run.month}.csv", ingested_at, run.settings.experiment)
    written = _PartWriter(run.parts_dir, run.batches_dir, on_rows)
    # sink_batches calls back from inside the engine: a slow disk slows the scan instead of
    # piling batches up in memory (collect_batches buffers without bound).
    try:
        enriched.sink_batches(written, chunk_size=batch_size)
    except Exception:
        if written.failure is not None:  # the writer's own error, with its path
            path, cause = written.failure
            raise StorageError(
                message("write", path, cause, intact=run.untouched, retry=run.retry)
            ) from cause
        raise
    hashes = pl.concat(written.hashes) if written.hashes else pl.Series([], dtype=pl.UInt64)
    return written.rows_read, hashes


class _PartWriter:
    """Receives enriched batches in order; writes one bronze part (and quarantine part) each."""

    def __init__(self, staged: Path, rejected: Path, on_rows: Callable[[int], None]) -> None:
        self.staged, self.rejected, self.on_rows = staged, rejected, on_rows
        self.parts = 0
        self.rows_read = 0
        self.hashes: list[pl.Series] = []
        self.failure: tuple[Path, BaseException] | None = None

    def __call__(self, batch: pl.DataFrame) -> None:
        name = f"part-{self.parts:05d}.parquet"
        self.parts += 1
        self.rows_read += batch.height
        target = self.staged / name
        try:
            bronze_rows(batch).write_parquet(target, **PARQUET_OPTIONS)
            rejects = quarantine_rows(batch)
            if rejects.height:
                target = self.rejected / name
                rejects.write_parquet(target)
        except Exception as err:
            if is_storage_error(err):
                self.failure = (target, err)
            raise
        self.hashes.append(batch.get_column("line_hash").drop_nulls())
        self.on_rows(batch.height)
        if self.parts == 1:
            checkpoint("parsing")


def _stage_quarantine(parts: list[Path], target: Path, raw: RawFile) -> Path:
    """The month's one quarantine file (written even when empty), staged next to its place.

    A `bad_encoding` line was read from a copy with U+FFFD for its bad bytes: its `raw_line`
    is replaced by the line's exact bytes, decoded as Latin-1 (one character per byte, so
    `raw_line.encode("latin-1")` gives them back).
    """
    frames = pl.scan_parquet(parts) if parts else pl.LazyFrame(schema=QUARANTINE_SCHEMA)
    frames.sink_parquet(target)
    bad = pl.scan_parquet(target).filter(pl.col("reason") == "bad_encoding")
    lines = bad.select("source_line").collect()["source_line"].to_list()
    if lines:
        exact = raw_lines(raw, lines)
        frame = pl.read_parquet(target)
        for line, data in exact.items():
            lossy = frame.filter(pl.col("source_line") == line)["raw_line"].item()
            if data.decode("utf-8", errors="replace") != lossy:
                raise DataContractError(
                    f"{raw.path.name} line {line} does not read back as quarantined: "
                    "nothing was published; report this file."
                )
        raw_line = pl.col("source_line").replace_strict(
            list(exact), [d.decode("latin-1") for d in exact.values()], default=pl.col("raw_line")
        )
        frame.with_columns(raw_line=raw_line).write_parquet(target)
    return target


def _bronze_counts(parts: list[Path]) -> pl.DataFrame:
    """Rows and injections per group, read back from the Parquet actually written."""
    empty = pl.DataFrame(
        schema={"experiment_group": pl.String, "rows": pl.Int64, "injected": pl.Int64}
    )
    if not parts:
        return empty
    return (
        pl.scan_parquet(parts)
        .group_by("experiment_group")
        .agg(rows=pl.len().cast(pl.Int64), injected=pl.col("is_injected").sum().cast(pl.Int64))
        .collect()
    )


def _by_group(counts: pl.DataFrame, column: str) -> dict[str, int]:
    found = dict(zip(counts["experiment_group"], counts[column], strict=True))
    return {group: int(found.get(group, 0)) for group in GROUPS}


def _reason_counts(quarantine: Path) -> dict[str, int]:
    reasons = pl.read_parquet(quarantine, columns=["reason"])["reason"].value_counts(sort=True)
    return {str(r): int(n) for r, n in reasons.iter_rows()}


def _estimated_lines(raw: RawFile) -> int:
    """Data lines in the file, estimated from the length of its first lines."""
    head = raw.head()
    lines = max(head.count(b"\n"), 1)
    return max(round(raw.size * lines / max(len(head), 1)) - 1, 1)
