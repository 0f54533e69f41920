"""Same input, same output: whatever the chunking, and however often a month is re-ingested."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.ingest import ingest
from tests.ingest.conftest import synthetic_lines
from tests.ingest.test_parsing import BAD_LINES

# Volatile by design: the run's timestamp.
VOLATILE = ["ingested_at"]


@pytest.fixture
def dirty_month(raw_month):
    lines = synthetic_lines(2_000, seed=3, duplicates=25)
    for i, (bad, _) in enumerate(BAD_LINES):
        lines.insert(37 * i + 5, bad)
    return raw_month(lines)


def outputs(manifest) -> tuple[pl.DataFrame, pl.DataFrame]:
    bronze = pl.read_parquet(manifest.parts).drop(VOLATILE)
    return bronze, pl.read_parquet(manifest.quarantine_path)


@pytest.mark.parametrize(("batch_size", "chunk_size"), [(97, None), (7, 3), (500, 1000), (None, 5)])
def test_output_does_not_depend_on_batches_or_engine_chunks(
    settings, dirty_month, batch_size, chunk_size
):
    (whole,) = ingest(settings, ["2019-Oct"], load_warehouse=False)
    reference = outputs(whole)
    with pl.Config(streaming_chunk_size=chunk_size):
        (chunked,) = ingest(settings, ["2019-Oct"], batch_size=batch_size, load_warehouse=False)
    bronze, quarantine = outputs(chunked)
    assert_frame_equal(bronze, reference[0])  # same rows, same order (by source line)
    assert_frame_equal(quarantine, reference[1])
    if batch_size is not None:
        assert len(chunked.parts) == -(-whole.rows_read // batch_size)
    counts = ("rows_read", "rows_written", "quarantined_by_reason", "rows_injected",
              "duplicate_rows", "rows_by_group", "injected_by_group")  # fmt: skip
    for name in counts:
        assert getattr(chunked, name) == getattr(whole, name), name


def count_rows(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def test_reingesting_replaces_the_month_everywhere(settings, dirty_month, raw_month):
    (first,) = ingest(settings, ["2019-Oct"], batch_size=500)
    raw_month(synthetic_lines(300, seed=5, month="2019-Nov"), month="2019-Nov")
    ingest(settings, ["2019-Nov"])
    (second,) = ingest(settings, ["2019-Oct"])  # one part now instead of five
    partition = Path(settings.lake) / "events" / "month=2019-10"
    assert sorted(p.name for p in partition.iterdir()) == ["part-00000.parquet"]
    assert [
        p.name for p in (Path(settings.lake) / "events").iterdir() if p.name.startswith(".")
    ] == []
    assert second.rows_written == first.rows_written
    db = settings.warehouse_path
    assert count_rows(db, "bronze.events") == second.rows_written + 300
    assert count_rows(db, "bronze.quarantine") == second.rows_quarantined
    assert pl.read_parquet(second.quarantine_path).height == second.rows_quarantined
    with duckdb.connect(str(db), read_only=True) as con:
        ingested = con.execute(
            "select distinct ingested_at from bronze.events where source_file = '2019-Oct.csv'"
        ).fetchall()
    assert [str(row[0].isoformat()) for row in ingested] == [second.ingested_at]


def test_a_shrunken_month_leaves_no_stale_rows(settings, raw_month):
    raw_month([*synthetic_lines(400, seed=1), "bad"])
    ingest(settings, ["2019-Oct"])
    raw_month(synthetic_lines(100, seed=2))
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert count_rows(settings.warehouse_path, "bronze.events") == 100 == manifest.rows_written
    assert count_rows(settings.warehouse_path, "bronze.quarantine") == 0
    assert pl.read_parquet(manifest.quarantine_path).height == 0
