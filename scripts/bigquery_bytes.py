"""Bytes a BigQuery run would process, per dbt model and test, computed from real data offline.

No BigQuery account here, and the emulator prices every dry run at 0 bytes. So this computes
what BigQuery's on-demand billing counts: for each statement, the logical bytes of the columns
it reads from each table it scans (BigQuery's sizes: 8 bytes for INT64, FLOAT64, TIMESTAMP
and DATE, 1 for BOOL, 2 + UTF-8 length for STRING, 0 for NULL). Which columns a statement
reads comes from BigQuery's own analyzer (ZetaSQL's resolved table scans); the column sizes
from a DuckDB warehouse built by the embedded path on the same data (e.g. `make bench`'s
full-scale one). Partition pruning does not apply: every statement of a full build reads
whole tables. BigQuery bills at least 10 MiB per table a query references.

    .venv/bin/python scripts/bigquery_bytes.py --warehouse data/warehouse.duckdb

It starts bqemulator (from .venv-bqemu) on loopback only to let `dbt compile --target bigquery`
connect; nothing runs there.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.schema import BRONZE_SCHEMA  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.warehouse.build import SCORING_SELECTOR, run_dbt  # noqa: E402
from pipeline.warehouse.dry_run import TIB, human_bytes, ordered_nodes  # noqa: E402
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


def column_bytes(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, int]:
    """BigQuery's logical size of each column of a DuckDB table (NULLs count nothing)."""
    columns = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    parts = []
    for name, kind in columns:
        if kind in FIXED:
            parts.append(f'{FIXED[kind]} * count("{name}")')
        else:  # strings: 2 bytes + UTF-8 length
            parts.append(f'coalesce(sum(strlen("{name}") + 2), 0)')
    sizes = con.execute(f"select {', '.join(parts)} from {schema}.{table}").fetchone()
    return {name: int(size) for (name, _), size in zip(columns, sizes, strict=True)}


def scans(message: Any, found: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    """Every ResolvedTableScan in a resolved tree: (table name, columns read)."""
    if message.DESCRIPTOR.name == "ResolvedTableScanProto":
        table = message.table.full_name or message.table.name
        found.append((table, [c.name for c in z._find(message, "column_list")]))
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        for item in value if field.is_repeated else [value]:
            scans(item, found)
    return found


def analyzed_scans(sql: str, catalog: z.Catalog) -> list[tuple[str, list[str]]]:
    pb = z._pb()
    with z.analyzer(catalog) as analyzer:
        request = pb.local.AnalyzeRequest(
            options=z._analyzer_options(),
            registered_catalog_id=analyzer._catalog_id(),
            sql_statement=sql,
        )
        response = z.service().call("Analyze", request, pb.local.AnalyzeResponse)
    return scans(response.resolved_statement, [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="DuckDB warehouse file")
    parser.add_argument("--price-per-tib", type=float, default=6.25)
    args = parser.parse_args()

    con = duckdb.connect(str(args.warehouse), read_only=True)
    con.execute("set TimeZone = 'UTC'")
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
        target = run_dbt(settings, "compile", exclude=SCORING_SELECTOR).target_path
        manifest = json.loads((Path(target) / "manifest.json").read_text())

    catalog = z.Catalog(EMULATOR_PROJECT)
    catalog.add((EMULATOR_PROJECT, "cosmetics_bronze", "events"), z.polars_columns(BRONZE_SCHEMA))
    sizes: dict[str, dict[str, int]] = {}
    rows = []
    for node in ordered_nodes(manifest):
        sql = node["compiled_code"]
        if node["resource_type"] == "model":
            # Register the model's output (its compiled select, analyzed as a CTAS).
            name = node["relation_name"]
            z.check_statements([(node["unique_id"], f"create table {name} as {sql}")], catalog)
        total = 0
        for table, columns in analyzed_scans(sql, catalog):
            dataset, table_name = table.replace("`", "").split(".")[-2:]
            key = f"{dataset}.{table_name}"
            if key not in sizes:
                sizes[key] = column_bytes(con, LAYERS.get(dataset, dataset), table_name)
            total += sum(sizes[key][c] for c in columns if c in sizes[key])
        rows.append((node["resource_type"], node["unique_id"].split(".", 2)[-1], total))

    width = max(len(n) for _, n, _ in rows)
    print(f"{'node':<{width + 6}} {'bytes processed':>24} {'USD':>8}")
    for kind, name, total in rows:
        usd = total / TIB * args.price_per_tib
        print(f"{kind:<5} {name:<{width}} {total:>14,} {human_bytes(total):>10} {usd:>8.4f}")
    grand = sum(t for _, _, t in rows)
    models = sum(t for k, _, t in rows if k == "model")
    print(
        f"models: {models:,} ({human_bytes(models)}), tests: {grand - models:,} "
        f"({human_bytes(grand - models)}), total {human_bytes(grand)} = "
        f"${grand / TIB * args.price_per_tib:.2f} at ${args.price_per_tib:g}/TiB"
    )


if __name__ == "__main__":
    main()
