"""The month's commit protocol under SIGKILL: a real `ecom ingest` process is stopped at each step
and killed; the next start must leave the month wholly old or wholly new, never a mix."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from pipeline.errors import InputError
from pipeline.ingest import Interrupted, Manifest, ingest
from pipeline.ingest.commit import Journal, Swap
from pipeline.settings import Settings
from tests.ingest.conftest import synthetic_lines, write_raw
from tests.ingest.processes import leftovers, live_state, month_rows, output, start_ingest

OLD_ROWS, NEW_ROWS = 120, 90
NEW_BAD = ["not a row", "2019-10-01 00:00:04 UTC,view,1,1,,,x,1,s"]

# Every pause point of a local-lake run, in order: the journal's phase there (None: no journal
# yet) and what a kill there must end as once the next run has started.
STEPS = [
    ("parsing", None, "old"),  # inside the streaming write, after the first part
    ("staged", None, "old"),  # every new file staged and checked
    ("prepared", "prepared", "old"),  # journal written; nothing swapped
    ("swapped-partition", "prepared", "old"),  # new partition live, quarantine still old
    ("swapped-quarantine", "prepared", "old"),
    ("bronze-transaction", "loading", "old"),  # inside DuckDB's transaction, before commit
    ("bronze-loaded", "loading", "old"),  # bronze holds the new month, the manifest is old
    ("swapped-manifest", "loading", "old"),  # every file new, journal not yet committed
    ("committed", "committed", "new"),  # journal committed: the rest is clean-up
    ("cleaned", "committed", "new"),  # clean-up done, journal not yet deleted
]


def october(state: dict[str, object]) -> dict[str, object]:
    """October's slice of `live_state`: its files and its bronze rows."""
    files = {k: v for k, v in state["files"].items() if "2019-Oct" in k or "2019-10" in k}
    rows = {
        table: [row for row in rows if "2019-Oct.csv" in row]
        for table, rows in state.items()
        if table != "files"
    }
    return {"files": files, **rows}


@pytest.fixture
def two_versions(settings: Settings) -> Settings:
    """October (old version) and November ingested; October's raw file then replaced."""
    write_raw(settings, "2019-Oct", [*synthetic_lines(OLD_ROWS, seed=1), "bad line"])
    write_raw(settings, "2019-Nov", synthetic_lines(40, seed=2, month="2019-Nov"))
    ingest(settings, ["2019-Oct", "2019-Nov"])
    write_raw(settings, "2019-Oct", [*synthetic_lines(NEW_ROWS, seed=3), *NEW_BAD])
    return settings


def assert_wholly_new(settings: Settings) -> None:
    rows = month_rows(settings, "2019-Oct")
    good = list(range(2, NEW_ROWS + 2))
    bad = [NEW_ROWS + 2, NEW_ROWS + 3]
    assert sorted(rows["lake"]["source_line"]) == good
    assert rows["events"]["source_line"].to_list() == good
    assert sorted(rows["quarantine"]["source_line"]) == bad
    assert rows["rejects"]["source_line"].to_list() == bad
    manifest = Manifest.read(settings.manifest_dir / "2019-Oct.json")
    assert (manifest.rows_written, manifest.rows_quarantined) == (NEW_ROWS, 2)
    assert (manifest.rows_loaded, manifest.quarantine_loaded) == (NEW_ROWS, 2)
    assert manifest.parts == sorted(
        str(p) for p in (Path(settings.lake) / "events" / "month=2019-10").glob("*.parquet")
    )


@pytest.mark.parametrize(("step", "phase", "outcome"), STEPS, ids=[s for s, _, _ in STEPS])
def test_a_kill_at_any_step_leaves_the_month_wholly_old_or_wholly_new(
    two_versions, step, phase, outcome
):
    settings = two_versions
    before = october(live_state(settings))
    run = start_ingest(
        settings.data_dir, "--month", "2019-Oct", "--batch-size", "40", pause_at=step
    )
    run.kill()
    journal = Journal.path_for(settings, "2019-Oct")
    assert (json.loads(journal.read_text())["phase"] if journal.exists() else None) == phase

    recovered: list[str] = []
    ingest(settings, ["2019-Nov"], report=recovered.append)  # the next start, any month

    if outcome == "old":
        assert october(live_state(settings)) == before  # byte for byte, row for row
    else:
        assert_wholly_new(settings)
    assert leftovers(settings) == []  # no staging, retired copy or journal left
    assert (settings.manifest_dir / "2019-Nov.json").exists()  # and the next run did its work
    verb = "completed" if outcome == "new" else "rolled back"
    if phase is not None:
        assert any(
            line.startswith(f"{verb} an interrupted ingest of 2019-Oct") for line in recovered
        )
    else:  # killed before the journal: only its staging folders were left, now deleted
        assert any("stale staging folder" in line for line in recovered), recovered


