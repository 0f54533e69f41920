"""Assignment and injection in bronze equal pipeline.experiment's Python reference, row by row."""

from __future__ import annotations

import csv
from datetime import date

import polars as pl
import pytest

from pipeline import experiment
from pipeline.experiment.config import load_experiments
from pipeline.ingest import ingest
from pipeline.settings import Settings
from tests.ingest.conftest import synthetic_lines


@pytest.fixture
def bronze_and_raw(settings, raw_month):
    path = raw_month(synthetic_lines(3_000, seed=11, duplicates=40))
    (manifest,) = ingest(settings, ["2019-Oct"], load_warehouse=False)
    bronze = pl.read_parquet(manifest.parts).sort("source_line")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return manifest, bronze, rows


def test_every_user_gets_the_reference_group(bronze_and_raw):
    _, bronze, _ = bronze_and_raw
    users = bronze.select("user_id", "experiment_group").unique()
    assert users["user_id"].n_unique() == users.height  # one group per user
    expected = [experiment.assign_group(u) for u in users["user_id"]]
    assert users["experiment_group"].to_list() == expected
    assert set(expected) == set(experiment.GROUPS)


def test_injection_equals_the_python_reference_row_by_row(bronze_and_raw):
    manifest, bronze, rows = bronze_and_raw
    assert bronze.height == len(rows)
    configured = load_experiments(Settings()).ingestion  # experiments.yml's injected one
    assert manifest.experiment == configured.to_dict()
    expected = [
        experiment.is_injected(
            row["event_type"],
            experiment.assign_group(row["user_id"]),
            row["event_time"],  # the raw text, "2019-10-01 00:00:04 UTC"
            row["user_id"],
            row["product_id"],
            row["user_session"],
            configured,
        )
        for row in rows
    ]
    assert bronze["is_injected"].to_list() == expected
    assert sum(expected) >= 5  # the fixture is built to inject several carts
    assert manifest.rows_injected == sum(expected)
    assert manifest.injected_by_group == {"control": 0, "treatment": sum(expected)}


def test_injected_rows_are_treatment_carts_turned_into_purchases(bronze_and_raw):
    _, bronze, rows = bronze_and_raw
    injected = bronze.filter("is_injected")
    assert injected["event_type"].unique().to_list() == ["purchase"]
    assert injected["original_event_type"].unique().to_list() == ["cart"]
    assert injected["experiment_group"].unique().to_list() == [experiment.TREATMENT]
    untouched = bronze.filter(~pl.col("is_injected"))
    assert (untouched["event_type"] == untouched["original_event_type"]).all()
    assert untouched["original_event_type"].to_list() == [
        row["event_type"] for row, hit in zip(rows, bronze["is_injected"], strict=True) if not hit
    ]


def test_duplicates_are_kept_and_counted(bronze_and_raw):
    manifest, _bronze, rows = bronze_and_raw
    raw_lines = [",".join(row.values()) for row in rows]
    assert manifest.duplicate_rows == len(raw_lines) - len(set(raw_lines)) >= 40
    assert manifest.rows_written == len(rows)  # duplicates are not malformed


def test_a_salted_injected_experiment_assigns_bronze_by_its_salt(settings, raw_month, tmp_path):
    """Another experiments.yml: the injected experiment has a salt and an end day; bronze's
    groups follow md5(salt + id), and nothing after the end is injected."""
    import yaml

    from pipeline.settings import EXPERIMENTS_FILE

    config = yaml.safe_load(EXPERIMENTS_FILE.read_text())
    checkout = {
        **config["experiments"][0],
        "assignment": {"salt": "v3:"},
        "end": "2019-10-01",
        "injection": {"rate": 0.5, "seed": "v3"},
    }
    path = tmp_path / "experiments.yml"
    path.write_text(yaml.safe_dump({"experiments": [checkout]}))
    salted = settings.model_copy(update={"experiments_file": path})
    raw_month(synthetic_lines(15_000, seed=12))  # 7 s apart: Oct 1st and 2nd
    (manifest,) = ingest(salted, ["2019-Oct"], load_warehouse=False)
    bronze = pl.read_parquet(manifest.parts)
    users = bronze.select("user_id", "experiment_group").unique()
    expected = [experiment.assign_group(u, "v3:") for u in users["user_id"]]
    assert users["experiment_group"].to_list() == expected
    assert expected != [experiment.assign_group(u) for u in users["user_id"]]
    injected = bronze.filter("is_injected")
    assert injected.height > 0
    assert injected["event_time"].dt.date().max() <= date(2019, 10, 1)
    late_carts = bronze.filter(
        (pl.col("original_event_type") == "cart")
        & (pl.col("event_time").dt.date() > date(2019, 10, 1))
    )
    assert late_carts.height > 0 and manifest.experiment["salt"] == "v3:"
