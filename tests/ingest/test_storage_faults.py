"""Folders that cannot be written and a disk that is full, for real: `ecom ingest` runs as an
unprivileged user (root ignores permissions) on a data directory handed to it, and a small
tmpfs is filled up. Each fault ends with a message naming the path and the cause, a non-zero
exit code, and the previous month exactly as it was."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import polars as pl
import pytest

from pipeline.errors import InputError, StorageError, WarehouseError
from pipeline.ingest import Manifest, ingest
from pipeline.ingest.commit import Journal
from pipeline.settings import Settings
from tests.conftest import skip_unless_ci
from tests.ingest.conftest import synthetic_lines, write_raw
from tests.ingest.processes import (
    leftovers,
    live_state,
    output,
    paused_in_this_process,
    run_ingest,
    unprivileged,
)

READ_ONLY = stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH


@pytest.fixture
def handed_over(monkeypatch) -> Iterator[Settings]:
    """October ingested (by root), its raw file replaced, the data directory given to the
    unprivileged user. Under /tmp, not pytest's 0700 temp root, so that user can reach it."""
    for key in [k for k in os.environ if k.startswith("ECOM_")]:
        monkeypatch.delenv(key)
    user = unprivileged()
    shared = Path(tempfile.mkdtemp(prefix="ecom-faults-", dir="/tmp"))
    shared.chmod(0o755)
    settings = Settings(data_dir=shared / "data")
    write_raw(settings, "2019-Oct", synthetic_lines(150, seed=1))
    ingest(settings, ["2019-Oct"])
    write_raw(settings, "2019-Oct", synthetic_lines(100, seed=2))
    user.chown(settings.data_dir)
    try:
        yield settings
    finally:
        for path in [shared, *shared.rglob("*")]:
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(shared)


def make_read_only(path: Path) -> None:
    path.chmod(READ_ONLY)


def make_unreadable(path: Path) -> None:
    path.chmod(0)


def write_protect(path: Path) -> None:
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)


