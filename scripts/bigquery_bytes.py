"""Bytes a BigQuery run would process, per dbt model and test, computed from real data offline.

No BigQuery account here, and the emulator prices every dry run at 0 bytes. So this computes
what BigQuery's on-demand billing counts: for each statement, the logical bytes of the columns
it reads from each table it scans (BigQuery's sizes: 8 bytes for INT64, FLOAT64, TIMESTAMP
and DATE, 1 for BOOL, 2 + UTF-8 length for STRING, 0 for NULL), in the partitions it reads.
A data test is priced as dbt sends it (its failing rows counted in a wrapping query). What a
statement reads comes from BigQuery's own analyzer (ZetaSQL's resolved tree):
- columns: those the statement needs. A `select *` in a CTE or subquery whose columns nothing
  uses reads none of them (BigQuery prunes columns through CTEs, subqueries and views), so a
  column counts when an expression or the statement's output refers to it, followed through
  WITH references and set operations; `--no-pruning` counts every column a scan lists instead;
- partitions: a scan filtered on its table's partitioning column by constant bounds (`ts >=
  timestamp '...'`) reads those days only, as BigQuery prunes them; any other scan reads all.
Column sizes come from a DuckDB warehouse built by the embedded path on the same data (e.g. the
full-scale one `make bench` leaves). BigQuery bills at least 10 MiB per table a query
references; not added here.

    .venv/bin/python scripts/bigquery_bytes.py --warehouse data/bench/warehouse.duckdb
    .venv/bin/python scripts/bigquery_bytes.py --warehouse W --rebuild-from 2020-01-30 \
        --rebuild-until 2020-02-29

With a window, it also prices the incremental build of that window, as `ecom warehouse` runs
it (each model's SELECT with its window filters, the MERGE's read of the replaced partitions,
the data tests on the window, the runner's query for where the window starts), and prints its
share of the full build. It starts bqemulator (from .venv-bqemu) on loopback only to let
`dbt compile --target bigquery` connect (and, for a window, to create the tables empty, so that
dbt compiles the incremental branch); nothing is billed or computed there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.schema import BRONZE_SCHEMA  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.warehouse.bigquery import BRONZE_PARTITION_FIELD, BigQueryWarehouse  # noqa: E402
from pipeline.warehouse.build import SCORING_SELECTOR, run_dbt  # noqa: E402
from pipeline.warehouse.dialect import BIGQUERY  # noqa: E402
from pipeline.warehouse.dry_run import TIB, human_bytes, ordered_nodes  # noqa: E402
from pipeline.warehouse.incremental import LOOKBACK  # noqa: E402
from pipeline.warehouse.templates import render  # noqa: E402
from tests.bigquery import zetasql_check as z  # noqa: E402
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, running_emulator  # noqa: E402

FIXED = {
    "BIGINT": 8,
    "DOUBLE": 8,
    "TIMESTAMP WITH TIME ZONE": 8,
    "TIMESTAMP": 8,
    "DATE": 8,
    "INTEGER": 8,
    "HUGEINT": 8,
    "BOOLEAN": 1,
}
LAYERS = {"cosmetics_bronze": "bronze", "cosmetics_silver": "silver", "cosmetics_gold": "gold"}
Days = tuple[date | None, date | None]  # partitions read: [first, last], None = unbounded
# What dbt sends BigQuery for a data test (its test materialization): the failing rows counted.
TEST_WRAPPER = """select count(*) as failures, count(*) != 0 as should_warn,
    count(*) != 0 as should_error from ({sql}) dbt_internal_test"""


@dataclass(frozen=True)
class Scan:
    table: str  # dataset.table
    columns: tuple[str, ...]
    days: Days


class Sizes:
    """BigQuery's logical size of each column of the DuckDB tables, per partition range."""

    def __init__(self, con: duckdb.DuckDBPyConnection, partitions: dict[str, str]) -> None:
        self.con, self.partitions, self.known = con, partitions, {}

    def of(self, table: str, columns: tuple[str, ...] | None, days: Days = (None, None)) -> int:
        dataset, name = table.split(".")
        key = (table, days if table in self.partitions else (None, None))
        if key not in self.known:
            self.known[key] = self._measure(LAYERS.get(dataset, dataset), name, table, key[1])
        sizes = self.known[key]
        return sum(size for column, size in sizes.items() if columns is None or column in columns)

    def _measure(self, schema: str, name: str, table: str, days: Days) -> dict[str, int]:
        listed = self.con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ? order by ordinal_position",
            [schema, name],
        ).fetchall()
        parts = [
            f'{FIXED[kind]} * count("{column}")'
            if kind in FIXED
            else f'coalesce(sum(strlen("{column}") + 2), 0)'
            for column, kind in listed
        ]
        where = []
        column = self.partitions.get(table)
        if days[0] is not None:
            where.append(f"{column} >= timestamptz '{days[0]} 00:00:00+00'")
        if days[1] is not None:
            where.append(f"{column} < timestamptz '{days[1]} 00:00:00+00' + interval 1 day")
        sql = f"select {', '.join(parts)} from {schema}.{name}"
        sizes = self.con.execute(
            sql + (f" where {' and '.join(where)}" if where else "")
        ).fetchone()
        return {c: int(s or 0) for (c, _), s in zip(listed, sizes, strict=True)}


