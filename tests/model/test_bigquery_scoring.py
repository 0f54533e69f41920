"""A locally trained model on BigQuery: `predict_abandonment` as a GoogleSQL function in the
gold dataset equals the booster on every kind of input, and `ecom score` installs it and builds
gold.cart_session_scores with it, on the BigQuery emulator (bqemulator: real REST API on
loopback; it runs the SQL through DuckDB, so GoogleSQL validity is the analyzer's to check)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.model.sql_scoring import (
    GROUP_MACRO_NAME,
    MACRO_NAME,
    MODEL_ID_MACRO_NAME,
    bigquery_function_sql,
    install_bigquery_functions,
    score_warehouse,
)
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES, GROUP_CODES
from pipeline.settings import Settings
from pipeline.warehouse.bigquery import BigQueryWarehouse
from tests.model.conftest import cart_sessions, design_matrix
from tests.model.scoring_inputs import as_table, booster_predict, hard_inputs, train_with_missing
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)

pytestmark = pytest.mark.emulator
TOLERANCE = 1e-6


def load_table(settings: Settings, name: str, table: pa.Table) -> str:
    """Load an Arrow table into the gold dataset through a Parquet load job (NaN stays NaN,
    NULL stays NULL, infinities and 1e39 stay as they are); its SQL name."""
    from google.cloud import bigquery

    types = {
        pa.int64(): "INT64",
        pa.float64(): "FLOAT64",
        pa.string(): "STRING",
        pa.bool_(): "BOOL",
    }
    schema = [
        bigquery.SchemaField(
            f.name, "TIMESTAMP" if pa.types.is_timestamp(f.type) else types[f.type]
        )
        for f in table.schema
    ]
    table_id = f"{EMULATOR_PROJECT}.{settings.bq_gold_dataset}.{name}"
    client = BigQueryWarehouse(settings).client
    client.delete_table(table_id, not_found_ok=True)
    client.create_table(bigquery.Table(table_id, schema=schema))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(source_format="PARQUET", schema=schema)
    client.load_table_from_file(buffer, table_id, job_config=config, rewind=True).result()
    return f"`{table_id}`"


@pytest.fixture(scope="module")
def bq(bq_emulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:  # noqa: F811
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("bq_scoring") / "data",
        warehouse="bigquery",
        gcp_project=EMULATOR_PROJECT,
        bq_api_endpoint=bq_emulator,
        bq_bronze_dataset="sc_bronze",
        bq_silver_dataset="sc_silver",
        bq_gold_dataset="sc_gold",
    )
    BigQueryWarehouse(settings).ensure_datasets()
    yield settings


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> artifact.LoadedModel:
    """Trained with missing values; few trees, as the emulator transpiles the function's SQL
    slowly (the real 100-tree function is exercised by the DuckDB tests' per-tree form)."""
    folder = train_with_missing(
        tmp_path_factory.mktemp("bq_model") / "m", rows=2000, n_estimators=12, max_depth=3
    )
    return artifact.load_model(folder)


def test_function_equals_the_booster_on_every_kind_of_input(bq: Settings, small_model):
    install_bigquery_functions(bq, small_model)
    X = hard_inputs(small_model, design_matrix(cart_sessions(150, seed=4)))
    inputs = load_table(bq, "scoring_inputs", as_table(X, null_share=0.33))
    gold = f"{EMULATOR_PROJECT}.{bq.bq_gold_dataset}"
    client = BigQueryWarehouse(bq).client
    counts = client.query(
        f"select countif(is_nan(session_duration_minutes)) as nan, "
        f"countif(session_duration_minutes is null) as null from {inputs}"
    ).result()
    assert all(v > 0 for v in next(iter(counts)).values()), "real NaN doubles and NULLs"
    result = client.query(
        f"select i, `{gold}.{MACRO_NAME}`({', '.join(FEATURES)}) as p, "
        f"`{gold}.{MODEL_ID_MACRO_NAME}`() as model_id from {inputs} order by i"
    ).result()
    rows = list(result)
    got = np.array([r["p"] for r in rows], dtype=float)
    assert got.shape == (X.shape[0],) and not np.isnan(got).any()
    assert np.abs(got - booster_predict(small_model, X)).max() < TOLERANCE
    assert np.abs(got - small_model.predict_matrix(X)).max() < TOLERANCE
    assert {r["model_id"] for r in rows} == {small_model.model_id}
    codes = client.query(
        f"select `{gold}.{GROUP_MACRO_NAME}`('Treatment') as t, "
        f"`{gold}.{GROUP_MACRO_NAME}`('control') as c"
    ).result()
    assert [tuple(r.values()) for r in codes] == [
        (GROUP_CODES["treatment"], GROUP_CODES["control"])
    ]


def test_function_text_is_one_create_statement(small_model):
    sql = bigquery_function_sql(small_model, "my-project.cosmetics_gold")
    assert sql.startswith(
        f"create or replace function `my-project.cosmetics_gold.{MACRO_NAME}`("
        "total_views FLOAT64, total_carts FLOAT64, session_duration_minutes FLOAT64, "
        "experiment_group FLOAT64)\nreturns FLOAT64\nas ("
    )
    assert sql.count(";") == 0 and "cast(" not in sql.lower()  # no FLOAT cast: edges instead
    assert "is_nan(" in sql and "isnan(" not in sql.replace("is_nan(", "")


def cart_sessions_table(data: dict) -> pa.Table:
    """`cart_sessions` data typed as the dbt model builds gold.fct_cart_sessions."""
    return pa.table(
        {
            "session_id": pa.array(list(data["session_id"]), pa.string()),
            "user_id": pa.array(np.asarray(data["user_id"], dtype=np.int64)),
            "experiment_group": pa.array(list(data["experiment_group"]), pa.string()),
            "session_start": pa.array(
                np.array(data["session_start"], dtype="datetime64[us]"), pa.timestamp("us", "UTC")
            ),
            "session_month": pa.array(list(data["session_month"]), pa.string()),
            "total_views": pa.array(np.asarray(data["total_views"], dtype=np.int64)),
            "total_carts": pa.array(np.asarray(data["total_carts"], dtype=np.int64)),
            "session_duration_minutes": pa.array(
                np.asarray(data["session_duration_minutes"], dtype=np.float64), from_pandas=True
            ),
            "abandoned_cart": pa.array(np.asarray(data["abandoned_cart"], dtype=bool)),
        }
    )


def test_ecom_score_on_bigquery_installs_the_function_and_scores(bq: Settings, small_model):
    data = cart_sessions(120, seed=9)
    load_table(bq, "fct_cart_sessions", cart_sessions_table(data))
    run = score_warehouse(bq, small_model.path)
    assert run.scorer == "sql" and run.model_id == small_model.model_id
    score_warehouse(bq, small_model.path)  # again: replaces its own rows, no duplicates
    wh = BigQueryWarehouse(bq)
    frame = wh.query(
        "select session_id, model_id, abandonment_probability, scored_at from "
        f"{wh.table('gold', 'cart_session_scores')} order by session_id"
    )
    assert frame.height == 120 and frame["session_id"].n_unique() == 120
    assert set(frame["model_id"]) == {small_model.model_id}
    assert frame["scored_at"].null_count() == 0
    order = np.argsort(np.array(data["session_id"]))
    X = design_matrix(data)[order]
    got = frame["abandonment_probability"].to_numpy()
    assert np.abs(got - small_model.predict_matrix(X)).max() < TOLERANCE
