"""One warehouse interface, two engines: embedded DuckDB (default) and BigQuery.

Callers ask for a table by layer and name (`wh.table("gold", "fact_user_sessions")`) and get
query results as Polars frames, whichever engine is behind it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import polars as pl

from pipeline.settings import Settings

Layer = Literal["bronze", "silver", "gold"]

# Bronze's two tables, whatever the engine.
BRONZE_TABLE = "events"
QUARANTINE_TABLE = "quarantine"


@dataclass(frozen=True)
class BronzeLoad:
    """Rows of one source file now in bronze (events and quarantine)."""

    events: int
    quarantined: int


class Warehouse(Protocol):
    engine: str

    def table(self, layer: Layer, name: str) -> str:
        """Fully qualified, engine-specific name of a table."""
        ...

    def exists(self, layer: Layer, name: str) -> bool:
        """Whether the table (or view) is there, e.g. one an incremental build keeps."""
        ...

    def columns(self, layer: Layer, name: str) -> list[str] | None:
        """The table's column names (lower case), or None when it is not there."""
        ...

    def query(self, sql: str) -> pl.DataFrame:
        """Run a query and return its result as a Polars frame.

        A missing table or schema raises WarehouseError naming it and the stage that makes it.
        """
        ...

    def load_bronze(
        self,
        source_file: str,
        event_parts: Sequence[str | Path],
        quarantine_parts: Sequence[str | Path] = (),
    ) -> BronzeLoad:
        """Make one source file's rows in bronze exactly the given parts', atomically; return
        what the engine now holds of that file (a failed load keeps the previous rows)."""
        ...


def missing_table_hint(layer: str | None, name: str) -> str:
    """The command that creates a table a query did not find."""
    if layer == "bronze":
        return "`ecom ingest`"
    if "score" in name:
        return "`ecom score` (after `ecom warehouse` and `ecom train`)"
    return "`ecom warehouse` (after `ecom ingest`)"


def connect(settings: Settings) -> Warehouse:
    """The warehouse named by settings.warehouse."""
    if settings.warehouse == "bigquery":
        from pipeline.warehouse.bigquery import BigQueryWarehouse

        return BigQueryWarehouse(settings)
    from pipeline.warehouse.duckdb import DuckDBWarehouse

    return DuckDBWarehouse(settings)
