"""The model's reads of gold.fct_cart_sessions, each failure a WarehouseError with the fix.

`ecom train` or `ecom score` run before `ecom warehouse` meet a warehouse without a gold layer.
The warehouse interface already turns a missing table into a WarehouseError naming the command
that builds it (DuckDB's catalog error, BigQuery's 404); any other engine error (an old gold
without a contract column, a type mismatch) is wrapped here so no raw traceback reaches the CLI.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pipeline.errors import EcomError, WarehouseError
from pipeline.model.features import FEATURES, LABEL
from pipeline.settings import Settings

TABLE = "fct_cart_sessions"
# What the scoring model passes through beside the features (dbt/macros/scoring/).
ID_COLUMNS = ("session_id", "user_id", "experiment_group", "session_start", "session_month")
BUILD_GOLD = "(Re)build the gold layer with `ecom warehouse` (after `ecom ingest`)."


def _failure(table: str, what: str, err: BaseException) -> WarehouseError:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return WarehouseError(f"Reading {table} for the {what} failed: {first_line}\n{BUILD_GOLD}")


def read_cart_sessions(
    settings: Settings, sql_for: Callable[[str, str], str], what: str
) -> pl.DataFrame:
    """Run `sql_for(table, engine)` on gold.fct_cart_sessions; a frame or a WarehouseError."""
    from pipeline.warehouse import connect  # the batch stack; not needed to load a model

    warehouse = connect(settings)
    table = warehouse.table("gold", TABLE)
    try:
        return warehouse.query(sql_for(table, warehouse.engine))
    except EcomError:
        raise  # already says what to do (no warehouse file, table missing, file locked, ...)
    except Exception as err:  # engine errors: an old gold without a contract column, ...
        raise _failure(table, what, err) from err


def require_cart_sessions(settings: Settings, what: str) -> None:
    """Fail with the fix when gold.fct_cart_sessions lacks a column scoring reads (no rows read)."""
    columns = ", ".join(dict.fromkeys((*ID_COLUMNS, *FEATURES, LABEL)))
    read_cart_sessions(settings, lambda table, _: f"select {columns} from {table} limit 0", what)


__all__ = ["BUILD_GOLD", "TABLE", "read_cart_sessions", "require_cart_sessions"]
