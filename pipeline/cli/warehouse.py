"""`ecom warehouse`: silver and gold with dbt, or on BigQuery a priced dry run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.progress import console
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.warehouse.incremental import BuildPlan


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
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Rebuild every table from all of bronze (default: only what changed since the "
            "last build, or everything when there is no earlier build to build on).",
        ),
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

    Runs on the configured warehouse (ECOM_WAREHOUSE: duckdb or bigquery). Incremental: only
    the days that months ingested (or re-ingested) since the last build can change are rebuilt;
    the first build, and any after a change to the dbt project, builds everything.
    """
    settings = settings_for(data_dir)
    if dry_run:
        print_dry_run(settings, select, full_refresh=full_refresh)
    else:
        run(settings, select, docs=docs, full_refresh=full_refresh)


def run(
    settings: Settings,
    select: str | None = None,
    *,
    docs: bool = False,
    full_refresh: bool = False,
) -> None:
    from pipeline.warehouse.build import build_warehouse, generate_docs

    result = build_warehouse(settings, select, full_refresh=full_refresh, show_progress=True)
    plan = result.plan
    if plan is not None and plan.mode == "unchanged" and not result.nodes:
        console.print(
            f"Nothing to build: {plan.reason}. (`ecom warehouse --full-refresh` rebuilds "
            "everything anyway.)"
        )
    else:
        if plan is not None:
            console.print(describe(plan))
        console.print(
            f"dbt build on {result.target}: {result.count('model')} models, "
            f"{result.count('test')} data tests, {result.count('unit_test')} unit tests passed "
            f"in {result.elapsed_seconds:.1f} s"
        )
    if docs:
        console.print(f"docs: {generate_docs(settings) / 'index.html'}")


def describe(plan: BuildPlan) -> str:
    """One line: what the build rebuilds and why."""
    if plan.mode == "incremental":
        return (
            f"Incremental build: {plan.reason}; rebuilding from {plan.rebuild_from} "
            f"to {plan.rebuild_until}."
        )
    return f"Full build: {plan.reason}."


def print_dry_run(settings: Settings, select: str | None, *, full_refresh: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from pipeline.warehouse.dry_run import dry_run_warehouse, human_bytes

    result = dry_run_warehouse(settings, select, full_refresh=full_refresh)
    if result.plan is not None and result.plan.mode == "unchanged" and not result.lines:
        console.print(f"Nothing to build: {result.plan.reason}.")
        return
    if result.plan is not None:
        console.print(describe(result.plan))
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
