"""gold.experiment_results through the warehouse interface on both engines (DuckDB, and the
BigQuery emulator under CI): the same rows in, the same rows back; a re-run of a run replaces
its rows in one transaction, other runs and experiments stay; a failed write keeps them all."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.abtest import ReadoutConfig, compute_readout, report, results
from pipeline.errors import InputError
from pipeline.experiment.config import read_experiments
from pipeline.settings import EXPERIMENTS_FILE, Settings
from pipeline.warehouse import connect
from tests.abtest.abtest_gold import simulate, write_gold
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)

_datasets = itertools.count()


@pytest.fixture(scope="module")
def rows(tmp_path_factory) -> pl.DataFrame:
    """One readout's rows (a small simulated experiment read out on DuckDB)."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("results_rows") / "data")
    write_gold(simulate(1_500, seed=4), settings.warehouse_path)
    spec = read_experiments(EXPERIMENTS_FILE).get("checkout")
    readout = compute_readout(connect(settings), ReadoutConfig(), spec)
    at = datetime(2024, 5, 1, 12, tzinfo=UTC)
    return results.frame(results.rows(report.document(readout), at))


@pytest.fixture(params=["duckdb", "bigquery"])
def warehouse(request, settings: Settings):
    if request.param == "duckdb":
        return connect(settings)
    endpoint = request.getfixturevalue("bq_emulator")
    n = next(_datasets)
    wh = connect(
        settings.model_copy(
            update={
                "warehouse": "bigquery",
                "gcp_project": EMULATOR_PROJECT,
                "bq_api_endpoint": endpoint,
                "bq_bronze_dataset": f"r{n}_bronze",
                "bq_silver_dataset": f"r{n}_silver",
                "bq_gold_dataset": f"r{n}_gold",
            }
        )
    )
    wh.ensure_datasets()  # dbt makes gold before any readout; here nothing else does
    return wh


def read(wh) -> pl.DataFrame:
    found = wh.query(f"select * from {wh.table('gold', results.TABLE)}")
    return found.select(results.RESULTS_SCHEMA.names()).sort(list(results.KEY))


def put(wh, frame: pl.DataFrame) -> int:
    key, run = frame["experiment_key"][0], frame["run_id"][0]
    match = {"experiment_key": key, "run_id": run}
    return wh.replace_rows("gold", results.TABLE, results.RESULTS_SCHEMA, frame, match)


def test_rows_round_trip_and_a_rerun_replaces_only_its_own(warehouse, rows) -> None:
    wh = warehouse
    assert put(wh, rows) == rows.height
    assert_frame_equal(read(wh), rows.sort(list(results.KEY)), check_exact=False, rel_tol=1e-12)
    other_run = rows.with_columns(run_id=pl.lit("20200101T000000Z-00000000"))
    other_experiment = rows.with_columns(experiment_key=pl.lit("aa-standing"))
    put(wh, other_run)
    put(wh, other_experiment)
    rerun = rows.head(10).with_columns(decision=pl.lit("investigate"))
    assert put(wh, rerun) == 10  # the run now has the rerun's rows only
    found = read(wh)
    assert found.height == 10 + 2 * rows.height
    assert set(found.filter(pl.col("run_id") == rows["run_id"][0])["decision"]) >= {"investigate"}
    assert found.filter(pl.col("experiment_key") == "aa-standing").height == rows.height


def test_a_failed_write_keeps_the_previous_rows(warehouse, rows) -> None:
    wh = warehouse
    put(wh, rows)
    # A frame missing a column of the table cannot be written: nothing changes.
    with pytest.raises(InputError, match="lack columns"):
        wh.replace_rows(
            "gold",
            results.TABLE,
            results.RESULTS_SCHEMA,
            rows.drop("decision"),
            {"experiment_key": "checkout", "run_id": rows["run_id"][0]},
        )
    assert read(wh).height == rows.height
    with pytest.raises(ValueError, match="not plain text"):
        wh.replace_rows(
            "gold", results.TABLE, results.RESULTS_SCHEMA, rows, {"run_id": "x' or '1'='1"}
        )