# ---- what a statement reads, from the resolved tree ------------------------------------------


def _children(message: Any) -> Iterator[Any]:
    for field, value in message.ListFields():
        if field.message_type is not None:
            yield from value if field.is_repeated else [value]


def _walk(message: Any) -> Iterator[Any]:
    yield message
    for child in _children(message):
        yield from _walk(child)


def _kind(message: Any) -> str:
    return message.DESCRIPTOR.name.removesuffix("Proto")


def _ids(columns: Any) -> list[int]:
    return [c.column_id for c in columns]


def needed_columns(statement: Any) -> set[int]:
    """Column ids the statement needs: referenced by an expression or output, followed
    backwards through WITH references and set operations (positional)."""
    used, links = set(), []
    for node in _walk(statement):
        kind = _kind(node)
        if kind in ("ResolvedColumnRef", "ResolvedOutputColumn"):
            used.add(node.column.column_id)
        elif kind == "ResolvedSetOperationScan":
            out = _ids(z._find(node, "column_list"))
            for item in node.input_item_list:
                links += zip(out, _ids(item.output_column_list), strict=False)
    entries = {
        e.with_query_name: _ids(z._find(z._unwrap(e.with_subquery), "column_list"))
        for n in _walk(statement)
        if _kind(n) == "ResolvedWithEntry"
        for e in [n]
    }
    for node in _walk(statement):
        if _kind(node) == "ResolvedWithRefScan":
            links += zip(
                _ids(z._find(node, "column_list")), entries[node.with_query_name], strict=False
            )
    if _kind(statement) == "ResolvedCreateTableAsSelectStmt":
        used |= set(_ids(z._find(z._unwrap(statement.query), "column_list")))
    changed = True
    while changed:
        changed = False
        for outer, inner in links:
            if outer in used and inner not in used:
                used.add(inner)
                changed = True
    return used


def _bound(expr: Any, column_ids: dict[int, str], column: str) -> Days:
    """The days a conjunct `column >= / > / < / <= timestamp literal` keeps."""
    node = z._unwrap(expr)
    if _kind(node) != "ResolvedFunctionCall":
        return (None, None)
    name = z._find(node, "function").name.split("$")[-1]
    if name == "and":
        days = [_bound(a, column_ids, column) for a in z._find(node, "argument_list")]
        firsts = [d[0] for d in days if d[0]]
        lasts = [d[1] for d in days if d[1]]
        return (max(firsts) if firsts else None, min(lasts) if lasts else None)
    args = [z._unwrap(a) for a in z._find(node, "argument_list")]
    if len(args) != 2 or [_kind(a) for a in args] != [
        "ResolvedColumnRef",
        "ResolvedLiteral",
    ]:
        return (None, None)
    if column_ids.get(args[0].column.column_id) != column:
        return (None, None)
    value = z._find(args[1], "value").value
    if not value.HasField("timestamp_value"):
        return (None, None)
    at = datetime.fromtimestamp(value.timestamp_value.seconds, UTC)
    if name in ("greater_or_equal", "greater"):
        return (at.date(), None)
    if name in ("less", "less_or_equal"):
        last = at.date() if name == "less_or_equal" or at.time() != datetime.min.time() else None
        return (None, last or date.fromordinal(at.date().toordinal() - 1))
    return (None, None)


