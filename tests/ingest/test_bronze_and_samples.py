"""DuckDB bronze gets the right types and values; the real sample files go through unchanged."""

from __future__ import annotations

import csv
import shutil

import duckdb
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.ingest import ingest
from pipeline.schema import BRONZE_SCHEMA
from tests.ingest.conftest import synthetic_lines

EXPECTED_TYPES = {
    "event_time": "TIMESTAMP WITH TIME ZONE",
    "event_type": "VARCHAR",
    "product_id": "BIGINT",
    "category_id": "BIGINT",
    "category_code": "VARCHAR",
    "brand": "VARCHAR",
    "price": "DOUBLE",
    "user_id": "BIGINT",
    "user_session": "VARCHAR",
    "experiment_group": "VARCHAR",
    "original_event_type": "VARCHAR",
    "is_injected": "BOOLEAN",
    "source_file": "VARCHAR",
    "source_line": "BIGINT",
    "ingested_at": "TIMESTAMP WITH TIME ZONE",
}


def test_bronze_tables_have_the_contract_types(settings, raw_month):
    raw_month([*synthetic_lines(50), "not,a,row"])
    ingest(settings, ["2019-Oct"])
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        events = dict(
            con.execute("select column_name, column_type from (describe bronze.events)").fetchall()
        )
        rejects = dict(
            con.execute(
                "select column_name, column_type from (describe bronze.quarantine)"
            ).fetchall()
        )
        quarantined = con.execute("select source_line, reason from bronze.quarantine").fetchall()
    assert list(events) == list(BRONZE_SCHEMA)
    assert events == EXPECTED_TYPES
    assert rejects == {
        "source_file": "VARCHAR", "source_line": "BIGINT", "raw_line": "VARCHAR", "reason": "VARCHAR",
    }  # fmt: skip
    assert quarantined == [(52, "wrong_column_count")]


@pytest.mark.parametrize(
    ("sample", "month", "rows", "duplicates"),
    [
        ("2019-Dec_head100.csv", "2019-Dec", 100, 8),
        ("2019-Oct_random2000.csv", "2019-Oct", 2000, 0),
    ],
)
def test_real_samples_ingest_unchanged(settings, reference_dir, sample, month, rows, duplicates):
    source = reference_dir / "samples" / sample
    settings.raw_dir.mkdir(parents=True)
    shutil.copyfile(source, settings.raw_dir / f"{month}.csv")
    (manifest,) = ingest(settings, [month])
    assert (manifest.rows_read, manifest.rows_written, manifest.rows_quarantined) == (rows, rows, 0)
    assert manifest.duplicate_rows == duplicates
    with source.open(newline="") as handle:
        raw = list(csv.DictReader(handle))
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = con.execute(
            "select category_id, price, product_id, user_id, coalesce(user_session, ''),"
            " strftime(timezone('UTC', event_time), '%Y-%m-%d %H:%M:%S UTC')"
            " from bronze.events order by source_line"
        ).fetchall()
    expected = [
        (int(r["category_id"]), float(r["price"]), int(r["product_id"]), int(r["user_id"]),
         r["user_session"], r["event_time"])
        for r in raw
    ]  # fmt: skip
    assert loaded == expected  # 19-digit ids exact; "0.4" and "0.40" both 0.4


def test_cli_ingests_and_prints_the_summary(settings, raw_month):
    raw_month([*synthetic_lines(120), "oops"])
    result = CliRunner().invoke(
        app, ["ingest", "--data-dir", str(settings.data_dir), "--month", "2019-Oct"]
    )
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "2019-Oct" in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[2:5] == ["121", "120", "1"]  # read, written, quarantined
    assert (settings.manifest_dir / "2019-Oct.json").is_file()


def test_cli_reports_a_missing_month_with_an_exit_code(settings):
    result = CliRunner().invoke(
        app, ["ingest", "--data-dir", str(settings.data_dir), "--month", "2019-Nov"]
    )
    assert result.exit_code == 2
    assert "ecom generate" in result.output
