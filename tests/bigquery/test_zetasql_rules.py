"""The analyzer check bites: statements real BigQuery refuses fail it, with BigQuery's reason.

These are the very mistakes bqemulator lets through (it transpiles to DuckDB, passes unknown
functions on and drops partitioning and clustering from DDL), so each case here is one the
end-to-end emulator run alone could not catch.
"""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema import BRONZE_SCHEMA

EVENTS = "`p.bronze.events`"


@pytest.fixture
def catalog(zetasql: Any) -> Any:
    catalog = zetasql.Catalog("p")
    catalog.add(("p", "bronze", "events"), zetasql.polars_columns(BRONZE_SCHEMA))
    return catalog


def check(zetasql: Any, catalog: Any, sql: str) -> Any:
    (finding,) = zetasql.check_statements([("case", sql)], catalog)
    return finding


REFUSED = {
    "float64 window partition (the old stg_events)": (
        f"select row_number() over (partition by event_time, price order by source_line) from {EVENTS}",
        "Partitioning by expressions of type FLOAT64 is not allowed",
    ),
    "duckdb-only epoch_us": (
        f"select epoch_us(event_time) from {EVENTS}",
        "Function not found: epoch_us",
    ),
    "duckdb-only list_value": (
        f"select list_value(user_id) from {EVENTS}",
        "Function not found: list_value",
    ),
    "duckdb-only strftime": (
        f"select strftime(event_time, '%Y') from {EVENTS}",
        "Function not found: strftime",
    ),
    "int32 is not a BigQuery type": (f"select cast(user_id as int32) from {EVENTS}", "int32"),
    "unknown column": (f"select user_name from {EVENTS}", "Unrecognized name: user_name"),
    "unknown table": ("select * from `p.bronze.evnts`", "not found"),
    "table partitioned by a raw timestamp": (
        f"create table `p`.`gold`.`t` partition by event_time as select event_time from {EVENTS}",
        "PARTITION BY column event_time of type TIMESTAMP",
    ),
    "table partitioned by a float": (
        f"create table `p`.`gold`.`t` partition by range_bucket(price, [1.0]) as select price from {EVENTS}",
        "",
    ),
    "timestamp_trunc to a week": (
        f"create table `p`.`gold`.`t` partition by timestamp_trunc(event_time, week) as "
        f"select event_time from {EVENTS}",
        "TIMESTAMP_TRUNC(..., WEEK)",
    ),
    "clustered by a float": (
        f"create table `p`.`gold`.`t` cluster by price as select price from {EVENTS}",
        "floating point",
    ),
    "clustered by five columns": (
        f"create table `p`.`gold`.`t` cluster by user_id, product_id, category_id, source_file, "
        f"event_type as select * from {EVENTS}",
        "at most 4 columns",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_bigquery_refuses_fails_the_check(zetasql: Any, catalog: Any, case: str) -> None:
    sql, reason = REFUSED[case]
    finding = check(zetasql, catalog, sql)
    assert finding.error is not None, f"{case} passed the check"
    assert reason.lower() in finding.error.lower(), finding.error


ACCEPTED = {
    "day partition on a timestamp, clustered": (
        f"create or replace table `p`.`gold`.`t` partition by timestamp_trunc(event_time, day) "
        f"cluster by user_id options() as (select event_time, user_id from {EVENTS})"
    ),
    "date partition": (
        f"create table `p`.`gold`.`t` partition by date(event_time) cluster by source_file, user_id "
        f"as select * from {EVENTS}"
    ),
    "integer range partition": (
        f"create table `p`.`gold`.`t` partition by range_bucket(user_id, generate_array(0, 1000, 10)) "
        f"as select user_id from {EVENTS}"
    ),
    "the new stg_events de-duplication window": (
        "select row_number() over w, lag(price) over w from "
        + EVENTS
        + " window w as (partition by event_time, original_event_type, product_id, user_id, "
        "user_session order by price, source_file, source_line)"
    ),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_what_bigquery_runs_passes(zetasql: Any, catalog: Any, case: str) -> None:
    finding = check(zetasql, catalog, ACCEPTED[case])
    assert finding.error is None, finding.error


def test_a_create_feeds_the_statements_after_it(zetasql: Any, catalog: Any) -> None:
    findings = zetasql.check_statements(
        [
            (
                "model",
                f"create table `p`.`gold`.`sessions` as select user_id, price * 2 as doubled from {EVENTS}",
            ),
            ("reads it", "select sum(doubled) from `p`.`gold`.`sessions` where user_id > 0"),
            ("wrong column", "select price from `p.gold.sessions`"),
        ],
        catalog,
    )
    assert [f.error is None for f in findings] == [True, True, False]
    assert catalog.columns(("p", "gold", "sessions")) == {"user_id": "INT64", "doubled": "FLOAT64"}


def test_a_create_function_feeds_the_calls_after_it(zetasql: Any, catalog: Any) -> None:
    """As the SQL scorer's predict_abandonment: created once, called by later jobs, typed."""
    findings = zetasql.check_statements(
        [
            ("before", f"select `p.gold.double_it`(price) from {EVENTS}"),
            (
                "function",
                "create or replace function `p.gold.double_it`(x float64) returns float64 "
                "as (x * 2)",
            ),
            ("dotted call", f"select `p.gold.double_it`(price) from {EVENTS}"),
            ("nested call", f"select `p`.`gold`.double_it(price) from {EVENTS}"),
            ("wrong argument", f"select `p.gold.double_it`(event_type) from {EVENTS}"),
        ],
        catalog,
    )
    assert [f.error is None for f in findings] == [False, True, True, True, False]
    assert "No matching signature" in findings[-1].error


def test_a_script_is_checked_statement_by_statement(zetasql: Any, catalog: Any) -> None:
    findings = zetasql.check_statements(
        [
            (
                "script",
                f"begin transaction; delete from {EVENTS} where true; "
                f"insert into {EVENTS} (user_id) select epoch_us(event_time) from {EVENTS}; commit transaction;",
            )
        ],
        catalog,
    )
    assert [f.kind for f in findings[:2]] == ["ResolvedBeginStmt", "ResolvedDeleteStmt"]
    assert "epoch_us" in (findings[-1].error or "")


def test_the_compiled_module_is_cached_outside_the_repository(zetasql: Any) -> None:
    from pipeline.settings import REPO_ROOT

    cached = list(zetasql.CACHE_DIR.glob("zetasql-*.cwasm"))
    assert cached, zetasql.CACHE_DIR
    assert not zetasql.CACHE_DIR.resolve().is_relative_to(REPO_ROOT.resolve())
    assert cached[0].stat().st_size > 10_000_000  # compiled machine code, not a stub
