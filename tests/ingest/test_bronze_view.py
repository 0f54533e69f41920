"""With a local lake, bronze.events is a typed DuckDB view over the lake's Parquet."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
from polars.testing import assert_frame_equal

from pipeline.ingest import ingest
from tests.ingest.conftest import synthetic_lines
from tests.ingest.test_bronze_and_samples import EXPECTED_TYPES


def bronze_kind_and_types(db: Path) -> tuple[str, dict[str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        (kind,) = con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = 'bronze' and table_name = 'events'"
        ).fetchone()
        types = dict(
            con.execute("select column_name, column_type from (describe bronze.events)").fetchall()
        )
    return kind, types


def test_bronze_events_is_a_view_of_exactly_the_lake(settings, raw_month):
    raw_month(synthetic_lines(400, seed=4))
    raw_month(synthetic_lines(300, seed=5, month="2019-Nov"), month="2019-Nov")
    manifests = ingest(settings, ["2019-Oct", "2019-Nov"])
    assert bronze_kind_and_types(settings.warehouse_path) == ("VIEW", EXPECTED_TYPES)
    lake = pl.read_parquet([p for m in manifests for p in m.parts])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        bronze = con.sql("select * from bronze.events").pl()
        (definition,) = con.execute(
            "select sql from duckdb_views() where schema_name = 'bronze' and view_name = 'events'"
        ).fetchone()
    key = ["source_file", "source_line"]
    # DuckDB labels the zone 'Etc/UTC': the same instants, the same rows.
    assert_frame_equal(bronze.cast(dict(lake.schema)).sort(key), lake.sort(key))
    assert [m.rows_loaded for m in manifests] == [400, 300]
    assert str(Path(settings.lake).resolve()) in definition  # absolute: usable from any cwd


def test_an_old_bronze_table_is_replaced_by_the_view(settings, raw_month):
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema bronze")
        con.execute("create table bronze.events as select 'stale.csv' as source_file")
    raw_month(synthetic_lines(50, seed=6))
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert bronze_kind_and_types(settings.warehouse_path) == ("VIEW", EXPECTED_TYPES)
    assert manifest.rows_loaded == 50


def test_before_any_part_exists_the_view_is_empty_but_typed(settings, raw_month):
    raw_month([])
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert manifest.rows_loaded == 0
    assert bronze_kind_and_types(settings.warehouse_path) == ("VIEW", EXPECTED_TYPES)
    raw_month(synthetic_lines(20, seed=8, month="2019-Nov"), month="2019-Nov")
    (november,) = ingest(settings, ["2019-Nov"])  # the next month re-declares it over the lake
    assert november.rows_loaded == 20
