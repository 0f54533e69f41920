"""One month at a time: raw CSV -> Parquet lake + quarantine + manifest -> DuckDB bronze.

A month is one streaming Polars query over its lines, read once. The engine hands batches of
`batch_size` lines to a callback that writes each as one bronze part (plus a quarantine part
when it holds bad lines), so memory stays flat whatever the file size. Nothing is kept but
the row count and one 64-bit hash per good row (32 MB for a full month, to count duplicates).

Every row is accounted for on the staged files before anything is published: a miscount
leaves the previous partition, quarantine, manifest and bronze as they were. Only the final
check, that bronze sees exactly the written rows, runs once the month is live; its error says
what is live and to re-run the month.

(Why not two native `sink_parquet`s via `collect_all`? Measured on a full month it read the
plan twice and buffered: 2x the time and 2.5 GB peak. One stream split per batch costs
~10% over a single native sink.)
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from rich.progress import Progress

from pipeline.errors import DataContractError, EcomError, InputError
from pipeline.experiment import GROUPS, Experiment
from pipeline.ingest.manifest import Manifest
from pipeline.ingest.sources import (
    check_header,
    month_key,
    raw_file,
    scan_lines,
    sha256_file,
)
from pipeline.ingest.transforms import bronze_rows, enrich, parse, quarantine_rows, split_fields
from pipeline.lake import Lake
from pipeline.schema import QUARANTINE_SCHEMA
from pipeline.settings import MONTHS, Settings
from pipeline.warehouse import BronzeLoad, connect

EVENTS_TABLE = "events"
# Lines per streaming batch and per bronze part file: big enough for few files and fast
# Parquet writes, small enough that a few batches in flight stay well under 700 MiB.
DEFAULT_BATCH_ROWS = 250_000
# zstd level 1: a third smaller than lz4/snappy; against zstd's default level 3 it saves ~20%
# of the encoding CPU (~0.5 s of a month's ~9 CPU-seconds) for files ~5% larger (measured).
PARQUET_OPTIONS: dict[str, object] = {"compression": "zstd", "compression_level": 1}


def ingest(
    settings: Settings,
    months: Sequence[str] | None = None,
    *,
    batch_size: int | None = None,
    load_warehouse: bool = True,
    progress: Progress | None = None,
) -> list[Manifest]:
    """Ingest the given months (default: every month whose raw file exists), one at a time."""
    if months is None:
        months = [m for m in MONTHS if (settings.raw_dir / f"{m}.csv").is_file()]
        if not months:
            raise InputError(
                f"No raw files in {settings.raw_dir}. Run `ecom generate` first, or copy "
                f"monthly CSVs there named like {MONTHS[0]}.csv."
            )
    return [
        ingest_month(
            settings,
            month,
            batch_size=batch_size,
            load_warehouse=load_warehouse,
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
    progress: Progress | None = None,
) -> Manifest:
    """Ingest one month; re-running it replaces its partition, quarantine and bronze rows."""
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch_size must be a positive number of lines, not {batch_size}.")
    started = time.perf_counter()
    timings: dict[str, float] = {}
    path = raw_file(settings, month)
    key = month_key(month)
    check_header(path)
    ingested_at = datetime.now(UTC)
    batch_size = batch_size or DEFAULT_BATCH_ROWS
    # The bar counts lines, estimated up front from the file size (counting them costs a pass).
    expected = _estimated_lines(path)
    task = progress.add_task(f"ingest {month}", total=expected) if progress else None

    def on_rows(n: int) -> None:
        if progress is not None and task is not None:
            progress.advance(task, n)

    lake = Lake(settings.lake)
    quarantine_path = settings.quarantine_dir / f"{month}.parquet"
    with ThreadPoolExecutor(max_workers=1) as pool, lake.staging(EVENTS_TABLE) as staged:
        # hashlib releases the GIL: the fingerprint overlaps the Polars query.
        digest = pool.submit(sha256_file, path)
        rejected = settings.quarantine_dir / f".staging-{uuid.uuid4().hex}"
        rejected.mkdir(parents=True)
        try:
            rows_read, hashes = _write_parts(
                path, batch_size, staged, rejected, ingested_at, on_rows, settings.experiment
            )
            timings["parse_and_write"] = time.perf_counter() - started
            staged_quarantine = _stage_quarantine(
                sorted(rejected.glob("*.parquet")), rejected / quarantine_path.name, path
            )
            # Account for every row from the staged files, before anything goes live: a
            # failure here leaves the previous partition, quarantine, bronze and manifest.
            written = _bronze_counts(sorted(staged.glob("*.parquet")))
            reasons = _reason_counts(staged_quarantine)
            manifest = Manifest(
                month=month,
                month_key=key,
                source_file=path.name,
                source_path=str(path),
                input_bytes=path.stat().st_size,
                input_sha256=digest.result(),
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
                parts=[],
                quarantine_path=str(quarantine_path),
                batch_size=batch_size,
                ingested_at=ingested_at.isoformat(),
                experiment=settings.experiment.to_dict(),
            )
            if problems := manifest.accounting_problems():
                raise DataContractError(
                    f"Row accounting failed for {path.name}: {'; '.join(problems)}. Nothing was "
                    f"published: the lake partition {lake.partition(EVENTS_TABLE, key)}, "
                    f"{quarantine_path}, bronze and the manifest still hold the previous run "
                    f"of {month} (if any). Re-run `ecom ingest --month {month}`; if it fails "
                    "again, report this message."
                )
            mark = time.perf_counter()
            staged_parts = sorted(staged.glob("*.parquet"))
            parts = lake.publish(staged, EVENTS_TABLE, key)
            staged_quarantine.replace(quarantine_path)
        finally:
            shutil.rmtree(rejected, ignore_errors=True)
        timings["publish"] = time.perf_counter() - mark
        manifest = replace(manifest, parts=parts)
        # From here the month is live in the lake: the manifest says so even if loading fails.
        manifest_path = manifest.write(settings.manifest_dir)
        live = _live(manifest, lake.partition(EVENTS_TABLE, key), manifest_path)
        if load_warehouse:
            mark = time.perf_counter()
            # A gs:// lake is loaded from the local staging copy of the very same files.
            sources = staged_parts if lake.is_gcs else parts
            loaded = _load_bronze(settings, manifest, live, sources)
            timings["warehouse_load"] = time.perf_counter() - mark
            manifest = replace(
                manifest, rows_loaded=loaded.events, quarantine_loaded=loaded.quarantined
            )
    manifest = replace(
        manifest, timings_seconds={**timings, "total": time.perf_counter() - started}
    )
    if progress is not None and task is not None:
        progress.update(task, total=rows_read, completed=rows_read)
    manifest.write(settings.manifest_dir)
    if problems := manifest.load_problems():
        raise DataContractError(
            f"Bronze does not hold what was written for {path.name}: {'; '.join(problems)}. "
            f"{live} Re-run `ecom ingest --month {month}` to reload "
            "it; if the counts still differ, report the manifest."
        )
    return manifest


def _load_bronze(
    settings: Settings, manifest: Manifest, live: str, sources: Sequence[str | Path]
) -> BronzeLoad:
    """Load the published month into the warehouse; a failure says what is already live."""
    try:
        return connect(settings).load_bronze(
            manifest.source_file, sources, [manifest.quarantine_path]
        )
    except EcomError as err:
        raise type(err)(f"{err} {live}") from err


def _live(manifest: Manifest, partition: str, manifest_path: Path) -> str:
    """What of a month is live once its partition was published."""
    return (
        f"Live now from this run of {manifest.month}: the lake partition {partition} "
        f"({len(manifest.parts)} parts, {manifest.rows_written} rows), the quarantine "
        f"{manifest.quarantine_path} ({manifest.rows_quarantined} rows) and the manifest "
        f"{manifest_path}."
    )


def _write_parts(
    path: Path,
    batch_size: int,
    staged: Path,
    rejected: Path,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
    experiment: Experiment,
) -> tuple[int, pl.Series]:
    try:
        return _write_parts_once(
            path, batch_size, staged, rejected, ingested_at, on_rows, experiment
        )
    except pl.exceptions.ComputeError as err:
        if "utf" not in str(err).lower():
            raise
        # Not valid UTF-8: redo the month through the lossy reader (bad lines get quarantined).
        for stale in [*staged.glob("*.parquet"), *rejected.glob("*.parquet")]:
            stale.unlink()
        return _write_parts_once(
            path, batch_size, staged, rejected, ingested_at, on_rows, experiment, lossy=True
        )


def _write_parts_once(
    path: Path,
    batch_size: int,
    staged: Path,
    rejected: Path,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
    experiment: Experiment,
    *,
    lossy: bool = False,
) -> tuple[int, pl.Series]:
    """Stream the month once; each batch of `batch_size` lines becomes one bronze part.

    The streaming engine parses the next batches while this thread writes the current one;
    memory holds a few batches, whatever the file size.
    """
    enriched = enrich(
        parse(split_fields(scan_lines(path, lossy=lossy)), lossy=lossy),
        path.name,
        ingested_at,
        experiment,
    )
    written = _PartWriter(staged, rejected, on_rows)
    # sink_batches calls back from inside the engine: a slow disk slows the scan instead of
    # piling batches up in memory (collect_batches buffers without bound).
    enriched.sink_batches(written, chunk_size=batch_size)
    hashes = pl.concat(written.hashes) if written.hashes else pl.Series([], dtype=pl.UInt64)
    return written.rows_read, hashes


class _PartWriter:
    """Receives enriched batches in order; writes one bronze part (and quarantine part) each."""

    def __init__(self, staged: Path, rejected: Path, on_rows: Callable[[int], None]) -> None:
        self.staged, self.rejected, self.on_rows = staged, rejected, on_rows
        self.parts = 0
        self.rows_read = 0
        self.hashes: list[pl.Series] = []

    def __call__(self, batch: pl.DataFrame) -> None:
        name = f"part-{self.parts:05d}.parquet"
        self.parts += 1
        self.rows_read += batch.height
        bronze_rows(batch).write_parquet(self.staged / name, **PARQUET_OPTIONS)
        rejects = quarantine_rows(batch)
        if rejects.height:
            rejects.write_parquet(self.rejected / name)
        self.hashes.append(batch.get_column("line_hash").drop_nulls())
        self.on_rows(batch.height)


def _stage_quarantine(parts: list[Path], target: Path, raw: Path) -> Path:
    """The month's one quarantine file (written even when empty), staged next to its place.

    A `bad_encoding` line was read through the lossy decoder: its `raw_line` is replaced by
    the line's exact bytes, decoded as Latin-1 (one character per byte, so
    `raw_line.encode("latin-1")` gives them back).
    """
    frames = pl.scan_parquet(parts) if parts else pl.LazyFrame(schema=QUARANTINE_SCHEMA)
    frames.sink_parquet(target)
    bad = pl.scan_parquet(target).filter(pl.col("reason") == "bad_encoding")
    lines = bad.select("source_line").collect()["source_line"].to_list()
    if lines:
        exact = _raw_lines(raw, lines)
        frame = pl.read_parquet(target)
        for line, data in exact.items():
            lossy = frame.filter(pl.col("source_line") == line)["raw_line"].item()
            if data.decode("utf-8", errors="replace") != lossy:
                raise DataContractError(
                    f"{raw.name} line {line} does not read back as quarantined: "
                    "nothing was published; report this file."
                )
        raw_line = pl.col("source_line").replace_strict(
            list(exact), [d.decode("latin-1") for d in exact.values()], default=pl.col("raw_line")
        )
        frame.with_columns(raw_line=raw_line).write_parquet(target)
    return target


def _raw_lines(path: Path, numbers: list[int]) -> dict[int, bytes]:
    """The exact bytes of the given 1-based physical lines, without the line ending."""
    wanted, found = set(numbers), {}
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number in wanted:
                found[number] = line.removesuffix(b"\n").removesuffix(b"\r")
                if len(found) == len(wanted):
                    break
    return found


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


def _estimated_lines(path: Path) -> int:
    """Data lines in the file, estimated from the length of its first lines."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    lines = max(head.count(b"\n"), 1)
    return max(round(path.stat().st_size * lines / max(len(head), 1)) - 1, 1)
