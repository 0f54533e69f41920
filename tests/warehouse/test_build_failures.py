"""A build on bad data fails loudly, with dbt's own message, and builds nothing downstream."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import WarehouseError
from pipeline.experiment import CONTROL, TREATMENT
from pipeline.settings import Settings
from pipeline.warehouse.build import build_warehouse
from tests.warehouse.dbt_sample import bronze_sample, write_bronze


def test_a_failing_data_test_stops_the_build_with_a_clear_error(settings: Settings) -> None:
    bronze = bronze_sample(n_users=30, seed=3)
    # Flip the group of one user's events: the assignment no longer matches md5(user_id).
    victim = bronze["user_id"][0]
    bronze = bronze.with_columns(
        experiment_group=pl.when(pl.col("user_id") == victim)
        .then(
            pl.when(pl.col("experiment_group") == TREATMENT)
            .then(pl.lit(CONTROL))
            .otherwise(pl.lit(TREATMENT))
        )
        .otherwise(pl.col("experiment_group"))
    )
    write_bronze(settings.warehouse_path, bronze)

    result = CliRunner().invoke(app, ["warehouse", "--data-dir", str(settings.data_dir)])

    assert result.exit_code == WarehouseError.exit_code, result.output
    assert "dbt build failed" in result.output
    assert "source_matches_md5_assignment_bronze_events_experiment_group" in result.output
    assert "Got" in result.output  # dbt's own failure message ("Got N results ...")
    assert "rerun `ecom warehouse`" in result.output
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        built = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema = 'gold'"
        ).fetchall()
    assert built == []  # downstream of the failed test, nothing was built


def test_an_unknown_event_type_fails_accepted_values(settings: Settings) -> None:
    bronze = bronze_sample(n_users=20, seed=4)
    bronze = bronze.with_columns(
        event_type=pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit("refund"))
        .otherwise(pl.col("event_type"))
    )
    write_bronze(settings.warehouse_path, bronze)
    with pytest.raises(WarehouseError, match=r"accepted_values_.*event_type") as err:
        build_warehouse(settings, select="source:bronze")
    assert "1 node(s) failed" in str(err.value)


def test_building_without_bronze_says_to_ingest_first(settings: Settings) -> None:
    with pytest.raises(WarehouseError, match="ecom ingest"):
        build_warehouse(settings)
    settings.data_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema bronze")
    with pytest.raises(WarehouseError, match=r"no bronze\.events"):
        build_warehouse(settings)
