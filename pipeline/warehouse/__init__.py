"""One warehouse interface, two engines: embedded DuckDB (default) and BigQuery.

Callers ask for a table by layer and name (`wh.table("gold", "fact_user_sessions")`) and get
query results as Polars frames, whichever engine is behind it.
"""

from __future__ import annotations

from typing import Literal, Protocol

import polars as pl

from pipeline.settings import Settings

Layer = Literal["bronze", "silver", "gold"]


class Warehouse(Protocol):
    engine: str

    def table(self, layer: Layer, name: str) -> str:
        """Fully qualified, engine-specific name of a table."""
        ...

    def query(self, sql: str) -> pl.DataFrame:
        """Run a query and return its result as a Polars frame."""
        ...


def connect(settings: Settings) -> Warehouse:
    """The warehouse named by settings.warehouse."""
    if settings.warehouse == "bigquery":
        from pipeline.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse(settings)
    from pipeline.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(settings)
