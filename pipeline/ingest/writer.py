"""The streaming writer: one pass over a raw month, one bronze part per batch of lines.

A month is one streaming Polars query over its lines, read once. The engine hands batches of
`batch_size` lines to a callback that writes each as one bronze part (plus a quarantine part
when it holds bad lines), so memory stays flat whatever the file size. Nothing is kept but
the row count and one 64-bit hash per good row (32 MB for a full month, to count duplicates).

(Why not two native `sink_parquet`s via `collect_all`? Measured on a full month it read the
plan twice and buffered: 2x the time and 2.5 GB peak. One stream split per batch costs
~10% over a single native sink.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import polars as pl

from pipeline.errors import DataContractError, StorageError
from pipeline.faults import checkpoint
from pipeline.files import is_storage_error, message, storage_errors
from pipeline.ingest.layout import Layout
from pipeline.ingest.sources import RawFile, month_bounds, raw_lines, scan_lines, utf8_copy
from pipeline.ingest.transforms import bronze_rows, enrich, parse, quarantine_rows, split_fields
from pipeline.schema import QUARANTINE_SCHEMA

# Lines per streaming batch and per bronze part file: big enough for few files and fast
# Parquet writes, small enough that a few batches in flight stay well under 700 MiB.
DEFAULT_BATCH_ROWS = 250_000
# zstd level 1: a third smaller than lz4/snappy; against zstd's default level 3 it saves ~20%
# of the encoding CPU (~0.5 s of a month's ~9 CPU-seconds) for files ~5% larger (measured).
PARQUET_OPTIONS: dict[str, object] = {"compression": "zstd", "compression_level": 1}


def write_parts(
    layout: Layout,
    raw: RawFile,
    batch_size: int,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
) -> tuple[int, pl.Series]:
    """Write the month's bronze and quarantine parts; the lines read and the good rows' hashes."""
    try:
        return _write_parts_once(layout, raw.readable, batch_size, ingested_at, on_rows)
    except pl.exceptions.ComputeError as err:
        if "utf" not in str(err).lower():
            raise _storage_or(err, layout) from err
    # Not valid UTF-8: read a copy with the bad bytes replaced; its bad lines are known by index.
    for stale in [*layout.parts_dir.glob("*.parquet"), *layout.batches_dir.glob("*.parquet")]:
        stale.unlink()
    copy = layout.quarantine_dir / "utf8-copy.csv"
    with storage_errors(
        "write a UTF-8 copy of the input to", copy, intact=layout.untouched, retry=layout.retry
    ):
        bad_lines = utf8_copy(raw, copy)
    try:
        return _write_parts_once(
            layout, str(copy), batch_size, ingested_at, on_rows, bad_lines=bad_lines
        )
    finally:
        copy.unlink(missing_ok=True)


def _storage_or(err: BaseException, layout: Layout) -> BaseException:
    if is_storage_error(err):
        return StorageError(
            message(
                "write the staged parts in",
                layout.parts_dir,
                err,
                intact=layout.untouched,
                retry=layout.retry,
            )
        )
    return err


def _write_parts_once(
    layout: Layout,
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
    start, end = month_bounds(layout.month)
    fields = split_fields(scan_lines(source))
    parsed = parse(fields, month_start=start, month_end=end, bad_lines=bad_lines)
    enriched = enrich(parsed, f"{layout.month}.csv", ingested_at, layout.experiment)
    written = _PartWriter(layout.parts_dir, layout.batches_dir, on_rows)
    # sink_batches calls back from inside the engine: a slow disk slows the scan instead of
    # piling batches up in memory (collect_batches buffers without bound).
    try:
        enriched.sink_batches(written, chunk_size=batch_size)
    except Exception:
        if written.failure is not None:  # the writer's own error, with its path
            path, cause = written.failure
            raise StorageError(
                message("write", path, cause, intact=layout.untouched, retry=layout.retry)
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


def merge_quarantine(parts: list[Path], target: Path, raw: RawFile) -> Path:
    """The month's one quarantine file (written even when empty), from the batches' parts.

    A `bad_encoding` line was read from a copy with U+FFFD for its bad bytes: its `raw_line`
    is replaced by the line's exact bytes, decoded as Latin-1 (one character per byte, so
    `raw_line.encode("latin-1")` gives them back).
    """
    frames = pl.scan_parquet(parts, glob=False) if parts else pl.LazyFrame(schema=QUARANTINE_SCHEMA)
    frames.sink_parquet(target)
    bad = pl.scan_parquet(target, glob=False).filter(pl.col("reason") == "bad_encoding")
    lines = bad.select("source_line").collect()["source_line"].to_list()
    if lines:
        exact = raw_lines(raw, lines)
        frame = pl.read_parquet(target, glob=False)
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
