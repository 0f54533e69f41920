"""One writer per data directory: a second ingest fails at once and names the first; the input
cannot change under a run (the file is swapped or grown while it is being parsed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.errors import BusyError, InputError
from pipeline.ingest import Manifest, ingest
from pipeline.settings import Settings
from tests.ingest.conftest import synthetic_lines, write_raw
from tests.ingest.processes import (
    leftovers,
    live_state,
    month_rows,
    output,
    paused_in_this_process,
    start_ingest,
)


@pytest.fixture
def october(settings: Settings) -> Settings:
    write_raw(settings, "2019-Oct", synthetic_lines(200, seed=1))
    write_raw(settings, "2019-Nov", synthetic_lines(50, seed=2, month="2019-Nov"))
    ingest(settings, ["2019-Oct"])
    write_raw(settings, "2019-Oct", synthetic_lines(150, seed=3))
    return settings


def test_a_second_ingest_fails_at_once_and_says_who_holds_the_lock(october):
    first = start_ingest(october.data_dir, "--month", "2019-Oct", pause_at="swapped-partition")
    try:
        second = start_ingest(october.data_dir, "--month", "2019-Nov").finish()
        assert second.returncode == BusyError.exit_code
        text = output(second)
        assert f"Another ingestion is writing {october.data_dir}" in text
        assert f"pid {first.proc.pid} (`ecom ingest --data-dir {october.data_dir}" in text
        with pytest.raises(BusyError, match=f"pid {first.proc.pid}"):
            ingest(october, ["2019-Nov"])  # in-process callers are refused the same way
        assert not (october.manifest_dir / "2019-Nov.json").exists()
    finally:
        first.resume()
    done = first.finish()
    assert done.returncode == 0, done.stderr
    assert Manifest.read(october.manifest_dir / "2019-Oct.json").rows_written == 150
    (november,) = ingest(october, ["2019-Nov"])  # free again once the first has finished
    assert november.rows_written == 50


def test_two_ingests_started_together_end_with_one_consistent_month(october):
    write_raw(october, "2019-Oct", synthetic_lines(5_000, seed=4))
    runs = [start_ingest(october.data_dir, "--month", "2019-Oct") for _ in range(2)]
    results = [run.finish() for run in runs]
    codes = sorted(r.returncode for r in results)
    assert codes in ([0, 0], [0, BusyError.exit_code]), [output(r) for r in results]
    rows = month_rows(october, "2019-Oct")
    manifest = Manifest.read(october.manifest_dir / "2019-Oct.json")
    assert manifest.rows_written == rows["lake"].height == rows["events"].height == 5_000
    assert manifest.parts == sorted(
        str(p) for p in (Path(october.lake) / "events" / "month=2019-10").glob("*.parquet")
    )
    assert leftovers(october) == []


# ---- the input changes while it is read (a real pause inside the streaming write) -----------
@pytest.mark.parametrize("how", ["replaced", "appended", "rewritten", "deleted"])
def test_a_file_changed_during_the_run_publishes_nothing(october, monkeypatch, tmp_path, how):
    before = live_state(october)
    path = october.raw_dir / "2019-Oct.csv"
    other = synthetic_lines(150, seed=5)

    def damage() -> None:
        if how == "replaced":  # a new copy moved over the path, as `cp` + `mv` would
            write_raw(
                october,
                "2019-Nov",
                other,
            )
            os.replace(october.raw_dir / "2019-Nov.csv", path)
        elif how == "appended":  # a download still being written
            with path.open("a") as handle:
                handle.write(other[0] + "\n")
        elif how == "rewritten":  # same size, other bytes, in place
            data = bytearray(path.read_bytes())
            data[-5] = ord("0") if data[-5] != ord("0") else ord("1")
            with path.open("r+b") as handle:
                handle.write(bytes(data))
        else:
            path.unlink()

    thread = paused_in_this_process(monkeypatch, tmp_path, damage)
    expected = {"replaced": "was replaced by another file", "appended": "was modified",
                "rewritten": "was modified", "deleted": "was deleted"}[how]  # fmt: skip
    with pytest.raises(InputError, match=f"{expected}.* while it was being ingested") as failure:
        ingest(october, ["2019-Oct"], batch_size=40)
    thread.join()
    assert "Nothing was published" in str(failure.value)
    assert live_state(october) == before
    assert leftovers(october) == []
