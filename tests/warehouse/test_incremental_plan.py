"""The incremental planner on its own (no dbt): a real DuckDB file holding hand-made tables of a
"last build", manifests written by the ingestion's own Manifest model, and the build record.
Each case says when a build is full, incremental from which day to which, or unnecessary."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from pipeline.ingest.manifest import Manifest
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.incremental import (
    LOOKBACK,
    BuildPlan,
    BuildRecord,
    IngestedMonth,
    mark_pending,
    plan_build,
    record_build,
)

PROJECT = "p1"
TABLES = ["silver.int_session_events", "gold.fact_user_sessions"]
# Sessions of the "last build": (start, end).
SESSIONS = [
    ("2019-10-05 10:00:00", "2019-10-05 10:20:00"),
    ("2019-10-30 09:00:00", "2019-10-30 09:10:00"),  # ends 38 h before November: untouched
    ("2019-10-30 22:00:00", "2019-10-31 02:00:00"),  # ends within the lookback (24 h + 30 min)
    ("2019-10-31 23:50:00", "2019-10-31 23:59:59"),  # may be continued by November's events
]


def manifest(month: str, run: str, first: str | None, last: str | None, rows: int = 10) -> Manifest:
    return Manifest(
        month=month,
        month_key=month,
        source_file=f"{month}.csv",
        source_path=f"/raw/{month}.csv",
        input_bytes=1,
        input_sha256="0" * 64,
        rows_read=rows,
        rows_written=rows,
        rows_quarantined=0,
        quarantined_by_reason={},
        rows_injected=0,
        duplicate_rows=0,
        rows_by_group={"control": rows, "treatment": 0},
        injected_by_group={"control": 0, "treatment": 0},
        rows_loaded=rows,
        quarantine_loaded=0,
        parts=[],
        quarantine_path="",
        batch_size=None,
        ingested_at=f"2024-01-01T00:00:0{run[-1]}+00:00",
        run_id=run,
        first_event_at=first,
        last_event_at=last,
    )


OCT = ("2019-Oct", "2019-10-01T00:00:05+00:00", "2019-10-31T23:59:59+00:00")
NOV = ("2019-Nov", "2019-11-01T00:00:00+00:00", "2019-11-30T23:59:59+00:00")


def ingested(settings: Settings, *months: tuple[str, str, str | None, str | None]) -> None:
    settings.manifest_dir.mkdir(parents=True, exist_ok=True)
    for month, run, first, last in months:
        manifest(month, run, first, last).write_to(settings.manifest_dir / f"{month}.json")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", duckdb_path=None)  # type: ignore[call-arg]
    settings.data_dir.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("create schema silver; create schema gold")
        con.execute("create table silver.int_session_events (event_time timestamptz)")
        con.execute(
            "create table gold.fact_user_sessions (session_start timestamptz, session_end timestamptz)"
        )
        for start, end in SESSIONS:
            con.execute(
                "insert into gold.fact_user_sessions values (?::timestamptz, ?::timestamptz)",
                [start + "+00", end + "+00"],
            )
    return settings


def built(settings: Settings, *months) -> BuildRecord:
    """The record a successful full build of these months leaves."""
    ingested(settings, *months)
    return record_build(settings, BuildPlan("full", "test"), PROJECT, TABLES)


def plan(settings: Settings, **kwargs) -> BuildPlan:
    return plan_build(settings, connect(settings), PROJECT, **kwargs)


def test_the_manifest_reader_reads_the_ingestion_model() -> None:
    written = manifest("2019-Oct", "r1", OCT[1], OCT[2])
    read = IngestedMonth.model_validate_json(written.model_dump_json())
    assert (read.month, read.run_id, read.rows_written) == ("2019-Oct", "r1", 10)
    assert (read.first_event_at, read.last_event_at) == (OCT[1], OCT[2])


def test_full_builds_and_why(settings: Settings) -> None:
    assert plan(settings).reason.startswith("no ingestion manifests")
    ingested(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    assert plan(settings).reason.startswith("no earlier build")
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    assert plan(settings, full_refresh=True).reason == "--full-refresh"
    assert "project" in plan_build(settings, connect(settings), "p2").reason
    other = settings.model_copy(update={"duckdb_path": settings.data_dir / "other.duckdb"})
    assert "another warehouse" in plan(other).reason
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("drop table silver.int_session_events")
    assert plan(settings).reason == "silver.int_session_events no longer exist(s)"
    assert all(
        p.mode == "full" for p in (plan(settings), plan(other), plan(settings, full_refresh=True))
    )


def test_nothing_ingested_since_the_build(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    found = plan(settings)
    assert found.mode == "unchanged" and found.dbt_vars() == {}


def test_a_new_month_rebuilds_from_the_earliest_session_it_can_touch(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    ingested(settings, (NOV[0], "r2", NOV[1], NOV[2]))
    found = plan(settings)
    # November starts 2019-11-01 00:00; sessions ending after 2019-10-30 23:30 may change
    # (the lookback), and the earliest of those started on 30 October at 22:00.
    assert LOOKBACK.total_seconds() == (24 * 60 + 30) * 60
    assert found.mode == "incremental" and found.changed == ("2019-Nov",)
    assert (found.rebuild_from, found.rebuild_until) == (date(2019, 10, 30), date(2019, 11, 30))
    assert found.dbt_vars() == {"rebuild_from": "2019-10-30", "rebuild_until": "2019-11-30"}


def test_a_reingested_month_counts_its_old_rows_too(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]), (NOV[0], "r2", NOV[1], NOV[2]))
    # Re-delivered November: its new rows start later and end earlier than the old ones.
    ingested(settings, (NOV[0], "r3", "2019-11-20T00:00:00+00:00", "2019-11-21T00:00:00+00:00"))
    found = plan(settings)
    assert found.changed == ("2019-Nov",)
    assert (found.rebuild_from, found.rebuild_until) == (date(2019, 10, 30), date(2019, 11, 30))


def test_a_month_ingested_before_an_earlier_one(settings: Settings) -> None:
    built(settings, (NOV[0], "r1", NOV[1], NOV[2]))
    ingested(settings, (OCT[0], "r2", OCT[1], OCT[2]))
    found = plan(settings)
    assert (found.rebuild_from, found.rebuild_until) == (date(2019, 10, 1), date(2019, 11, 30))


def test_a_month_whose_manifest_went_away(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]), (NOV[0], "r2", NOV[1], NOV[2]))
    (settings.manifest_dir / "2019-Nov.json").unlink()
    found = plan(settings)
    assert found.changed == ("2019-Nov",) and found.rebuild_until == date(2019, 11, 30)


def test_a_manifest_without_event_ranges_means_a_full_build(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    ingested(settings, (NOV[0], "r2", None, None))
    found = plan(settings)
    assert found.mode == "full" and "re-ingest" in found.reason


def test_an_unfinished_rebuild_is_redone(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    mark_pending(settings, BuildPlan("incremental", "t", date(2019, 10, 3), date(2019, 10, 31)))
    found = plan(settings)  # nothing new was ingested, but the last rebuild did not finish
    assert (found.mode, found.rebuild_from) == ("incremental", date(2019, 10, 3))
    ingested(settings, (NOV[0], "r2", NOV[1], NOV[2]))
    assert plan(settings).rebuild_from == date(2019, 10, 3)  # the earlier of the two
    record_build(settings, plan(settings), PROJECT, TABLES)
    assert BuildRecord.read(settings).pending_from is None
    assert plan(settings).mode == "unchanged"


def test_the_record_is_forgotten_before_a_full_build(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    BuildRecord.forget(settings)
    assert BuildRecord.read(settings) is None
    settings.warehouse_build_path.write_text("{not json")
    assert plan(settings).reason.startswith("no earlier build")


def test_times_are_utc_instants(settings: Settings) -> None:
    built(settings, (OCT[0], "r1", OCT[1], OCT[2]))
    # A manifest written with another offset names the same instant.
    ingested(settings, (NOV[0], "r2", "2019-11-01T01:00:00+01:00", NOV[2]))
    assert plan(settings).rebuild_from == date(2019, 10, 30)
    assert datetime.fromisoformat("2019-11-01T01:00:00+01:00").astimezone(UTC).hour == 0
