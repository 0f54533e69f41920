"""The scale-out run on emulators equals the embedded run: every gold table, every number of
the readout and of the model card.

What this proves and what it cannot: bqemulator runs BigQuery SQL by transpiling it to DuckDB
(sqlglot), so equality shows the BigQuery SQL computes what the DuckDB SQL computes, through the
real clients, load jobs from GCS and dbt-bigquery. It accepts SQL real BigQuery refuses and
drops partitioning and clustering from DDL: that half is test_zetasql_statements.py's.
"""

from __future__ import annotations

import io
import math
from typing import Any

import polars as pl
import pytest
from google.auth.credentials import AnonymousCredentials
from polars.testing import assert_frame_equal

from pipeline.serving.registry import resolve
from pipeline.settings import Settings
from pipeline.warehouse import connect
from tests.bigquery.cloud_run import BUCKET, LAKE_URI, CloudRun, read_json

pytestmark = pytest.mark.emulator

# Fields that describe the run, not the data: where files went, when, which engine and how long.
RUN_FIELDS = frozenset(
    {
        "generated_at",
        "trained_at",
        "created_at",
        "promoted_at",
        "elapsed_seconds",
        "seconds",
        "timings",
        "timings_seconds",
        "path",
        "paths",
        "model_dir",
        "warehouse",
        "engine_target",
        "versions",
        "library_versions",
        "data_dir",
    }
)


def settings_of(run: Any) -> Settings:
    return Settings(
        _env_file=None,
        **{  # type: ignore[call-arg]
            k.removeprefix("ECOM_").lower(): v for k, v in run.env.items() if k.startswith("ECOM_")
        },
    )


def gold_tables(settings: Settings) -> list[str]:
    """Every gold table of the DuckDB build (readout and scoring models included when built)."""
    wh = connect(settings)
    return wh.query(
        "select table_name from information_schema.tables where table_schema = 'gold' "
        "order by table_name"
    )["table_name"].to_list()


# Columns that say when a row was made, not what it holds (each path scored and read out at
# its own time).
RUN_COLUMNS = frozenset({"scored_at", "written_at"})


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    frame = frame.select(sorted(c for c in frame.columns if c not in RUN_COLUMNS)).with_columns(
        pl.col(pl.Datetime).dt.convert_time_zone("UTC")
    )
    keys = [c for c, t in frame.schema.items() if not t.is_float()]
    return frame.sort(keys, nulls_last=True)


def strip_run_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_run_fields(v) for k, v in value.items() if k not in RUN_FIELDS}
    if isinstance(value, list):
        return [strip_run_fields(v) for v in value]
    return value