def _table_scans(node: Any, found: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """(table scan, the filter right above it or None) for every table scan under node."""
    kind = _kind(node)
    if kind == "ResolvedFilterScan":
        inner = z._unwrap(node.input_scan)
        if _kind(inner) == "ResolvedTableScan":
            found.append((inner, node.filter_expr))
            return _table_scans(node.filter_expr, found)  # its subqueries scan too
    if kind == "ResolvedTableScan":
        found.append((node, None))
        return found
    for child in _children(node):
        _table_scans(child, found)
    return found


def scans(statement: Any, partitions: dict[str, str], pruning: bool = True) -> list[Scan]:
    """Every table scan of a statement: its table, the columns it reads, its days."""
    needed = needed_columns(statement) if pruning else None
    found = []
    for table_scan, condition in _table_scans(statement, []):
        table = table_scan.table.full_name or table_scan.table.name
        table = ".".join(table.replace("`", "").split(".")[-2:])
        columns = z._find(table_scan, "column_list")
        ids = {c.column_id: c.name for c in columns}
        days: Days = (None, None)
        if condition is not None and table in partitions:
            days = _bound(condition, ids, partitions[table])
        names = tuple(c.name for c in columns if needed is None or c.column_id in needed)
        found.append(Scan(table, names, days))
    return found


def analyzed(sql: str, catalog: z.Catalog) -> Any:
    pb = z._pb()
    with z.analyzer(catalog) as analyzer:
        request = pb.local.AnalyzeRequest(
            options=z._analyzer_options(),
            registered_catalog_id=analyzer._catalog_id(),
            sql_statement=sql,
        )
        response = z.service().call("Analyze", request, pb.local.AnalyzeResponse)
    return z._unwrap(response.resolved_statement)


# ---- the two builds ----------------------------------------------------------------------------


def compile_manifest(settings: Settings, window: dict[str, str] | None) -> dict[str, Any]:
    extra = () if window else ("--full-refresh",)
    target = run_dbt(
        settings, "compile", exclude=SCORING_SELECTOR, extra=extra, extra_vars=window or {}
    ).target_path
    return json.loads((Path(target) / "manifest.json").read_text())


def partition_columns(manifest: dict[str, Any]) -> dict[str, str]:
    """dataset.table -> the timestamp column BigQuery partitions it by (a day)."""
    found = {"cosmetics_bronze.events": BRONZE_PARTITION_FIELD}
    for node in manifest["nodes"].values():
        layout = node["config"].get("partition_by") if node["resource_type"] == "model" else None
        if layout:
            found[f"{node['schema']}.{node['alias']}"] = layout["field"]
    return found


def price(
    manifest: dict[str, Any], sizes: Sizes, catalog: z.Catalog, window: Days | None, pruning: bool
) -> list[tuple[str, str, int]]:
    """(kind, name, bytes) of every model and data test of a build; `window`: an incremental
    build, the days of its window the tables held before it (what each MERGE deletes)."""
    rows = []
    for node in ordered_nodes(manifest):
        sql = node["compiled_code"]
        if node["resource_type"] == "model" and window is None:
            # Register the model's output (its compiled select, analyzed as a CTAS).
            findings = z.check_statements(
                [(node["unique_id"], f"create table {node['relation_name']} as {sql}")], catalog
            )
            if z.failures(findings):
                raise SystemExit(z.describe(findings))
        if node["resource_type"] == "test":
            sql = TEST_WRAPPER.format(sql=sql)
        statement = analyzed(sql, catalog)
        total = sum(
            sizes.of(s.table, s.columns, s.days)
            for s in scans(statement, sizes.partitions, pruning)
        )
        if window is not None and node["config"].get("partitions"):
            # insert_overwrite's MERGE reads the replaced partitions of its target: every
            # column of the rows they held before the build (the days before the new data).
            total += sizes.of(f"{node['schema']}.{node['alias']}", None, window)
        rows.append((node["resource_type"], node["unique_id"].split(".", 2)[-1], total))
    return rows


def runner_query(sizes: Sizes, catalog: z.Catalog, first_change: datetime, pruning: bool) -> int:
    """The runner's one query before an incremental build: where the window starts."""
    sql = render(
        "warehouse/rebuild_start.sql",
        BIGQUERY,
        table=f"`{EMULATOR_PROJECT}.cosmetics_gold.fact_user_sessions`",
        since=(first_change - LOOKBACK).strftime("%Y-%m-%d %H:%M:%S"),
    )
    statement = analyzed(sql, catalog)
    return sum(
        sizes.of(s.table, s.columns, s.days) for s in scans(statement, sizes.partitions, pruning)
    )


def report(title: str, rows: list[tuple[str, str, int]], price_per_tib: float) -> int:
    width = max(len(n) for _, n, _ in rows)
    print(f"\n{title}\n{'node':<{width + 6}} {'bytes processed':>24} {'USD':>8}")
    for kind, name, total in rows:
        usd = total / TIB * price_per_tib
        print(f"{kind:<5} {name:<{width}} {total:>14,} {human_bytes(total):>10} {usd:>8.4f}")
    grand = sum(t for _, _, t in rows)
    models = sum(t for k, _, t in rows if k == "model")
    print(
        f"models: {models:,} ({human_bytes(models)}), tests: {grand - models:,} "
        f"({human_bytes(grand - models)}), total {human_bytes(grand)} = "
        f"${grand / TIB * price_per_tib:.2f} at ${price_per_tib:g}/TiB"
    )
    return grand


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="DuckDB warehouse file")
    parser.add_argument("--price-per-tib", type=float, default=6.25)
    parser.add_argument("--rebuild-from", type=date.fromisoformat, help="window's first day")
    parser.add_argument("--rebuild-until", type=date.fromisoformat, help="window's last day")
    parser.add_argument(
        "--first-change",
        type=datetime.fromisoformat,
        help="the first changed event (the runner's query); default the window's first day",
    )
    parser.add_argument("--no-pruning", action="store_true", help="count every column a scan lists")
    args = parser.parse_args()
    pruning = not args.no_pruning

    con = duckdb.connect(str(args.warehouse), read_only=True)
    con.execute("set TimeZone = 'UTC'")
    window = None
    if args.rebuild_from:
        window = {
            "rebuild_from": args.rebuild_from.isoformat(),
            "rebuild_until": (args.rebuild_until or args.rebuild_from).isoformat(),
        }
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_emulator(Path(tmp) / "bqemulator.log") as endpoint,
    ):
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=Path(tmp) / "data",
            warehouse="bigquery",
            gcp_project=EMULATOR_PROJECT,
            bq_api_endpoint=endpoint,
        )
        full_manifest = compile_manifest(settings, None)
        incremental_manifest = None
        if window:
            # Empty tables, so that dbt compiles every incremental model's incremental branch.
            wh = BigQueryWarehouse(settings)
            wh.ensure_datasets()
            wh.ensure_bronze_tables()
            run_dbt(settings, "run", exclude=SCORING_SELECTOR, extra=("--empty", "--full-refresh"))
            incremental_manifest = compile_manifest(settings, window)

    catalog = z.Catalog(EMULATOR_PROJECT)
    catalog.add((EMULATOR_PROJECT, "cosmetics_bronze", "events"), z.polars_columns(BRONZE_SCHEMA))
    sizes = Sizes(con, partition_columns(incremental_manifest or full_manifest))
    full = report(
        "Full build",
        price(full_manifest, sizes, catalog, None, pruning),
        args.price_per_tib,
    )
    if window and incremental_manifest:
        days = (args.rebuild_from, args.rebuild_until)
        first = args.first_change or datetime.combine(args.rebuild_from, datetime.min.time(), UTC)
        held: Days = (args.rebuild_from, date.fromordinal(first.date().toordinal() - 1))
        rows = price(incremental_manifest, sizes, catalog, held, pruning)
        rows.append(
            (
                "query",
                "runner: where the window starts",
                runner_query(sizes, catalog, first, pruning),
            )
        )
        incremental = report(
            f"Incremental build of {days[0]} to {days[1]}", rows, args.price_per_tib
        )
        print(
            f"\nincremental / full: {incremental / full:.1%} "
            f"({human_bytes(incremental)} of {human_bytes(full)}; columns "
            f"{'as BigQuery prunes them' if pruning else 'every one a scan lists'})"
        )


if __name__ == "__main__":
    main()