def test_an_unkilled_run_through_the_same_steps_ends_wholly_new(two_versions):
    run = start_ingest(two_versions.data_dir, "--month", "2019-Oct", pause_at="prepared")
    run.resume()
    done = run.finish()
    assert done.returncode == 0, done.stderr
    assert_wholly_new(two_versions)
    assert leftovers(two_versions) == []


# ---- each swap, from every state a crash can leave (real files and folders) ----------------
def layout(tmp_path: Path, *, old: bool, state: str) -> Swap:
    """target/staged/retired as a crash leaves them at `state`, with 'old'/'new' contents."""
    target, staged, retired = (
        tmp_path / "month=2019-10",
        tmp_path / ".staging-r",
        tmp_path / ".retired-r",
    )
    swap = Swap(str(target), str(staged), str(retired), had_old=old)
    if old:
        target.mkdir()
        (target / "part").write_text("old")
    staged.mkdir()
    (staged / "part").write_text("new")
    if state in ("half-swapped", "swapped", "half-undone", "undone") and old:
        target.rename(retired)
    if state in ("swapped", "half-undone", "undone"):
        staged.rename(target)
    if state in ("half-undone", "undone"):
        target.rename(staged)
    if state == "undone" and old:
        retired.rename(target)
    return swap


def content(path: str) -> str | None:
    part = Path(path) / "part"
    return part.read_text() if part.exists() else None


CRASH_STATES = ["staged", "half-swapped", "swapped", "half-undone", "undone"]


@pytest.mark.parametrize(
    ("old", "state"),
    [(True, state) for state in CRASH_STATES] + [(False, state) for state in CRASH_STATES[:3]],
)
def test_a_swap_rolls_back_from_any_state_and_twice(tmp_path, old, state):
    swap = layout(tmp_path, old=old, state=state)
    swap.back()
    swap.back()  # a crash during the roll-back: it is simply run again
    assert content(swap.target) == ("old" if old else None)
    assert not Path(swap.staged).exists() and not Path(swap.retired).exists()


@pytest.mark.parametrize("old", [True, False], ids=["replacing", "first"])
@pytest.mark.parametrize("state", ["staged", "half-swapped", "swapped"])
def test_a_swap_rolls_forward_from_any_state_and_twice(tmp_path, old, state):
    swap = layout(tmp_path, old=old, state=state)
    swap.forward()
    swap.forward()
    swap.finish()
    assert content(swap.target) == "new"
    assert not Path(swap.staged).exists() and not Path(swap.retired).exists()


# ---- issue 19: Ctrl-C says what it undid; a stopped run names the months it did not try -----
INTERRUPTS = {
    "parsing": "Nothing was published: the previous run of 2019-Oct (if any) is intact",
    "swapped-quarantine": "This run was rolled back: the previous run of 2019-Oct (if any) is "
    "live again in the lake, the quarantine, the manifest and bronze",
    "bronze-loaded": "This run was rolled back: the previous run of 2019-Oct (if any) is "
    "live again in the lake, the quarantine, the manifest and bronze",
}


@pytest.mark.parametrize("step", list(INTERRUPTS))
def test_ctrl_c_rolls_back_and_says_so(two_versions, step):
    settings = two_versions
    before = october(live_state(settings))
    run = start_ingest(
        settings.data_dir, "--month", "2019-Oct", "--batch-size", "40", pause_at=step
    )
    os.kill(run.proc.pid, signal.SIGINT)  # what Ctrl-C sends
    time.sleep(0.5)
    run.marker.unlink()  # a pause in the engine's writer thread goes on to where Ctrl-C lands
    done = run.finish()
    text = output(done)
    assert done.returncode == Interrupted.exit_code == 130, text
    assert "Interrupted (Ctrl-C) while ingesting 2019-Oct." in text
    assert INTERRUPTS[step] in text
    assert "Traceback" not in text
    assert october(live_state(settings)) == before
    assert leftovers(settings) == []


def test_a_month_that_fails_names_the_months_not_attempted(settings):
    for month, lines in (
        ("2019-Oct", synthetic_lines(30, seed=1)),
        ("2019-Nov", synthetic_lines(30, seed=2, month="2019-Nov")),
        ("2020-Jan", synthetic_lines(30, seed=4, month="2020-Jan")),
    ):
        write_raw(settings, month, lines)
    (settings.raw_dir / "2019-Dec.csv").write_text("not,the,header\n")
    with pytest.raises(InputError, match="does not start with the raw header") as failure:
        ingest(settings)  # every month found
    text = str(failure.value)
    assert "Ingested before it: 2019-Oct, 2019-Nov. Not attempted: 2020-Jan" in text
    assert "`ecom ingest --month 2019-Dec --month 2020-Jan`" in text
    assert (settings.manifest_dir / "2019-Nov.json").exists()
    assert not (settings.manifest_dir / "2020-Jan.json").exists()
