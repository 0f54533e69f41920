"""BigQueryWarehouse against a real BigQuery REST server (the emulator) on loopback."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.errors import InputError, WarehouseError
from pipeline.experiment import assign_group
from pipeline.schema import BRONZE_SCHEMA, QUARANTINE_SCHEMA
from pipeline.settings import Settings
from pipeline.warehouse import BronzeLoad, connect
from pipeline.warehouse.bigquery import BigQueryWarehouse
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)

_dataset_ids = itertools.count()


def bronze_events(months: dict[int, int], users: int = 4) -> pl.DataFrame:
    """`n` events in each (2019, month): users cycle, times a minute apart, 19-digit categories."""
    rows = []
    for month, n in months.items():
        year = 2019 if month >= 10 else 2020
        for i in range(n):
            user_id = 500_000_000 + i % users
            at = dt.datetime(year, month, 1, 0, 0, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
            rows.append(
                {
                    "event_time": at,
                    "event_type": ("view", "cart", "purchase")[i % 3],
                    "product_id": 5_800_000 + i,
                    "category_id": 1_487_580_005_092_295_511 + i,  # above 2^53
                    "category_code": None if i % 2 else "beauty.nail",
                    "brand": "runail",
                    "price": 1.25 * i,
                    "user_id": user_id,
                    "user_session": f"s-{user_id}",
                    "experiment_group": assign_group(user_id),
                    "original_event_type": ("view", "cart", "purchase")[i % 3],
                    "is_injected": False,
                    "source_file": f"{at:%Y-%b}.csv",
                    "source_line": i + 2,
                    "ingested_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                }
            )
    return pl.DataFrame(rows, schema=BRONZE_SCHEMA)


@pytest.fixture
def bq_settings(settings: Settings, bq_emulator: str) -> Settings:  # noqa: F811
    """Settings for the emulator, with datasets of their own so tests cannot see each other."""
    n = next(_dataset_ids)
    return settings.model_copy(
        update={
            "warehouse": "bigquery",
            "gcp_project": EMULATOR_PROJECT,
            "bq_api_endpoint": bq_emulator,
            "bq_bronze_dataset": f"t{n}_bronze",
            "bq_silver_dataset": f"t{n}_silver",
            "bq_gold_dataset": f"t{n}_gold",
        }
    )


def read_bronze(wh: BigQueryWarehouse) -> pl.DataFrame:
    return wh.query(f"select * from {wh.table('bronze', 'events')}").sort("event_time")


def test_table_names_are_quoted_project_dataset_table(settings: Settings) -> None:
    wh = connect(settings.model_copy(update={"warehouse": "bigquery", "gcp_project": "my-proj"}))
    assert wh.engine == "bigquery"
    assert wh.table("gold", "dim_users") == "`my-proj.cosmetics_gold.dim_users`"
    assert wh.table("bronze", "events") == "`my-proj.cosmetics_bronze.events`"
    with pytest.raises(WarehouseError, match="Unknown layer"):
        wh.table("platinum", "x")


def test_missing_project_says_what_to_set(settings: Settings) -> None:
    with pytest.raises(WarehouseError, match="ECOM_GCP_PROJECT"):
        BigQueryWarehouse(settings.model_copy(update={"warehouse": "bigquery"}))


def load_by_source_file(wh: BigQueryWarehouse, events: pl.DataFrame) -> dict[str, int]:
    """Load a frame the way ingestion does: one call per source file (month)."""
    loaded = {}
    for (source_file,), part in events.group_by("source_file", maintain_order=True):
        loaded[source_file] = wh.load_bronze(source_file, [part]).events
    return loaded


def quarantine_rows(source_file: str, lines: range) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_file": source_file,
            "source_line": list(lines),
            "raw_line": [f"bad,{n}" for n in lines],
            "reason": "unparsable event_time",
        },
        schema=QUARANTINE_SCHEMA,
    )


@pytest.mark.emulator
def test_load_bronze_round_trips_every_column(bq_settings: Settings) -> None:
    events = bronze_events({10: 7, 11: 5})
    wh = BigQueryWarehouse(bq_settings)

    assert load_by_source_file(wh, events) == {"2019-Oct.csv": 7, "2019-Nov.csv": 5}

    got = read_bronze(wh)
    assert got.schema == BRONZE_SCHEMA
    table = wh.client.get_table(wh.table_id("bronze", "events"))
    # Day partitions on event_time, clustered by source file: a month's reload rewrites only it.
    assert (table.time_partitioning.type_, table.time_partitioning.field) == ("DAY", "event_time")
    assert table.clustering_fields == ["source_file", "user_id"]
    assert_frame_equal(got, events.sort("event_time"))


@pytest.mark.emulator
def test_reloading_a_file_replaces_it_and_leaves_other_files(bq_settings: Settings) -> None:
    wh = BigQueryWarehouse(bq_settings)
    load_by_source_file(wh, bronze_events({10: 6, 11: 4}))
    wh.load_bronze("2019-Oct.csv", [], [quarantine_rows("2019-Oct.csv", range(2, 5))])

    # Re-ingested October is smaller and has one rejected line; November must stay as it was.
    october_again = bronze_events({10: 3})
    rejected = quarantine_rows("2019-Oct.csv", range(9, 10))
    first = wh.load_bronze("2019-Oct.csv", [october_again], [rejected])
    second = wh.load_bronze("2019-Oct.csv", [october_again], [rejected])

    assert first == second == BronzeLoad(events=3, quarantined=1)
    counts = wh.query(
        f"select source_file, count(*) as n from {wh.table('bronze', 'events')} "
        f"group by source_file order by source_file"
    )
    assert counts.rows() == [("2019-Nov.csv", 4), ("2019-Oct.csv", 3)]
    # No staging table is left behind.
    dataset = f"{wh.project}.{bq_settings.bq_bronze_dataset}"
    assert {t.table_id for t in wh.client.list_tables(dataset)} == {"events", "quarantine"}


@pytest.mark.emulator
def test_load_bronze_from_lake_parquet_parts(bq_settings: Settings, tmp_path: Path) -> None:
    events = bronze_events({12: 9})
    lake = tmp_path / "lake" / "events" / "month=2019-12"
    lake.mkdir(parents=True)
    parts = [lake / f"part-{i}.parquet" for i in range(3)]
    for i, path in enumerate(parts):  # ingestion writes a month as several parts
        events.slice(3 * i, 3).write_parquet(path)
    quarantine = tmp_path / "2019-Dec.parquet"
    quarantine_rows("2019-Dec.csv", range(20, 22)).write_parquet(quarantine)
    wh = BigQueryWarehouse(bq_settings)

    assert wh.load_bronze("2019-Dec.csv", parts, [quarantine]) == BronzeLoad(9, 2)
    assert_frame_equal(read_bronze(wh), events.sort("event_time"))
    rejects = wh.query(f"select * from {wh.table('bronze', 'quarantine')} order by source_line")
    assert_frame_equal(rejects, quarantine_rows("2019-Dec.csv", range(20, 22)))


@pytest.mark.emulator
def test_a_failed_load_keeps_the_previous_rows(bq_settings: Settings) -> None:
    wh = BigQueryWarehouse(bq_settings)
    load_by_source_file(wh, bronze_events({10: 5}))
    broken = bronze_events({10: 2}).drop("is_injected")

    with pytest.raises(InputError, match="lacks columns"):
        wh.load_bronze("2019-Oct.csv", [bronze_events({10: 8}), broken])

    assert read_bronze(wh).height == 5
    dataset = f"{wh.project}.{bq_settings.bq_bronze_dataset}"
    assert {t.table_id for t in wh.client.list_tables(dataset)} == {"events", "quarantine"}


def test_load_bronze_refuses_a_source_file_name_that_is_not_a_plain_file_name(
    settings: Settings,
) -> None:
    wh = BigQueryWarehouse(settings.model_copy(update={"gcp_project": "p"}))
    with pytest.raises(InputError, match="Unexpected source file name"):
        wh.load_bronze("2019-Oct.csv' or true or '", [])


@pytest.mark.emulator
def test_querying_a_missing_table_names_it_and_the_stage_to_run(bq_settings: Settings) -> None:
    wh = BigQueryWarehouse(bq_settings)
    with pytest.raises(
        WarehouseError, match=r"gold\.fact_user_sessions does not exist.*ecom warehouse"
    ):
        wh.query(f"select * from {wh.table('gold', 'fact_user_sessions')}")
    wh.ensure_datasets()  # the dataset exists now, the table still does not
    with pytest.raises(WarehouseError, match=r"bronze\.events does not exist.*ecom ingest"):
        wh.query(f"select count(*) from {wh.table('bronze', 'events')}")


def test_real_bigquery_not_found_messages_name_the_layer(settings: Settings) -> None:
    """The 404 texts of real BigQuery (the emulator words them differently)."""
    from google.api_core.exceptions import NotFound

    wh = BigQueryWarehouse(settings.model_copy(update={"gcp_project": "my-proj"}))
    table = NotFound(
        "Not found: Table my-proj:cosmetics_gold.dim_users was not found in location US"
    )
    dataset = NotFound("Not found: Dataset my-proj:cosmetics_bronze was not found in location US")
    sql = "select * from `my-proj.cosmetics_bronze.events`"
    assert wh._missing_message(table, "select 1").startswith(
        "gold.dim_users does not exist in BigQuery: run `ecom warehouse`"
    )
    assert wh._missing_message(dataset, sql).startswith(
        "bronze.events does not exist in BigQuery: run `ecom ingest`"
    )


@pytest.mark.emulator
def test_a_reload_deletes_exactly_the_old_rows_of_the_file_even_across_months(
    bq_settings: Settings,
) -> None:
    """The delete is bounded by the old rows' own time range (partition pruning), so a file
    holding a straggler from another month is still replaced whole."""
    wh = BigQueryWarehouse(bq_settings)
    october = bronze_events({10: 4})
    straggler = bronze_events({11: 1}).with_columns(
        source_file=pl.lit("2019-Oct.csv"), source_line=pl.lit(99, pl.Int64)
    )
    november = bronze_events({11: 3})
    wh.load_bronze("2019-Oct.csv", [pl.concat([october, straggler])])
    wh.load_bronze("2019-Nov.csv", [november])

    assert wh.load_bronze("2019-Oct.csv", [october.head(2)]).events == 2
    counts = wh.query(
        f"select source_file, count(*) as n from {wh.table('bronze', 'events')} "
        "group by source_file order by source_file"
    )
    assert counts.rows() == [("2019-Nov.csv", 3), ("2019-Oct.csv", 2)]


def test_the_reload_script_bounds_the_delete_by_partition_constants(settings: Settings) -> None:
    import datetime as dt

    from pipeline.warehouse.bigquery import swap_script

    wh = BigQueryWarehouse(settings.model_copy(update={"gcp_project": "p"}))
    staged = [("events", "p.cosmetics_bronze._load_events_x", BRONZE_SCHEMA)]
    low = dt.datetime(2019, 10, 1, tzinfo=dt.UTC)
    high = dt.datetime(2019, 10, 31, 23, 59, 59, 500000, tzinfo=dt.UTC)
    script = swap_script(wh, "2019-Oct.csv", staged, (low, high))
    assert (
        "where source_file = '2019-Oct.csv' and event_time between "
        "timestamp '2019-10-01 00:00:00.000000+00' and timestamp '2019-10-31 23:59:59.500000+00'"
    ) in script
    first = swap_script(wh, "2019-Oct.csv", staged, None)
    assert "delete" not in first and "insert into" in first  # nothing old to delete


@pytest.mark.emulator
def test_a_bronze_table_with_another_layout_is_reported_not_changed(bq_settings: Settings) -> None:
    from google.cloud import bigquery

    from pipeline.warehouse.bigquery import bq_schema

    wh = BigQueryWarehouse(bq_settings)
    wh.ensure_datasets()
    old = bigquery.Table(wh.table_id("bronze", "events"), bq_schema(BRONZE_SCHEMA))
    old.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.MONTH, field="event_time"
    )
    wh.client.create_table(old)
    with pytest.raises(WarehouseError, match=r"exists with partitioning.*Recreate it"):
        wh.load_bronze("2019-Oct.csv", [bronze_events({10: 2})])
