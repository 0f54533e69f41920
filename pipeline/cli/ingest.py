"""`ecom ingest`: raw CSVs into the Parquet lake and bronze, with a table of what happened."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.progress import console
from pipeline.settings import Settings


@handles_errors
def ingest(
    months: Annotated[
        list[str] | None,
        typer.Option("--month", "--months", help="Month(s) to ingest, e.g. 2019-Oct; default all."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            help="Lines per Parquet part (one streaming query each); default whole month."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Replace a live month even when the new run writes nothing or quarantines more "
            "than ECOM_MAX_QUARANTINE_SHARE (default 5%) of its lines.",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Parse raw CSVs into the Parquet lake and bronze.events, quarantining bad rows.

    Raw monthly CSVs -> Parquet lake (month partitions) + quarantine + manifest -> warehouse
    bronze.events. Re-ingesting a month replaces it everywhere, atomically; one ingestion per
    data directory at a time (docs: how-to/ingest-data.md).
    """
    run(settings_for(data_dir), months, batch_size=batch_size, force=force)


def run(
    settings: Settings,
    months: list[str] | None = None,
    *,
    batch_size: int | None = None,
    force: bool = False,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipeline.ingest import ingest as ingest_months
    from pipeline.progress import progress

    with progress() as bar:
        manifests = ingest_months(
            settings,
            months,
            batch_size=batch_size,
            force=force,
            progress=bar,
            report=lambda line: console.print(f"[yellow]recovered:[/] {line}"),
            warn=lambda line: console.print(f"[yellow]warning:[/] {line}"),
        )
    table = Table(title=f"ingested into {settings.lake} and {settings.warehouse_path}")
    for column in ("month", "read", "written", "quarantined", "injected", "duplicates", "seconds"):
        table.add_column(column, justify="left" if column == "month" else "right")
    for m in manifests:
        table.add_row(
            m.month,
            *(f"{n:,}" for n in (m.rows_read, m.rows_written, m.rows_quarantined)),
            *(f"{n:,}" for n in (m.rows_injected, m.duplicate_rows)),
            f"{m.timings_seconds['total']:.1f}",
        )
    Console().print(table)
    console.print(f"manifests in {settings.manifest_dir}, quarantine in {settings.quarantine_dir}")
    limit = settings.max_quarantine_share
    for m in manifests:
        share = m.rows_quarantined / m.rows_read if m.rows_read else 0.0
        if m.forced or share > limit or m.rows_written == 0:
            console.print(
                f"[yellow]warning:[/] {m.month}: {m.rows_written:,} rows written, {share:.1%} "
                f"quarantined (limit {limit * 100:g}%){' — replaced with --force' if m.forced else ''}"
                f"; see {m.quarantine_path}"
            )
