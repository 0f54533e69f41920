"""Stage one month: every new file written beside the live one and checked; nothing published.

The raw file is opened once (`sources.open_raw`), streamed into bronze and quarantine parts
(`writer`), and then checked before anything goes live: every row accounted for, the input
unchanged since it was opened, and the refusal rule (a live month is not replaced by a run
that writes nothing or quarantines more than `max_quarantine_share` of its lines, unless
forced). The result is a `StagedMonth`: where its files are and the manifest that describes
them, which `pipeline.ingest.commit` then makes live.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline.errors import DataContractError, InputError
from pipeline.experiment import GROUPS
from pipeline.faults import checkpoint
from pipeline.files import storage_errors
from pipeline.ingest.layout import EVENTS_TABLE, Layout
from pipeline.ingest.manifest import Manifest
from pipeline.ingest.sources import RawFile, check_header, open_raw, raw_file
from pipeline.ingest.writer import merge_quarantine, write_parts
from pipeline.settings import Settings

# How many quarantined lines a refusal message shows.
_SHOWN_REJECTS = 3

if TYPE_CHECKING:
    from rich.progress import Progress


@dataclass(frozen=True)
class StagedMonth:
    """A month written and checked in its staging folders, not yet live."""

    layout: Layout
    manifest: Manifest  # as staged (the staged manifest file holds the same)
    seconds: float  # spent staging (parsing and writing)


def stage(
    settings: Settings,
    month: str,
    *,
    batch_size: int,
    force: bool = False,
    progress: Progress | None = None,
) -> StagedMonth:
    """Write and check every new file of `month` beside the live ones; publish nothing.

    Any failure (Ctrl-C included) removes what was staged and leaves the live month as it was.
    """
    started = time.perf_counter()
    layout = Layout(settings, month, uuid.uuid4().hex[:16])
    ingested_at = datetime.now(UTC)
    try:
        with open_raw(raw_file(settings, month)) as raw:
            check_header(raw)
            # The bar counts lines, estimated up front from the size (counting costs a pass).
            total = _estimated_lines(raw)
            task = progress.add_task(f"ingest {month}", total=total) if progress else None

            def on_rows(n: int) -> None:
                if progress is not None and task is not None:
                    progress.advance(task, n)

            try:
                layout.create_folders()
                manifest = _stage(layout, raw, batch_size, ingested_at, on_rows, force)
            except BaseException:
                layout.remove_folders()
                raise
            if progress is not None and task is not None:
                progress.update(task, total=manifest.rows_read, completed=manifest.rows_read)
    except KeyboardInterrupt:
        raise layout.interrupted(layout.untouched) from None
    return StagedMonth(layout, manifest, time.perf_counter() - started)


def _stage(
    layout: Layout,
    raw: RawFile,
    batch_size: int,
    ingested_at: datetime,
    on_rows: Callable[[int], None],
    force: bool,
) -> Manifest:
    month = layout.month
    places = layout.places()
    intact, retry = layout.untouched, layout.retry
    with ThreadPoolExecutor(max_workers=1) as pool:
        # hashlib releases the GIL: the fingerprint overlaps the Polars query.
        digest = pool.submit(raw.sha256)
        rows_read, hashes = write_parts(layout, raw, batch_size, ingested_at, on_rows)
        staged_quarantine = places["quarantine"].staged
        with storage_errors(
            "write the quarantine file", staged_quarantine, intact=intact, retry=retry
        ):
            merge_quarantine(sorted(layout.batches_dir.glob("*.parquet")), staged_quarantine, raw)
        # Account for every row from the staged files, before anything goes live.
        with storage_errors(
            "read back the staged files in", layout.parts_dir, intact=intact, retry=retry
        ):
            written = _bronze_counts(sorted(layout.parts_dir.glob("*.parquet")))
            reasons = _reason_counts(staged_quarantine)
        sha256 = digest.result()
    raw.check_unchanged()  # the bytes hashed and parsed are still what the path names
    part_names = sorted(p.name for p in layout.parts_dir.glob("*.parquet"))
    manifest = Manifest(
        month=month,
        month_key=layout.key,
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
        first_event_at=_instant(written, "first_event_at", min),
        last_event_at=_instant(written, "last_event_at", max),
        rows_loaded=None,
        quarantine_loaded=None,
        parts=[f"{layout.partition}/{name}" for name in part_names],
        quarantine_path=str(places["quarantine"].target),
        batch_size=batch_size,
        ingested_at=ingested_at.isoformat(),
        run_id=layout.run_id,
        forced=False,
        experiment=layout.experiment.to_dict(),
    )
    if problems := manifest.accounting_problems():
        raise DataContractError(
            f"Row accounting failed for {raw.path.name}: {'; '.join(problems)}. Nothing was "
            f"published: the lake partition {layout.partition}, {manifest.quarantine_path}, "
            f"bronze and the manifest still hold the previous run of {month} (if any). Re-run "
            f"`{retry}`; if it fails again, report this message."
        )
    forced = _refusal(layout, manifest, staged_quarantine, force)
    manifest = manifest.model_copy(update={"forced": forced})
    staged_manifest = places["manifest"].staged
    with storage_errors("write the manifest", staged_manifest, intact=intact, retry=retry):
        manifest.write_to(staged_manifest)
    checkpoint("staged")
    return manifest


def _refusal(layout: Layout, manifest: Manifest, staged_quarantine: Path, force: bool) -> bool:
    """Refuse to replace a live month by a run that writes nothing or quarantines too much.

    Returns whether `force` overrode the rule (recorded in the manifest). A month that is not
    live yet is never refused: there is nothing to lose, and the manifest tells what was found.
    """
    limit = layout.settings.max_quarantine_share
    share = manifest.rows_quarantined / manifest.rows_read if manifest.rows_read else 0.0
    if manifest.rows_written > 0 and share <= limit:
        return False
    live_manifest = layout.places()["manifest"].target
    if not live_manifest.exists() and not layout.lake.parts(EVENTS_TABLE, layout.key):
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
        sample = pl.read_parquet(staged_quarantine, n_rows=_SHOWN_REJECTS, glob=False)
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
        f"Refusing to replace {layout.month}: {found}"
        + (f" (by reason: {reasons}{shown})" if reasons else "")
        + f". {live}. Fix the file, or re-run with `{layout.retry} --force` to replace it anyway."
    )


def _bronze_counts(parts: list[Path]) -> pl.DataFrame:
    """Rows and injections per group, read back from the Parquet actually written."""
    empty = pl.DataFrame(
        schema={
            "experiment_group": pl.String,
            "rows": pl.Int64,
            "injected": pl.Int64,
            "first_event_at": pl.Datetime("us", "UTC"),
            "last_event_at": pl.Datetime("us", "UTC"),
        }
    )
    if not parts:
        return empty
    return (
        pl.scan_parquet(parts, glob=False)
        .group_by("experiment_group")
        .agg(
            rows=pl.len().cast(pl.Int64),
            injected=pl.col("is_injected").sum().cast(pl.Int64),
            first_event_at=pl.col("event_time").min(),
            last_event_at=pl.col("event_time").max(),
        )
        .collect()
    )


def _instant(counts: pl.DataFrame, column: str, pick: Callable[..., Any]) -> str | None:
    """The earliest or latest event time over the groups, as ISO 8601 UTC (None: no rows)."""
    found = [at for at in counts[column] if at is not None]
    return pick(found).isoformat() if found else None


def _by_group(counts: pl.DataFrame, column: str) -> dict[str, int]:
    found = dict(zip(counts["experiment_group"], counts[column], strict=True))
    return {group: int(found.get(group, 0)) for group in GROUPS}


def _reason_counts(quarantine: Path) -> dict[str, int]:
    reasons = pl.read_parquet(quarantine, columns=["reason"], glob=False)["reason"]
    return {str(r): int(n) for r, n in reasons.value_counts(sort=True).iter_rows()}


def _estimated_lines(raw: RawFile) -> int:
    """Data lines in the file, estimated from the length of its first lines."""
    head = raw.head()
    lines = max(head.count(b"\n"), 1)
    return max(round(raw.size * lines / max(len(head), 1)) - 1, 1)
