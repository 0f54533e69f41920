"""The dashboard's SQL on BigQuery: the same gold tables loaded into the emulator (real REST,
google-cloud-bigquery) answer every query as DuckDB does.

The emulator transpiles to DuckDB, so this proves the BigQuery dialect's forms are accepted and
compute the same, not everything real BigQuery would refuse (DESIGN.md's caveats).
"""

from __future__ import annotations

import io
import uuid
from datetime import date

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.abtest import ReadoutConfig
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.bigquery import bq_schema
from streamlit_app.data import metrics, queries
from streamlit_app.data.experiments import selected
from streamlit_app.data.filters import Filters
from tests.app.conftest import Pipeline
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)

pytestmark = pytest.mark.emulator

FILTERS = [
    Filters(),
    Filters(
        start=date(2019, 11, 3),
        end=date(2020, 2, 10),
        months=("2019-12", "2020-01", "2020-02"),
        user_type="returning",
        price_bands=("under_2", "5_to_10", "10_plus", "no_cart"),
    ),
]


@pytest.fixture(scope="module")
def engines(pipeline_run: Pipeline, bq_emulator: str, tmp_path_factory):  # noqa: F811
    """(DuckDB warehouse, BigQuery warehouse) holding the same gold table."""
    gold = f"app_gold_{uuid.uuid4().hex[:8]}"
    bq = Settings(
        data_dir=tmp_path_factory.mktemp("bq") / "data",
        warehouse="bigquery",
        gcp_project=EMULATOR_PROJECT,
        bq_api_endpoint=bq_emulator,
        bq_gold_dataset=gold,
    )
    wh = connect(bq)
    from google.cloud import bigquery

    wh.client.create_dataset(bigquery.Dataset(f"{EMULATOR_PROJECT}.{gold}"), exists_ok=True)
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        for table in ("fct_experiment_users", "fct_cart_sessions", "cart_session_scores"):
            frame = con.sql(f"select * from gold.{table}").pl()
            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            buffer.seek(0)
            schema = [
                bigquery.SchemaField(name, "DATE")
                if dtype == pl.Date
                else bq_schema(pl.Schema({name: dtype}))[0]
                for name, dtype in frame.schema.items()
            ]
            config = bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET, schema=schema
            )
            wh.client.load_table_from_file(
                buffer, wh.table_id("gold", table), job_config=config
            ).result()
    return connect(pipeline_run.settings), wh


def canonical(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Rows in one order, integers of one width, timestamps in UTC (each engine's own types)."""
    frame = frame.sort(keys, nulls_last=True) if keys else frame
    return frame.with_columns(
        pl.col(pl.Int32).cast(pl.Int64),
        pl.col(pl.Datetime).dt.replace_time_zone(None),
        pl.col(pl.Date).cast(pl.Date),
    )


@pytest.mark.parametrize("f", FILTERS, ids=["all", "combined"])
def test_every_query_answers_the_same_on_both_engines(
    engines, pipeline_run: Pipeline, f: Filters
) -> None:
    duck, bq = engines
    keys = {
        "totals": ["population", "experiment_group"],
        "window": [],
        "weekly": ["experiment_group", "week_seen", "week_converted"],
        "segments": ["dimension", "segment", "experiment_group"],
        "sample_ratio": ["dimension", "segment", "experiment_group"],
        "carts": ["carts"],
        "bands": ["segment", "experiment_group"],
        "funnel": ["experiment_group"],
        "daily": ["experiment_group", "first_cart_day"],
    }
    checkout = selected(pipeline_run.settings, "checkout")
    duck_sql = queries.page_queries(duck, f, checkout.spec)
    bq_sql = queries.page_queries(bq, f, checkout.spec)
    assert set(duck_sql) == set(keys)
    assert "`ecom-emulator." in bq_sql["daily"] and "unix_micros" in bq_sql["daily"]
    for name, by in keys.items():
        expected = canonical(duck.query(duck_sql[name]), by)
        actual = canonical(bq.query(bq_sql[name]), by)
        assert actual.height == expected.height > 0, name
        assert_frame_equal(actual, expected, check_dtypes=False, rel_tol=1e-9)
    bounds = [
        metrics.bounds_from_frame(w.query(queries.bounds_sql(w, "checkout"))) for w in (duck, bq)
    ]
    assert bounds[0] == bounds[1]
    pages = [metrics.load_dashboard(w, f, ReadoutConfig(), checkout) for w in (duck, bq)]
    assert pages[0].readout.verdict == pages[1].readout.verdict
    assert {g: (k.users, k.exposed, k.converters) for g, k in pages[0].kpis.items()} == {
        g: (k.users, k.exposed, k.converters) for g, k in pages[1].kpis.items()
    }


def test_realized_outcomes_answer_the_same_on_both_engines(engines, pipeline_run: Pipeline) -> None:
    """Monitoring's realized ROC-AUC, Brier and calibration (sql/monitoring/realized.sql)."""
    from pipeline.serving import registry
    from streamlit_app.data import realized

    duck, bq = engines
    model_id = registry.current_id(pipeline_run.settings.models_dir)
    thresholds = {"medium": 0.5, "high": 0.8}
    duck_sql = realized.realized_queries(duck, model_id, "2020-01", thresholds)
    bq_sql = realized.realized_queries(bq, model_id, "2020-01", thresholds)
    assert "`ecom-emulator." in bq_sql["weeks"] and "unix_micros" in bq_sql["weeks"]
    for name in duck_sql:
        expected = canonical(duck.query(duck_sql[name]), ["slice"])
        actual = canonical(bq.query(bq_sql[name]), ["slice"])
        assert actual.height == expected.height > 0, name
        assert_frame_equal(actual, expected, check_dtypes=False, rel_tol=1e-9)
