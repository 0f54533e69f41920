"""Incremental builds on DuckDB equal a full refresh (tests/warehouse/incremental_cases.py says
how), and the hand-built users show the boundary cases were really there."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.incremental import BuildRecord, ingested_months
from tests.warehouse.incremental_cases import (
    CHAIN,
    CORRECTED,
    CROSSING,
    EXACT_GAP,
    LABEL_NEXT_MONTH,
    STEPS,
    Done,
    assert_checkpoint_equals_full_refresh,
    first_rebuilt_day,
    run_steps,
    write_raw,
)


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict[str, Done]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("incremental") / "data",
        warehouse="duckdb",
        duckdb_path=None,
    )
    write_raw(settings.raw_dir)
    return settings, {done.step.label: done for done in run_steps(settings)}


def query(settings: Settings, sql: str) -> pl.DataFrame:
    return connect(settings).query(sql)


def test_each_step_builds_as_planned(steps) -> None:
    """The first build is full, every later one incremental, and with nothing ingested since
    the last build nothing runs."""
    _, done = steps
    assert [d.result.plan.mode for d in done.values()] == [s.mode for s in STEPS]
    unchanged = done["nothing new"].result
    assert unchanged.nodes == () and "nothing was ingested" in unchanged.plan.reason
    incremental = [d.result for d in done.values() if d.step.mode == "incremental"]
    # Incremental builds run no unit test (the SQL is the last build's) but every model.
    assert all(r.count("unit_test") == 0 and r.count("model") == 7 for r in incremental)
    assert done["October, into an empty warehouse"].result.count("unit_test") >= 10


def test_the_window_is_deleted_and_inserted(steps) -> None:
    """DuckDB's replace_window strategy: every row from the window's first day goes, then the
    rebuilt rows go in (a day whose rows all went away keeps none)."""
    _, done = steps
    step = done["January after February"]
    sql = " ".join(step.int_session_events_sql.lower().split())
    start = step.result.plan.rebuild_from
    assert f"where event_time >= timestamptz '{start} 00:00:00+00'; insert into" in sql


def test_windows_start_before_what_the_new_month_can_touch(steps) -> None:
    _, done = steps
    # Appending February to October-December: nothing before February can change.
    assert first_rebuilt_day(done["February before January"]) == date(2020, 2, 1)
    # January after February: the New Year's Eve cart's label is in January's file, and the
    # chain session runs from 30 January into February.
    assert first_rebuilt_day(done["January after February"]) <= date(2019, 12, 31)
    assert done["January after February"].result.plan.rebuild_until == date(2020, 2, 29)
    # November re-delivered: the session crossing from 31 October is rebuilt whole.
    redelivered = done["November and January re-delivered"].result.plan
    assert redelivered.changed == ("2019-Nov", "2020-Jan")
    assert redelivered.rebuild_from <= date(2019, 10, 31)


@pytest.mark.parametrize("label", [s.label for s in STEPS if s.checkpoint])
def test_every_table_equals_a_full_refresh(steps, label: str) -> None:
    _, done = steps
    assert_checkpoint_equals_full_refresh(
        done[label],
        {
            "silver.stg_events",
            "silver.int_session_events",
            "gold.fact_user_sessions",
            "gold.fct_cart_sessions",
            "gold.fct_cart_moments",
            "gold.dim_users",
            "gold.fct_experiment_users",
        },
    )


def sessions_of(settings: Settings, user: int) -> pl.DataFrame:
    return query(
        settings,
        "select session_number, session_start, session_end, event_count, total_carts, "
        f"total_purchases from gold.fact_user_sessions where user_id = {user} "
        "order by session_number",
    )


def test_a_session_crossing_a_month_boundary_is_one_session(steps) -> None:
    settings, _ = steps
    crossing = sessions_of(settings, CROSSING)
    assert crossing.height == 1
    assert crossing["event_count"][0] == 5 and crossing["total_purchases"][0] == 1
    assert str(crossing["session_start"][0]).startswith("2019-10-31 23:40:00")
    assert str(crossing["session_end"][0]).startswith("2019-11-01 00:20:00")
    # Its first-cart point is October's last second; the rows know the November events after.
    moments = query(
        settings,
        f"select prediction_point, point_at, views_so_far from gold.fct_cart_moments "
        f"where user_id = {CROSSING} order by point_at",
    )
    assert str(moments["point_at"][0]).startswith("2019-10-31 23:59:59")
    assert "cart_plus_10_minutes" in set(moments["prediction_point"])


def test_the_timeout_is_exact_across_midnight(steps) -> None:
    settings, _ = steps
    sessions = sessions_of(settings, EXACT_GAP)
    assert sessions["event_count"].to_list() == [2, 1]  # 30:00 stays, 30:01 splits
    assert str(sessions["session_end"][0]).startswith("2019-12-01 00:29:59")


def test_a_label_found_in_the_next_month(steps) -> None:
    settings, _ = steps
    rows = query(
        settings,
        "select prediction_point, abandoned, purchased_within_24h from gold.fct_cart_moments "
        f"where user_id = {LABEL_NEXT_MONTH} and prediction_point = 'first_cart'",
    )
    assert rows.rows() == [("first_cart", True, True)]


def test_corrections_and_the_late_event_reached_the_warehouse(steps) -> None:
    settings, _ = steps
    november_15 = query(
        settings,
        "select count(*) as n from silver.int_session_events "
        "where event_time >= timestamptz '2019-11-15 00:00:00+00' "
        "and event_time < timestamptz '2019-11-16 00:00:00+00'",
    )
    assert november_15["n"][0] == 0  # the withdrawn day is empty, not left over
    corrected = sessions_of(settings, CORRECTED)
    assert corrected["event_count"].to_list() == [3] and corrected["total_carts"][0] == 2
    # The late event: quarantined inside February's file, in silver once January brought it.
    quarantined = query(
        settings,
        "select reason from bronze.quarantine where source_file = '2020-Feb.csv' "
        "and raw_line like '2020-01-31 23:59:59 UTC,purchase%'",
    )
    assert quarantined["reason"].to_list() == ["outside_month"]
    chain = sessions_of(settings, CHAIN)
    assert chain.height == 1 and chain["total_purchases"][0] == 1
    assert str(chain["session_start"][0]).startswith("2020-01-30 12:00:00")


def test_the_record_names_the_runs_built_from(steps) -> None:
    settings, _ = steps
    record = BuildRecord.read(settings)
    assert record is not None and record.pending_from is None
    assert {m: b.run_id for m, b in record.months.items()} == {
        m: f.run_id for m, f in ingested_months(settings).items()
    }
    assert set(record.incremental_tables) == {
        "silver.int_session_events",
        "gold.fact_user_sessions",
        "gold.fct_cart_sessions",
        "gold.fct_cart_moments",
    }
