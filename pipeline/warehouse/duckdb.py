"""The embedded default: one DuckDB file holds bronze, silver and gold as schemas."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from pipeline.errors import WarehouseError
from pipeline.schema import BRONZE_SCHEMA, QUARANTINE_SCHEMA
from pipeline.settings import Settings

BRONZE_TABLE = "events"
QUARANTINE_TABLE = "quarantine"

# DuckDB column types for the bronze contracts (pipeline.schema), derived, never restated.
_DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.Datetime: "timestamptz",  # Parquet's UTC-adjusted timestamp; an instant, not a wall time
    pl.String: "varchar",
    pl.Int64: "bigint",
    pl.Float64: "double",
    pl.Boolean: "boolean",
}


def _ddl(table: str, schema: pl.Schema) -> str:
    columns = ",\n    ".join(
        f"{name} {_DUCKDB_TYPES[dtype.base_type()]}" for name, dtype in schema.items()
    )
    return f"create table if not exists {table} (\n    {columns}\n)"


@dataclass(frozen=True)
class BronzeLoad:
    """Rows of one source file now in bronze (events and quarantine)."""

    events: int
    quarantined: int


class DuckDBWarehouse:
    engine = "duckdb"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = settings.warehouse_path

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        if read_only and not self.path.exists():
            raise WarehouseError(
                f"No warehouse at {self.path}. Run `ecom ingest` (or `make demo`) first."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.IOException as err:
            raise WarehouseError(
                f"Cannot open the warehouse {self.path}: {err}. Another process (dbt, a "
                "notebook, the app) probably holds it: close it and retry."
            ) from err

    def table(self, layer: str, name: str) -> str:
        return f"{layer}.{name}"

    def query(self, sql: str) -> pl.DataFrame:
        with self.connect(read_only=True) as con:
            return con.sql(sql).pl()

    def load_bronze(
        self,
        source_file: str,
        event_parts: Sequence[str | Path],
        quarantine_parts: Sequence[str | Path] = (),
    ) -> BronzeLoad:
        """Replace one source file's rows in bronze.events (and bronze.quarantine) in one go.

        Delete and insert run in a single transaction straight from the lake's Parquet (DuckDB
        reads it natively, in parallel), so a re-run replaces the month and a failed load
        leaves the previous month in place.
        """
        events = self.table("bronze", BRONZE_TABLE)
        rejects = self.table("bronze", QUARANTINE_TABLE)
        with self.connect() as con:
            # Rows need no particular order (source_line says where each came from); letting
            # DuckDB insert in parallel makes a month's load ~30% faster.
            con.execute("set preserve_insertion_order = false")
            con.execute("create schema if not exists bronze")
            con.execute(_ddl(events, BRONZE_SCHEMA))
            con.execute(_ddl(rejects, QUARANTINE_SCHEMA))
            con.execute("begin transaction")
            try:
                for table, parts, schema in (
                    (events, event_parts, BRONZE_SCHEMA),
                    (rejects, quarantine_parts, QUARANTINE_SCHEMA),
                ):
                    con.execute(f"delete from {table} where source_file = ?", [source_file])
                    if parts:
                        columns = ", ".join(schema)
                        con.execute(
                            f"insert into {table} ({columns}) "
                            f"select {columns} from read_parquet(?)",
                            [[str(p) for p in parts]],
                        )
                counts = [
                    con.execute(
                        f"select count(*) from {table} where source_file = ?", [source_file]
                    ).fetchone()[0]
                    for table in (events, rejects)
                ]
                con.execute("commit")
            except duckdb.Error as err:
                con.execute("rollback")
                raise WarehouseError(
                    f"Loading {source_file} into {events} failed: {err}. The previous rows "
                    "were kept; fix the cause and re-run `ecom ingest`."
                ) from err
        return BronzeLoad(events=counts[0], quarantined=counts[1])
