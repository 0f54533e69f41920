"""The model's reads of gold.fct_cart_sessions, with engine errors turned into advice.

`ecom train` or `ecom score` run before `ecom warehouse` meet a warehouse without a gold layer;
the engine's own error (DuckDB's CatalogException, BigQuery's 404) is true but says nothing
about what to do, so it becomes a WarehouseError naming the command that builds gold.
(abtest wraps its queries the same way; a shared warehouse-level wrapper may replace both.)
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pipeline.errors import EcomError, WarehouseError
from pipeline.settings import Settings

TABLE = "fct_cart_sessions"
BUILD_GOLD = "Build the gold layer first: `ecom warehouse` (after `ecom ingest`)."


def _failure(table: str, what: str, err: BaseException) -> WarehouseError:
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return WarehouseError(f"Reading {table} for the {what} failed: {first_line}\n{BUILD_GOLD}")


def _is_not_found(err: WarehouseError) -> bool:
    """A BigQuery 404 (dataset or table missing), which the warehouse wraps without advice."""
    try:
        from google.api_core.exceptions import NotFound
    except ImportError:  # google-cloud-bigquery not installed: cannot be a BigQuery error
        return False
    return isinstance(err.__cause__, NotFound)


def read_cart_sessions(
    settings: Settings, sql_for: Callable[[str, str], str], what: str
) -> pl.DataFrame:
    """Run `sql_for(table, engine)` on gold.fct_cart_sessions; a frame or a WarehouseError."""
    from pipeline.warehouse import connect  # the batch stack; not needed to load a model

    warehouse = connect(settings)
    table = warehouse.table("gold", TABLE)
    try:
        return warehouse.query(sql_for(table, warehouse.engine))
    except WarehouseError as err:
        if _is_not_found(err):
            raise _failure(table, what, err.__cause__) from err
        raise  # already says what to do (no warehouse file, file locked, ...)
    except EcomError:
        raise
    except Exception as err:  # engine errors: gold missing, an old gold without a column, ...
        raise _failure(table, what, err) from err


def require_cart_sessions(settings: Settings, what: str) -> None:
    """Fail with the fix when gold.fct_cart_sessions cannot be read (reads no rows)."""
    read_cart_sessions(settings, lambda table, _: f"select session_id from {table} limit 0", what)


__all__ = ["BUILD_GOLD", "TABLE", "read_cart_sessions", "require_cart_sessions"]
