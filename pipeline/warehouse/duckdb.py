"""The embedded default: one DuckDB file holds bronze, silver and gold as schemas."""

from __future__ import annotations

import duckdb
import polars as pl

from pipeline.errors import WarehouseError
from pipeline.settings import Settings


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
        return duckdb.connect(str(self.path), read_only=read_only)

    def table(self, layer: str, name: str) -> str:
        return f"{layer}.{name}"

    def query(self, sql: str) -> pl.DataFrame:
        with self.connect(read_only=True) as con:
            return con.sql(sql).pl()
