"""Row accounting is checked on the staged month, before anything of it goes live."""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.errors import DataContractError, WarehouseError
from pipeline.ingest import ingest
from pipeline.ingest import stage as ingest_stage
from pipeline.settings import Settings
from pipeline.warehouse import BronzeLoad
from pipeline.warehouse.duckdb import DuckDBWarehouse
from tests.ingest.conftest import synthetic_lines


def live_state(settings: Settings) -> dict[str, object]:
    """Everything a reader can see of the ingested months: files byte for byte, bronze rows."""
    lake = Path(settings.lake) / "events"
    files = {
        str(p.relative_to(settings.data_dir)): p.read_bytes()
        for root in (lake, settings.quarantine_dir, settings.manifest_dir)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        bronze = {
            table: con.sql(f"select * from {table} order by source_file, source_line").fetchall()
            for table in ("bronze.events", "bronze.quarantine")
        }
    return {"files": files, **bronze}


@pytest.fixture
def ingested(settings, raw_month) -> Settings:
    """October ingested once (with rejects), then its raw file changed for a re-run."""
    raw_month([*synthetic_lines(300, seed=1), "bad line"])
    raw_month(synthetic_lines(50, seed=2, month="2019-Nov"), month="2019-Nov")
    ingest(settings, ["2019-Oct", "2019-Nov"])
    raw_month([*synthetic_lines(200, seed=9), "bad,line", "another bad line"])
    return settings


def one_row_less(counts: pl.DataFrame) -> pl.DataFrame:
    return counts.with_columns(pl.col("rows") - pl.int_range(pl.len()).eq(0).cast(pl.Int64))


@pytest.mark.parametrize(
    ("counter", "miscount"),
    [
        ("_bronze_counts", one_row_less),  # a written row gone missing
        ("_reason_counts", lambda reasons: {**reasons, "bad_price": 1}),  # a phantom reject
    ],
)
def test_a_miscount_publishes_nothing(ingested, monkeypatch, counter, miscount):
    before = live_state(ingested)
    real = getattr(ingest_stage, counter)
    monkeypatch.setattr(ingest_stage, counter, lambda *args: miscount(real(*args)))

    with pytest.raises(DataContractError, match="Nothing was published") as failure:
        ingest(ingested, ["2019-Oct"])

    assert "`ecom ingest --month 2019-Oct`" in str(failure.value)
    assert live_state(ingested) == before  # lake partition, quarantine, manifest, bronze
    hidden = [p for p in (Path(ingested.lake) / "events").iterdir() if p.name.startswith(".")]
    assert hidden + list(ingested.quarantine_dir.glob(".*")) == []  # no staging left behind
    monkeypatch.undo()
    (manifest,) = ingest(ingested, ["2019-Oct"])  # the re-run the message asks for works
    assert (manifest.rows_written, manifest.rows_quarantined) == (200, 2)


def test_bronze_not_matching_rolls_the_month_back(ingested, monkeypatch):
    before = live_state(ingested)
    real = DuckDBWarehouse.load_bronze

    def short(self, *args, **kwargs) -> BronzeLoad:
        loaded = real(self, *args, **kwargs)  # bronze really is loaded with the new month...
        return BronzeLoad(events=loaded.events - 1, quarantined=loaded.quarantined)

    monkeypatch.setattr(DuckDBWarehouse, "load_bronze", short)
    with pytest.raises(DataContractError) as failure:
        ingest(ingested, ["2019-Oct"])
    message = str(failure.value)
    for expected in (
        "bronze.events holds 199 rows of 2019-Oct.csv, 200 were written",
        "This run was rolled back: the previous run of 2019-Oct (if any) is live again",
        "re-run `ecom ingest --month 2019-Oct`",
    ):
        assert expected in message
    monkeypatch.undo()
    # ...and reloaded from the restored files: lake, quarantine, manifest and bronze as before.
    assert live_state(ingested) == before
    assert list(ingested.ingest_state_dir.glob("journal-*")) == []


def test_a_failed_load_leaves_the_previous_month(ingested, monkeypatch):
    before = live_state(ingested)

    def broken(self, *args, **kwargs) -> BronzeLoad:
        raise WarehouseError("Loading 2019-Oct.csv failed: disk full. The previous rows were kept.")

    monkeypatch.setattr(DuckDBWarehouse, "load_bronze", broken)
    with pytest.raises(WarehouseError, match=r"disk full.*This run was rolled back"):
        ingest(ingested, ["2019-Oct"])
    monkeypatch.undo()
    assert live_state(ingested) == before
