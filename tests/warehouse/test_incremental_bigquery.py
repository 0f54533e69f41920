"""Incremental builds on BigQuery (the emulator) equal a full refresh: the same steps as on
DuckDB (tests/warehouse/incremental_cases.py), through the real ingestion, load jobs and
dbt-bigquery's insert_overwrite of the window's day partitions. The emulator runs what
BigQuery would be sent; that BigQuery accepts it is tests/bigquery's analyzer's part."""

from __future__ import annotations

import functools
from datetime import date

import pytest

from pipeline.settings import Settings
from pipeline.warehouse.build import build_warehouse
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)
from tests.warehouse.incremental_cases import (
    STEPS,
    Done,
    assert_checkpoint_equals_full_refresh,
    first_rebuilt_day,
    run_steps,
    write_raw,
)

pytestmark = pytest.mark.emulator


@pytest.fixture(scope="module")
def steps(
    tmp_path_factory: pytest.TempPathFactory,
    bq_emulator: str,  # noqa: F811
) -> tuple[Settings, dict[str, Done]]:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        data_dir=tmp_path_factory.mktemp("incremental_bq") / "data",
        warehouse="bigquery",
        gcp_project=EMULATOR_PROJECT,
        bq_api_endpoint=bq_emulator,
        bq_location="US",
        bq_bronze_dataset="inc_bronze",
        bq_silver_dataset="inc_silver",
        bq_gold_dataset="inc_gold",
    )
    write_raw(settings.raw_dir)
    # The models only (each data test is a query job on the emulator): DuckDB's run of the
    # same steps runs them, and the analyzer test checks their BigQuery SQL.
    models_only = functools.partial(build_warehouse, data_tests=False)
    return settings, {done.step.label: done for done in run_steps(settings, models_only)}


def test_each_step_builds_as_planned(steps) -> None:
    _, done = steps
    assert [d.result.plan.mode for d in done.values()] == [s.mode for s in STEPS]
    assert first_rebuilt_day(done["February before January"]) == date(2020, 2, 1)
    assert first_rebuilt_day(done["January after February"]) <= date(2019, 12, 31)


@pytest.mark.parametrize("label", [s.label for s in STEPS if s.checkpoint])
def test_every_table_equals_a_full_refresh(steps, label: str) -> None:
    _, done = steps
    assert_checkpoint_equals_full_refresh(
        done[label],
        {
            "silver.stg_events",
            "silver.int_session_events",
            "gold.fact_user_sessions",
            "gold.fct_cart_moments",
            "gold.dim_users",
        },
    )


def test_the_window_is_written_with_insert_overwrite(steps) -> None:
    """dbt-bigquery replaced the window's day partitions, every day listed, in one MERGE."""
    _, done = steps
    step = done["January after February"]
    plan = step.result.plan
    sql = " ".join(step.int_session_events_sql.lower().split())
    assert "merge into" in sql and "when not matched by source" in sql
    days = (plan.rebuild_until - plan.rebuild_from).days + 1
    listed = sql.split("timestamp_trunc(dbt_internal_dest.event_time, day) in (")[1].split(")")[0]
    assert listed.count("timestamp '") == days
    assert f"timestamp '{plan.rebuild_from} 00:00:00+00'" in listed
