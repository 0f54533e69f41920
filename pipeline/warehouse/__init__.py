"""One warehouse interface, two engines: embedded DuckDB (default) and BigQuery.

Callers ask for a table by layer and name (`wh.table("gold", "fact_user_sessions")`) and get
query results as Polars frames, whichever engine is behind it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
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

    def replace_rows(
        self,
        layer: Layer,
        name: str,
        schema: pl.Schema,
        frame: pl.DataFrame,
        match: Mapping[str, str],
    ) -> int:
        """Make the rows of `layer.name` that match `match` ({column: value}) exactly `frame`'s,
        in one transaction, creating the table with `schema` on first use; return how many
        rows match afterwards (the readout's gold.experiment_results)."""
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


_PLAIN = re.compile(r"[A-Za-z0-9_.:-]*")
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")


def _checked(match: Mapping[str, str]) -> dict[str, str]:
    """The pairs go into SQL as text: columns must be identifiers, values plain text."""
    for column, value in match.items():
        if not _IDENTIFIER.fullmatch(column) or not _PLAIN.fullmatch(str(value)):
            raise ValueError(f"cannot match on {column!r} = {value!r}: not plain text")
    return {column: str(value) for column, value in match.items()}


def conformed(frame: pl.DataFrame, schema: pl.Schema, table: str) -> pl.DataFrame:
    """The frame with exactly the table's columns and types; a missing column is an input
    error raised before anything is written."""
    from pipeline.errors import InputError

    missing = [name for name in schema if name not in frame.columns]
    if missing:
        raise InputError(f"The rows for {table} lack columns {missing}: nothing was written.")
    return frame.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def replace_rows_sql(
    engine: str, target: str, source: str, columns: Iterable[str], match: Mapping[str, str]
) -> str:
    """The one-transaction delete-and-insert of `replace_rows` (sql/warehouse/replace_rows.sql)."""
    from pipeline.warehouse.templates import render

    return render(
        "warehouse/replace_rows.sql",
        engine,  # type: ignore[arg-type]
        target=target,
        source=source,
        columns=list(columns),
        match=_checked(match),
    )


def count_matching_sql(engine: str, target: str, match: Mapping[str, str]) -> str:
    from pipeline.warehouse.templates import render

    return render(
        "warehouse/count_matching.sql",
        engine,  # type: ignore[arg-type]
        target=target,
        match=_checked(match),
    )