def assert_same_numbers(got: Any, expected: Any, where: str = "") -> None:
    """Equal structure and text; numbers equal to 1e-9 relative (float sums reorder)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(expected), where
        for key in expected:
            assert_same_numbers(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), where
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            assert_same_numbers(g, e, f"{where}[{i}]")
    elif isinstance(expected, float) and not isinstance(expected, bool):
        assert isinstance(got, int | float), where
        assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-12), (where, got, expected)
    else:
        assert got == expected, (where, got, expected)


def test_every_gold_table_equals_the_duckdb_path(cloud: CloudRun) -> None:
    local, bigquery = settings_of(cloud.local), settings_of(cloud.cloud)
    tables = gold_tables(local)
    assert {
        "fact_user_sessions",
        "dim_users",
        "fct_cart_sessions",
        "fct_experiment_users",
        "fct_cart_moments",
        "cart_session_scores",
        "experiment_results",  # written by `ecom abtest` through the warehouse interface
    } <= set(tables)
    duck, bq = connect(local), connect(bigquery)
    for name in tables:
        expected = canonical(duck.query(f"select * from {duck.table('gold', name)}"))
        got = canonical(bq.query(f"select * from {bq.table('gold', name)}"))
        assert expected.height > 0, f"{name} is empty: the comparison would prove nothing"
        assert got.columns == expected.columns, name
        # Scores: DuckDB reads xgboost's margins from a lookup table, BigQuery sums the trees
        # in FLOAT64; both equal the booster to 1e-6 (the scoring contract), not to 1e-9.
        tolerance = 1e-6 if name == "cart_session_scores" else 1e-9
        assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=tolerance)


@pytest.mark.parametrize("experiment", ["checkout", "aa-standing"])
def test_the_readout_equals_the_duckdb_path(cloud: CloudRun, experiment: str) -> None:
    paths = [
        run.data_dir / "reports" / "abtest" / experiment / "readout.json"
        for run in (cloud.local, cloud.cloud)
    ]
    expected, got = (strip_run_fields(read_json(p)) for p in paths)
    assert_same_numbers(got, expected)
    # and it found something: the headline numbers are there, not an empty readout
    assert cloud.cloud.outputs["abtest"].strip()


def test_the_model_card_equals_the_duckdb_path(cloud: CloudRun) -> None:
    cards = [
        read_json(resolve(run.data_dir / "models") / "model_card.json")
        for run in (cloud.local, cloud.cloud)
    ]
    expected, got = (strip_run_fields(card) for card in cards)
    assert_same_numbers(got, expected)
    # Same training rows in the same order: the content-hash id is the same model.
    assert cards[0]["model_id"] == cards[1]["model_id"]


def test_the_lake_is_in_the_bucket_and_bronze_came_from_it(cloud: CloudRun) -> None:
    """Ingestion wrote the month partitions to GCS; BigQuery bronze holds exactly those rows."""
    import os

    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = cloud.storage_endpoint
    try:
        client = storage.Client(project="emulator", credentials=AnonymousCredentials())
        prefix = LAKE_URI.removeprefix(f"gs://{BUCKET}/") + "/events/"
        blobs = [b for b in client.list_blobs(BUCKET, prefix=prefix) if b.name.endswith(".parquet")]
        lake = pl.concat([pl.read_parquet(io.BytesIO(b.download_as_bytes())) for b in blobs])
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)
    assert {b.name.split("/")[-2] for b in blobs} == {"month=2019-10", "month=2019-11"}
    bronze = connect(settings_of(cloud.cloud)).query(
        f"select * from {connect(settings_of(cloud.cloud)).table('bronze', 'events')}"
    )
    assert bronze.height == lake.height > 0
    assert_frame_equal(canonical(bronze), canonical(lake.select(bronze.columns)))


def test_the_bronze_load_was_a_load_job_from_the_bucket(cloud: CloudRun) -> None:
    from google.cloud import bigquery

    client = bigquery.Client(
        project="ecom-emulator",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": cloud.bigquery_endpoint},
    )
    loads = [j for j in client.list_jobs(max_results=1000) if j.job_type == "load"]
    uris = {u for j in loads for u in (j.source_uris or [])}
    assert any(u.startswith(f"gs://{BUCKET}/lake/events/month=") for u in uris), uris


def emulator_client(cloud: CloudRun):
    from google.cloud import bigquery

    return bigquery.Client(
        project="ecom-emulator",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": cloud.bigquery_endpoint},
    )


def test_every_query_carries_the_byte_cap(cloud: CloudRun) -> None:
    """The Python side's jobs and dbt's profile both take ECOM_BQ_MAXIMUM_BYTES_BILLED. (The
    emulator does not record the field, so this reads what each side would send.)"""
    import yaml

    from pipeline.settings import DBT_PROJECT_DIR
    from pipeline.warehouse.bigquery import BigQueryWarehouse
    from pipeline.warehouse.build import dbt_env

    settings = settings_of(cloud.cloud).model_copy(update={"bq_maximum_bytes_billed": 12345})
    assert BigQueryWarehouse(settings).job_config().maximum_bytes_billed == 12345
    assert dbt_env(settings)["ECOM_BQ_MAXIMUM_BYTES_BILLED"] == "12345"
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())
    rendered = profile["ecom_growth"]["outputs"]["bigquery"]["maximum_bytes_billed"]
    assert "env_var('ECOM_BQ_MAXIMUM_BYTES_BILLED'" in rendered


def test_dry_run_prices_every_model_and_builds_nothing(cloud: CloudRun) -> None:
    """`ecom warehouse --dry-run` on the built datasets: one line per model, priced from dry-run
    jobs, and nothing is rebuilt. (The emulator prices everything at 0 bytes and executes each
    dry run's SELECT; real BigQuery reports the bytes: docs/how-to/run-on-google-cloud.md.)"""
    from tests.bigquery.cloud_run import ecom

    client = emulator_client(cloud)
    gold = settings_of(cloud.cloud).bq_gold_dataset

    def modified() -> dict[str, object]:
        return {t.table_id: client.get_table(t).modified for t in client.list_tables(gold)}

    before = modified()
    # Models only here; without --select the data tests are priced too.
    output = ecom(
        ("warehouse", "--dry-run", "--select", "resource_type:model"),
        cloud.cloud.env,
        cloud.cloud.data_dir,
    )
    for model in ("stg_events", "fact_user_sessions", "dim_users", "fct_cart_sessions"):
        assert f"model {model}" in output, output
    assert "via upstream SQL" not in output  # every upstream table exists
    assert "nothing billed" in output and "total" in output
    assert modified() == before


def test_a_first_runs_dry_run_reads_through_the_upstream_sql(cloud: CloudRun) -> None:
    """Before silver exists, gold's dry run inlines silver's compiled SQL (so the estimate reads
    bronze, as the real build would), and still builds nothing."""
    from pipeline.warehouse.bigquery import BigQueryWarehouse
    from pipeline.warehouse.dry_run import dry_run_warehouse

    settings = settings_of(cloud.cloud).model_copy(
        update={
            "bq_silver_dataset": "dry_silver",
            "bq_gold_dataset": "dry_gold",
            "data_dir": cloud.cloud.data_dir / "dry",
        }
    )
    result = dry_run_warehouse(settings, "fact_user_sessions")
    models = [line for line in result.lines if line.resource_type == "model"]
    assert [m.name for m in models] == ["fact_user_sessions"]  # and its tests
    assert models[0].via_upstream_sql
    assert result.total_bytes == 0 and result.total_usd == 0.0  # the emulator prices 0
    client = BigQueryWarehouse(settings).client
    assert not {"dry_silver", "dry_gold"} & {d.dataset_id for d in client.list_datasets()}