# (what is made unusable, how, exit code, what the message must say)
FAULTS: dict[str, tuple[Callable[[Settings], Path], Callable[[Path], None], int, str]] = {
    "read-only lake folder": (
        lambda s: Path(s.lake) / "events",
        make_read_only,
        StorageError.exit_code,
        "Cannot create a staging folder in {path}: permission denied for user {user}",
    ),
    "read-only quarantine folder": (
        lambda s: s.quarantine_dir,
        make_read_only,
        StorageError.exit_code,
        "Cannot create a staging folder in {path}: permission denied for user {user}",
    ),
    "read-only manifest folder": (
        lambda s: s.manifest_dir,
        make_read_only,
        StorageError.exit_code,
        "Cannot create a staging folder in {path}: permission denied for user {user}",
    ),
    "read-only journal folder": (
        lambda s: s.ingest_state_dir,
        make_read_only,
        StorageError.exit_code,
        "Cannot write the ingestion journal in {path}: permission denied for user {user}",
    ),
    "unreadable raw file": (
        lambda s: s.raw_dir / "2019-Oct.csv",
        make_unreadable,
        InputError.exit_code,
        "Cannot read {path}: permission denied for user {user}",
    ),
    "write-protected warehouse": (
        lambda s: s.warehouse_path,
        write_protect,
        WarehouseError.exit_code,
        "Cannot open the warehouse {path}: permission denied for user {user}, who cannot write it",
    ),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_an_unwritable_place_gives_a_message_and_keeps_the_month(handed_over, fault):
    settings = handed_over
    where, damage, code, expected = FAULTS[fault]
    before = live_state(settings)
    path = where(settings)
    damage(path)
    user = unprivileged()
    done = run_ingest(settings.data_dir, "--month", "2019-Oct", prefix=user.prefix)
    text = output(done)
    assert done.returncode == code, text
    name = f"nobody (uid {user.uid})" if user.uid == 65534 else f"(uid {user.uid})"
    assert expected.format(path=path, user="") in text.replace(name, ""), text
    assert name in text
    assert "Traceback" not in text
    if fault == "write-protected warehouse":  # staged, swapped, then bronze failed: undone
        assert "This run was rolled back" in text
    else:
        assert "previous run of 2019-Oct (if any) is intact" in text or "Make the file" in text
    path.chmod(0o755 if path.is_dir() else 0o644)
    assert live_state(settings) == before
    assert leftovers(settings) == []
    (manifest,) = ingest(settings, ["2019-Oct"])  # fixed: the same run now goes through
    assert manifest.rows_written == 100


def test_a_stale_tmp_directory_where_the_manifest_goes_does_not_matter(settings, raw_month):
    raw_month(synthetic_lines(30, seed=1))
    (settings.manifest_dir / "2019-Oct.json.tmp").mkdir(parents=True)  # broke the old writer
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert Manifest.read(settings.manifest_dir / "2019-Oct.json") == manifest


# ---- a full disk ----------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted for the test (root only; CI runs as root)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        skip_unless_ci("mounting a small tmpfs needs root and mount(8)")
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        skip_unless_ci(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_gives_a_message_and_keeps_the_month(small_disk, tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("ECOM_")]:
        monkeypatch.delenv(key)
    settings = Settings(data_dir=small_disk / "data", duckdb_path=tmp_path / "warehouse.duckdb")
    settings.data_dir.mkdir()
    (tmp_path / "raw").mkdir()
    (settings.data_dir / "raw").symlink_to(tmp_path / "raw")  # the input is on another disk
    write_raw(settings, "2019-Oct", synthetic_lines(150, seed=1))
    ingest(settings, ["2019-Oct"])
    write_raw(settings, "2019-Oct", synthetic_lines(20_000, seed=2))
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (shutil.disk_usage(small_disk).free - 64 * 1024))
    before = live_state(settings)

    with pytest.raises(StorageError) as failure:
        ingest(settings, ["2019-Oct"], batch_size=5_000)
    text = str(failure.value)
    assert text.startswith(f"Cannot write {Path(settings.lake) / 'events' / '.staging-'}")
    assert "no space left on the device (" in text and "file system holding" in text
    assert "Nothing was published: the previous run of 2019-Oct (if any) is intact" in text
    assert live_state(settings) == before
    assert leftovers(settings) == []
    filler.unlink()
    (manifest,) = ingest(settings, ["2019-Oct"], batch_size=5_000)
    assert manifest.rows_written == 20_000


# ---- issue 19: faults inside the bronze load and right after the manifest swap --------------
def test_a_read_only_data_folder_with_a_writable_warehouse(handed_over):
    settings = handed_over
    before = live_state(settings)
    make_read_only(settings.data_dir)  # its folders and warehouse.duckdb stay writable
    user = unprivileged()
    done = run_ingest(settings.data_dir, "--month", "2019-Oct", prefix=user.prefix)
    text = output(done)
    assert done.returncode == StorageError.exit_code, text
    name = f"nobody (uid {user.uid})" if user.uid == 65534 else f"(uid {user.uid})"
    wal = f"{settings.warehouse_path}.wal"  # DuckDB's log, created beside the warehouse file
    assert f"Cannot write {wal}: permission denied for user {name}" in text, text
    assert f"Make {settings.data_dir} writable for this user" in text
    assert "This run was rolled back" in text
    assert "Traceback" not in text and "cannot rollback" not in text
    settings.data_dir.chmod(0o755)
    assert live_state(settings) == before
    assert leftovers(settings) == []
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert manifest.rows_written == 100


def fill(disk: Path) -> Path:
    """Write zeros until the file system says it is full; the filler, to delete later."""
    filler = disk / f"filler-{len(list(disk.glob('filler-*')))}"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (1 << 16, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def on_small_disk(small_disk: Path, tmp_path: Path, *, warehouse_on_it: bool) -> Settings:
    """October ingested (150 rows, 1 rejected) then replaced (100 rows, 3 rejected): the data
    folder on the small disk, the input on another, the warehouse on either."""
    duckdb_path = (small_disk / "data" if warehouse_on_it else tmp_path) / "warehouse.duckdb"
    settings = Settings(data_dir=small_disk / "data", duckdb_path=duckdb_path)
    settings.data_dir.mkdir()
    (tmp_path / "raw").mkdir()
    (settings.data_dir / "raw").symlink_to(tmp_path / "raw")
    write_raw(settings, "2019-Oct", [*synthetic_lines(150, seed=1), "bad"])
    ingest(settings, ["2019-Oct"])
    write_raw(settings, "2019-Oct", [*synthetic_lines(100, seed=2), "bad", "worse", "worst"])
    return settings


def quarantine_agrees(settings: Settings, rows: int) -> None:
    """The manifest, the quarantine file and bronze.quarantine tell the same month."""
    manifest = Manifest.read(settings.manifest_dir / "2019-Oct.json")
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (loaded,) = con.execute("select count(*) from bronze.quarantine").fetchone()
    in_file = len(pl.read_parquet(settings.quarantine_dir / "2019-Oct.parquet"))
    assert manifest.rows_quarantined == manifest.quarantine_loaded == in_file == loaded == rows


@pytest.fixture
def clean_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("ECOM_")]:
        monkeypatch.delenv(key)


# When the disk fills, whether the warehouse is on it, and how the message starts.
DISK_FILLS = {
    "during the bronze transaction": (
        "bronze-transaction",
        True,
        "Cannot write {warehouse}.wal: no space left on the device",
    ),
    # The journal's `committed` phase cannot be written: bronze goes back with the files.
    "when the commit is recorded": (
        "swapped-manifest",
        False,
        "Cannot write the ingestion journal {journal}: no space left on the device",
    ),
}


@pytest.mark.parametrize("when", list(DISK_FILLS))
def test_a_disk_that_fills_during_the_commit_rolls_the_whole_month_back(
    small_disk, tmp_path, monkeypatch, clean_env, when
):
    step, warehouse_on_it, start = DISK_FILLS[when]
    settings = on_small_disk(small_disk, tmp_path, warehouse_on_it=warehouse_on_it)
    before = live_state(settings)
    fillers: list[Path] = []
    thread = paused_in_this_process(
        monkeypatch, tmp_path, lambda: fillers.append(fill(small_disk)), step
    )
    with pytest.raises(StorageError) as failure:
        ingest(settings, ["2019-Oct"])
    thread.join()
    text = str(failure.value)
    journal = Journal.path_for(settings, "2019-Oct")
    assert text.startswith(start.format(warehouse=settings.warehouse_path, journal=journal)), text
    assert "This run was rolled back: the previous run of 2019-Oct (if any) is live" in text
    assert live_state(settings) == before  # bronze.quarantine included
    quarantine_agrees(settings, 1)
    assert leftovers(settings) == []
    monkeypatch.delenv("ECOM_FAULT_PAUSE_AT")
    fillers[0].unlink()
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert manifest.rows_written == 100
    quarantine_agrees(settings, 3)


def hold_the_warehouse(path: Path) -> subprocess.Popen[str]:
    """Another process with the warehouse open for writing (a notebook, dbt), until killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
    return holder


HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); time.sleep(600)"


def test_a_roll_back_that_cannot_finish_keeps_the_journal_for_the_next_start(
    small_disk, tmp_path, monkeypatch, clean_env
):
    """The commit cannot be recorded, and bronze cannot be put back either (another process
    holds the warehouse): the journal stays, and the next start finishes the roll-back."""
    settings = on_small_disk(small_disk, tmp_path, warehouse_on_it=False)
    before = live_state(settings)
    fillers: list[Path] = []
    holders: list[subprocess.Popen[str]] = []

    def damage() -> None:
        fillers.append(fill(small_disk))
        holders.append(hold_the_warehouse(settings.warehouse_path))

    thread = paused_in_this_process(monkeypatch, tmp_path, damage, "swapped-manifest")
    try:
        with pytest.raises(StorageError) as failure:
            ingest(settings, ["2019-Oct"])
    finally:
        thread.join()
        for holder in holders:
            holder.kill()
            holder.wait()
    text = str(failure.value)
    journal = Journal.path_for(settings, "2019-Oct")
    assert text.startswith(f"Cannot write the ingestion journal {journal}: no space left on")
    held = f"Rolling this run back failed too (Cannot open the warehouse {settings.warehouse_path}"
    assert held in text
    assert f"the journal {journal} is kept, and the next `ecom ingest` finishes the roll" in text
    assert json.loads(journal.read_text())["phase"] == "loading"  # the last phase recorded
    monkeypatch.delenv("ECOM_FAULT_PAUSE_AT")
    fillers[0].unlink()
    recovered: list[str] = []
    ingest(settings, [], report=recovered.append)  # the next start
    assert recovered[0].startswith("rolled back an interrupted ingest of 2019-Oct")
    assert live_state(settings) == before
    quarantine_agrees(settings, 1)
    assert leftovers(settings) == []
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert manifest.rows_written == 100
    quarantine_agrees(settings, 3)
