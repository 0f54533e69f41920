"""Drift and the model card's injected-purchase count read BigQuery as they read DuckDB: the
same gold rows loaded into the emulator give the same report and the same counts."""

from __future__ import annotations

import io

import duckdb
import polars as pl
import pytest

from pipeline.drift import run_drift
from pipeline.model.gold import injected_purchase_share
from pipeline.settings import Settings
from pipeline.warehouse.bigquery import BigQueryWarehouse, bq_schema
from tests.model.conftest import cart_sessions, write_warehouse
from tests.model.test_card import write_sessions_table
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.emulator
MONTHS = ("2019-10", "2019-11", "2019-12", "2020-01")


def upload(wh: BigQueryWarehouse, name: str, frame: pl.DataFrame) -> None:
    from google.cloud import bigquery

    table_id = wh.table_id("gold", name)
    wh.client.create_table(bigquery.Table(table_id, bq_schema(frame.schema)))
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.PARQUET, schema=bq_schema(frame.schema)
    )
    wh.client.load_table_from_file(buffer, table_id, job_config=config).result()


def test_drift_and_injected_counts_agree_on_both_engines(trained, settings, bq_emulator):  # noqa: F811
    duck = settings.model_copy(update={"models_dir": trained.settings.models_dir})
    write_warehouse(duck.warehouse_path, cart_sessions(2500, seed=51, months=MONTHS))
    write_sessions_table(duck.warehouse_path, cart_sessions(2500, seed=51, months=MONTHS), 5)
    bq = duck.model_copy(
        update={
            "warehouse": "bigquery",
            "gcp_project": EMULATOR_PROJECT,
            "bq_api_endpoint": bq_emulator,
            "bq_gold_dataset": "drift_gold",
            "data_dir": settings.data_dir / "bq",
        }
    )
    wh = BigQueryWarehouse(bq)
    wh.client.create_dataset(f"{EMULATOR_PROJECT}.drift_gold", exists_ok=True)
    with duckdb.connect(str(duck.warehouse_path), read_only=True) as con:
        for name in ("fct_cart_sessions", "fact_user_sessions"):
            upload(wh, name, con.sql(f"select * from gold.{name}").pl())

    assert injected_purchase_share(bq, "2019-12") == injected_purchase_share(duck, "2019-12")
    on_duckdb = run_drift(duck).summary.to_dict()
    on_bigquery = run_drift(bq).summary.to_dict()
    assert [s["label"] for s in on_bigquery["slices"]] == ["2020-01"]  # after the window
    for left, right in zip(on_duckdb["slices"], on_bigquery["slices"], strict=True):
        assert left["rows"] == right["rows"] > 0
        assert left["columns"] == right["columns"]
    assert (Settings(data_dir=bq.data_dir).drift_dir / "latest.json").exists()
