"""DuckDBWarehouse.query: UTC whatever the machine's zone, and clear errors for missing tables."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator

import duckdb
import polars as pl
import pytest

from pipeline.errors import WarehouseError
from pipeline.settings import Settings
from pipeline.warehouse import connect


@pytest.fixture
def los_angeles() -> Iterator[None]:
    """The process's local zone is US Pacific (DuckDB takes its session zone from it)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    yield
    if before is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = before
    time.tzset()


@pytest.fixture
def gold_sessions(settings: Settings) -> Settings:
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema gold")
        con.execute(
            "create table gold.fact_user_sessions as "
            "select timestamptz '2019-10-01 00:00:04+00' as session_start"
        )
    return settings


def test_timestamps_come_back_in_utc_whatever_the_local_zone(gold_sessions, los_angeles):
    wh = connect(gold_sessions)
    frame = wh.query(
        "select session_start, strftime(session_start, '%Y-%m-%d %H:%M') as shown, "
        "current_setting('TimeZone') as zone from gold.fact_user_sessions"
    )
    assert frame.schema["session_start"] == pl.Datetime("us", "UTC")
    assert frame.row(0) == (
        dt.datetime(2019, 10, 1, 0, 0, 4, tzinfo=dt.UTC),
        "2019-10-01 00:00",  # not 2019-09-30 17:00 (PDT)
        "UTC",
    )
    with wh.connect() as con:  # the write connection (bronze loads) too
        assert con.execute("select current_setting('TimeZone')").fetchone() == ("UTC",)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("select * from gold.dim_users", r"gold\.dim_users does not exist .*`ecom warehouse`"),
        ("select count(*) from silver.stg_events", r"silver\.stg_events does not exist"),
        ("select * from bronze.events", r"bronze\.events does not exist .*`ecom ingest`"),
        ("select * from gold.cart_session_scores", r"gold\.cart_session_scores .*`ecom score`"),
    ],
)
def test_a_missing_table_or_schema_names_it_and_the_stage_to_run(gold_sessions, sql, message):
    with pytest.raises(WarehouseError, match=message):
        connect(gold_sessions).query(sql)


def test_a_missing_warehouse_file_says_to_ingest(settings):
    with pytest.raises(WarehouseError, match="ecom ingest"):
        connect(settings).query("select 1")
