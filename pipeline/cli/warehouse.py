"""`ecom warehouse`: silver and gold with dbt, or on BigQuery a priced dry run."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.progress import console
from pipeline.settings import Settings


@handles_errors
def warehouse(
    data_dir: DataDir = None,
    select: Annotated[
        str | None,
        typer.Option("--select", "-s", help="dbt selection (default: everything but tag:scoring)."),
    ] = None,
    docs: Annotated[
        bool, typer.Option("--docs", help="Also run `dbt docs generate` after the build.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="BigQuery: print the bytes and on-demand cost of each model and test, build nothing.",
        ),
    ] = False,
) -> None:
    """Build silver and gold with dbt: models, data tests and unit tests.

    Runs on the configured warehouse (ECOM_WAREHOUSE: duckdb or bigquery).
    """
    settings = settings_for(data_dir)
    if dry_run:
        print_dry_run(settings, select)
    else:
        run(settings, select, docs=docs)


def run(settings: Settings, select: str | None = None, *, docs: bool = False) -> None:
    from pipeline.warehouse.build import build_warehouse, generate_docs

    result = build_warehouse(settings, select, show_progress=True)
    console.print(
        f"dbt build on {result.target}: {result.count('model')} models, "
        f"{result.count('test')} data tests, {result.count('unit_test')} unit tests passed "
        f"in {result.elapsed_seconds:.1f} s"
    )
    if docs:
        console.print(f"docs: {generate_docs(settings) / 'index.html'}")


def print_dry_run(settings: Settings, select: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipeline.warehouse.dry_run import dry_run_warehouse, human_bytes

    result = dry_run_warehouse(settings, select)
    table = Table(title=f"BigQuery dry run (nothing billed), ${result.price_per_tib:g} per TiB")
    for column in ("node", "bytes processed", "est. USD", "note"):
        table.add_column(column, justify="left" if column in ("node", "note") else "right")
    for line in result.lines:
        note = "via upstream SQL (not built yet)" if line.via_upstream_sql else ""
        table.add_row(
            f"{line.resource_type} {line.name}",
            f"{line.bytes_processed:,} ({human_bytes(line.bytes_processed)})",
            f"{line.usd:.4f}",
            note,
        )
    table.add_row(
        "total",
        f"{result.total_bytes:,} ({human_bytes(result.total_bytes)})",
        f"{result.total_usd:.4f}",
        "",
    )
    Console().print(table)
    if settings.bq_api_endpoint:
        console.print(
            f"(endpoint {settings.bq_api_endpoint}: an emulator has no cost model and reports 0 bytes)"
        )
