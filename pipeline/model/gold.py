"""The model's reads of gold.fct_cart_sessions, each failure a WarehouseError with the fix.

`ecom train` or `ecom score` run before `ecom warehouse` meet a warehouse without a gold layer.
The warehouse interface already turns a missing table into a WarehouseError naming the command
that builds it (DuckDB's catalog error, BigQuery's 404); any other engine error (an old gold
without a contract column, a type mismatch) is wrapped here so no raw traceback reaches the CLI.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import polars as pl

from pipeline.errors import EcomError, WarehouseError
from pipeline.serving.features import FEATURES, LABEL
from pipeline.settings import Settings, month_key
from pipeline.warehouse.dialect import dialect_named
from pipeline.warehouse.templates import render

TABLE = "fct_cart_sessions"
SESSIONS_TABLE = "fact_user_sessions"
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
    return read_gold(settings, TABLE, sql_for, what)


def read_gold(
    settings: Settings, name: str, sql_for: Callable[[str, str], str], what: str
) -> pl.DataFrame:
    """Run `sql_for(table, engine)` on the gold table `name`; a frame or a WarehouseError."""
    return read_gold_tables(
        settings, (name,), lambda tables, engine: sql_for(tables[name], engine), what
    )


def read_gold_tables(
    settings: Settings,
    names: Sequence[str],
    sql_for: Callable[[Mapping[str, str], str], str],
    what: str,
) -> pl.DataFrame:
    """Run `sql_for({name: table}, engine)` over several gold tables (the first named in an
    error); a frame or a WarehouseError."""
    from pipeline.warehouse import connect  # the batch stack; not needed to load a model

    warehouse = connect(settings)
    tables = {name: warehouse.table("gold", name) for name in names}
    try:
        return warehouse.query(sql_for(tables, warehouse.engine))
    except EcomError:
        raise  # already says what to do (no warehouse file, table missing, file locked, ...)
    except Exception as err:  # engine errors: an old gold without a contract column, ...
        raise _failure(tables[names[0]], what, err) from err


def contract_columns_sql(table: str) -> str:
    """A query of no rows that fails unless `table` has every column scoring reads."""
    columns = list(dict.fromkeys((*ID_COLUMNS, *FEATURES, LABEL)))
    return render("model/contract_columns.sql", "duckdb", table=table, columns=columns)


def require_cart_sessions(settings: Settings, what: str) -> None:
    """Fail with the fix when gold.fct_cart_sessions lacks a column scoring reads (no rows read)."""
    read_cart_sessions(settings, lambda table, _: contract_columns_sql(table), what)


def injected_share_sql(table: str, engine: str, through: str | None = None) -> str:
    """sql/model/injected_purchase_share.sql on `table` (gold.fact_user_sessions)."""
    return render(
        "model/injected_purchase_share.sql",
        dialect_named(engine),
        table=table,
        through=month_key(through) if through else None,
    )


def injected_purchase_share(settings: Settings, through: str | None = None) -> dict[str, Any]:
    """How many purchased cart sessions bought only through injected events (the experiment's
    simulated uplift), overall and in Treatment, up to month `through`: what makes
    experiment_group look predictive. Read from gold.fact_user_sessions (both engines)."""
    row = read_gold(
        settings,
        SESSIONS_TABLE,
        lambda table, engine: injected_share_sql(table, engine, through),
        "model card",
    ).row(0, named=True)
    counts = {k: int(v or 0) for k, v in row.items()}
    purchased, treatment = counts["purchased_sessions"], counts["treatment_purchased_sessions"]
    return {
        **counts,
        "share": counts["injected_only_sessions"] / purchased if purchased else None,
        "treatment_share": (
            counts["treatment_injected_only_sessions"] / treatment if treatment else None
        ),
    }


__all__ = [
    "BUILD_GOLD",
    "TABLE",
    "contract_columns_sql",
    "injected_purchase_share",
    "injected_share_sql",
    "read_cart_sessions",
    "read_gold",
    "read_gold_tables",
    "require_cart_sessions",
]
