"""The real upstream: generated CSVs, ingested into bronze, then the dbt build on top."""

from __future__ import annotations

import polars as pl

from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.build import build_warehouse
from tests.oracles.polars_sessions import DEDUP_KEY


def test_generated_and_ingested_data_builds_and_reconciles(settings: Settings) -> None:
    generate(settings.raw_dir, scale=0.002, seed=5, months=("2019-Oct", "2019-Nov"))
    manifests = ingest(settings)
    result = build_warehouse(settings)
    assert {n.status for n in result.nodes} <= {"success", "pass"}

    wh = connect(settings)
    bronze = wh.query("select * from bronze.events")
    assert bronze.height == sum(m.rows_written for m in manifests)
    kept = bronze.filter(pl.col("user_session").is_not_null()).unique(subset=list(DEDUP_KEY))
    counts = wh.query(
        "select (select count(*) from silver.stg_events) as silver, "
        "(select sum(event_count) from gold.fact_user_sessions) as in_sessions, "
        "(select count(*) from gold.dim_users) as users, "
        "(select count(*) from gold.fct_experiment_users where experiment_key = 'checkout') "
        "as experiment_users"
    ).row(0, named=True)
    assert counts["silver"] == kept.height < bronze.height  # the generator writes duplicates
    assert counts["in_sessions"] == counts["silver"]
    assert counts["users"] == counts["experiment_users"] == kept["user_id"].n_unique()
