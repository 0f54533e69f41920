"""Hostile files: wrong month names, events of other months, bad times and prices, NUL bytes
beside invalid UTF-8, compressed files and directories where a CSV should be."""

from __future__ import annotations

import gzip
import math
import os
import subprocess

import duckdb
import polars as pl
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import InputError
from pipeline.ingest import ingest
from pipeline.settings import MONTHS, Settings
from tests.ingest.conftest import synthetic_lines, write_raw
from tests.ingest.processes import live_state, output, start_ingest
from tests.ingest.test_parsing import GOOD, with_field


def reasons(manifest) -> dict[int, str]:
    frame = pl.read_parquet(manifest.quarantine_path)
    return dict(frame.select("source_line", "reason").iter_rows())


# ---- item 2: only the five exact month names ----------------------------------------------
@pytest.mark.parametrize("name", ["2019-oct", "2019-OCT", "2019-October", "2019-10", "Oct"])
def test_a_month_name_that_is_not_an_exact_file_stem_is_refused(settings, raw_month, name):
    raw_month(synthetic_lines(30, seed=1))
    ingest(settings, ["2019-Oct"])
    before = live_state(settings)
    (settings.raw_dir / f"{name}.csv").write_text((settings.raw_dir / "2019-Oct.csv").read_text())
    with pytest.raises(InputError, match=f"Unknown month '{name}'") as failure:
        ingest(settings, [name])
    assert ", ".join(MONTHS) in str(failure.value)
    assert live_state(settings) == before  # October's partition, quarantine, manifest, bronze
    result = CliRunner().invoke(
        app, ["ingest", "--data-dir", str(settings.data_dir), "--month", name]
    )
    assert result.exit_code == InputError.exit_code
    assert "2019-Oct, 2019-Nov" in " ".join(result.output.split())


# ---- item 3: the file's month only ---------------------------------------------------------
OTHER_MONTHS = [
    "2019-11-01 00:00:00 UTC",  # the first instant after October
    "2019-09-30 23:59:59 UTC",
    "1970-01-01 00:00:00 UTC",
    "9999-12-31 23:59:59 UTC",
    "0000-10-01 00:00:00 UTC",
]


def test_events_of_other_months_are_quarantined_as_outside_month(settings, raw_month):
    last_second = with_field(0, "2019-10-31 23:59:59 UTC")
    raw_month([GOOD, *(with_field(0, t) for t in OTHER_MONTHS), last_second])
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert reasons(manifest) == {line: "outside_month" for line in range(3, 3 + len(OTHER_MONTHS))}
    assert manifest.rows_written == 2
    assert manifest.quarantined_by_reason == {"outside_month": len(OTHER_MONTHS)}


def test_november_rows_in_the_october_file_reach_bronze_once(settings, raw_month):
    november = synthetic_lines(50, seed=2, month="2019-Nov")
    raw_month([*synthetic_lines(300, seed=1), *november])
    raw_month(november, month="2019-Nov")
    october, nov = ingest(settings, ["2019-Oct", "2019-Nov"])
    assert october.quarantined_by_reason == {"outside_month": 50}
    assert (october.rows_written, nov.rows_written) == (300, 50)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (in_november,) = con.execute(
            "select count(*) from bronze.events where event_time >= '2019-11-01 00:00:00+00'"
        ).fetchone()
    assert in_november == 50


# ---- item 7: exactly YYYY-MM-DD HH:MM:SS UTC ----------------------------------------------
LENIENT_TIMES = [
    "2019-10-31 23:59:60 UTC",  # a leap second: strptime made it 2019-11-01 00:00:00
    "2019-10-15 12:00:60 UTC",
    "2019-10-0100:00:04  UTC",  # no space between date and time
    "2019-10-01 0:00:04  UTC",  # unpadded hour
    "2019-10-01 00:0:04  UTC",
    "2019-10- 1 00:00:04 UTC",
    "+019-10-01 00:00:04 UTC",
    "2019-10-32 00:00:00 UTC",
    "2019-10-01 24:00:00 UTC",
    "2019-10-01 00:00:04 utc",
]


def test_times_not_in_the_exact_format_are_bad_event_times(settings, raw_month):
    raw_month([GOOD, *(with_field(0, t) for t in LENIENT_TIMES)])
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert reasons(manifest) == {
        line: "bad_event_time" for line in range(3, 3 + len(LENIENT_TIMES))
    }
    assert manifest.rows_written == 1


# ---- item 12: one price spelling ------------------------------------------------------------
VALID_PRICES = {"0": 0.0, "0.40": 0.4, "-1.59": -1.59, "29.05": 29.05, "007.5": 7.5, "-0": 0.0,
                "-0.00": 0.0, "123456789012.25": 123456789012.25}  # fmt: skip
INVALID_PRICES = ["+3", ".5", "5.", "-.5", "1e5", "1E5", "1e-400", "inf", "-inf", "nan", "NaN",
                  " 5", "5 ", "0x10", "1_000", "1,5", "--1", "-", "", "1" + "0" * 400]  # fmt: skip


def test_only_plain_decimal_prices_are_valid(settings, raw_month):
    raw_month([with_field(6, p) for p in [*VALID_PRICES, *INVALID_PRICES]])
    (manifest,) = ingest(settings, ["2019-Oct"])
    bronze = pl.read_parquet(manifest.parts).sort("source_line")
    assert bronze["price"].to_list() == list(VALID_PRICES.values())
    assert all(math.copysign(1, p) == 1 for p in bronze["price"] if p == 0)  # no -0.0 stored
    first_bad = 2 + len(VALID_PRICES)
    # "1,5" splits into one field too many: its own reason, like any extra comma.
    expected = {first_bad + i: "bad_price" for i, p in enumerate(INVALID_PRICES) if p != "1,5"}
    expected[first_bad + INVALID_PRICES.index("1,5")] = "wrong_column_count"
    assert reasons(manifest) == expected


# ---- items 6 and 11: NUL bytes, invalid UTF-8 and U+FFFD ----------------------------------
def test_a_nul_byte_and_an_invalid_byte_quarantine_their_lines_only(settings, raw_month):
    lines = synthetic_lines(200, seed=3)
    fields = lines[50].split(",")
    fields[5] = "f.o\x00x"  # a NUL inside the brand field: line 52
    lines[50] = ",".join(fields)
    path = raw_month(lines)
    data = path.read_bytes()
    assert data.count(b"\x00") == 1
    at = data.index(lines[120].encode())
    path.write_bytes(data[:at] + b"\xff" + data[at + 1 :])  # line 122: one invalid byte
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert reasons(manifest) == {52: "nul_byte", 122: "bad_encoding"}
    assert manifest.rows_written == 198
    quarantine = pl.read_parquet(manifest.quarantine_path).sort("source_line")
    assert quarantine["raw_line"][0] == lines[50]  # the exact text, NUL included
    assert quarantine["raw_line"][1].encode("latin-1") == b"\xff" + lines[120][1:].encode()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (nul_rows,) = con.execute(
            "select count(*) from bronze.events where contains(brand, chr(0))"
        ).fetchone()
        (loaded,) = con.execute("select count(*) from bronze.quarantine").fetchone()
    assert (nul_rows, loaded) == (0, 2)


@pytest.mark.parametrize("invalid_elsewhere", [False, True])
def test_a_valid_line_holding_u_fffd_does_not_depend_on_other_lines(
    settings, raw_month, invalid_elsewhere
):
    replacement = with_field(5, "brand\ufffd")  # valid UTF-8 (ef bf bd)
    path = raw_month([GOOD, replacement, GOOD])
    if invalid_elsewhere:  # one byte that is not UTF-8 in the last line (line 4)
        data = path.read_bytes()
        at = data.rindex(b"f.o.x")
        path.write_bytes(data[:at] + b"f.\xfeo.x" + data[at + 5 :])
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert reasons(manifest) == ({4: "bad_encoding"} if invalid_elsewhere else {})
    bronze = pl.read_parquet(manifest.parts)
    assert "brand\ufffd" in bronze["brand"].to_list()  # line 3 is good either way


# ---- item 10: say what the file is ----------------------------------------------------------
def test_a_compressed_file_is_named_as_such(settings, raw_month):
    path = raw_month([GOOD])
    path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(
        InputError, match=r"looks like gzip-compressed .*\(`gunzip -c`\)"
    ) as failure:
        ingest(settings, ["2019-Oct"])
    assert "\x8b" not in str(failure.value) and "\ufffd" not in str(failure.value)


def test_a_binary_header_is_shown_escaped(settings, raw_month):
    path = raw_month([GOOD])
    path.write_bytes(b"\x00\x01\x02garbage\xff\n" + path.read_bytes())
    with pytest.raises(
        InputError, match=r"found: +\\x00\\x01\\x02garbage\\xff  \(not plain text\)"
    ):
        ingest(settings, ["2019-Oct"])


def test_a_directory_named_like_the_month_is_called_a_directory(settings):
    (settings.raw_dir / "2019-Oct.csv").mkdir(parents=True)
    for months in (["2019-Oct"], None):
        with pytest.raises(InputError, match=r"2019-Oct.csv is a directory, not a file"):
            ingest(settings, months)


def test_an_old_manifest_stays_readable_and_a_newer_one_too(settings, raw_month):
    """Manifest fields added later have defaults; fields it does not know are ignored."""
    import json

    from pipeline.ingest import Manifest

    raw_month([GOOD])
    (manifest,) = ingest(settings, ["2019-Oct"])
    path = settings.manifest_dir / "2019-Oct.json"
    data = json.loads(path.read_text())
    old = {k: v for k, v in data.items() if k not in ("run_id", "forced")}
    path.write_text(json.dumps({**old, "uplift_rate": 0.05}))
    read = Manifest.read(path)
    assert (read.run_id, read.forced, read.rows_written) == ("", False, manifest.rows_written)


def test_the_generated_months_pass_the_strict_rules(settings):
    """Every month the generator writes (first and last days included) parses without loss."""
    import json

    from pipeline.generate import generate

    paths = generate(settings.raw_dir, scale=0.0005, months=list(MONTHS), malformed_share=0.0)
    manifests = ingest(settings, list(MONTHS), load_warehouse=False)
    for path, manifest in zip(paths, manifests, strict=True):
        truth = json.loads(path.with_name(path.stem + ".truth.json").read_text())
        assert manifest.rows_quarantined == 0, manifest.quarantined_by_reason
        assert manifest.rows_written == truth["data_lines"]


# ---- issue 19: what is not a plain file, paths with glob characters, near-miss names --------
def unwrapped(text: str) -> str:
    """The text without any whitespace: rich may wrap a long path anywhere in the CLI's output."""
    return "".join(text.split())


def test_a_named_pipe_is_refused_at_once_and_does_not_hold_the_lock(settings, raw_month):
    raw_month(synthetic_lines(30, seed=1, month="2019-Nov"), month="2019-Nov")
    os.mkfifo(settings.raw_dir / "2019-Oct.csv")  # nothing ever writes to it
    run = start_ingest(settings.data_dir, "--month", "2019-Oct")
    try:
        done = run.finish(timeout=60)
    except subprocess.TimeoutExpired:
        run.kill()
        pytest.fail("`ecom ingest` blocked on the named pipe")
    text = output(done)
    assert done.returncode == InputError.exit_code, text
    expected = f"{settings.raw_dir / '2019-Oct.csv'} is a named pipe (FIFO), not a file"
    assert unwrapped(expected) in unwrapped(text)
    for months in (["2019-Oct"], None):  # in-process too, named or found by an all-months run
        with pytest.raises(InputError, match=r"2019-Oct.csv is a named pipe \(FIFO\), not a file"):
            ingest(settings, months)
    (november,) = ingest(settings, ["2019-Nov"])  # the lock is free
    assert november.rows_written == 30


def test_a_data_folder_whose_path_holds_glob_characters(tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith("ECOM_")]:
        monkeypatch.delenv(key)
    # A sibling that the path, read as a pattern, would match instead: never read from.
    decoy = Settings(data_dir=tmp_path / "data1")
    write_raw(decoy, "2019-Oct", synthetic_lines(10, seed=5))
    ingest(decoy, ["2019-Oct"])
    settings = Settings(data_dir=tmp_path / "data[1]")
    write_raw(settings, "2019-Oct", [*synthetic_lines(40, seed=1), "bad line"])
    write_raw(settings, "2019-Nov", synthetic_lines(20, seed=2, month="2019-Nov"))
    october, november = ingest(settings, ["2019-Oct", "2019-Nov"])
    assert (october.rows_written, october.rows_quarantined) == (40, 1)
    assert (october.rows_loaded, october.quarantine_loaded) == (40, 1)
    assert november.rows_loaded == 20
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        (events,) = con.execute("select count(*) from bronze.events").fetchone()
        (rejects,) = con.execute("select count(*) from bronze.quarantine").fetchone()
    assert (events, rejects) == (60, 1)
    (again,) = ingest(settings, ["2019-Oct"])  # a re-run replaces, as anywhere else
    assert (again.rows_loaded, again.quarantine_loaded) == (40, 1)


NEAR_MISSES = {
    "2019-oct.csv": "2019-oct.csv (not read: month names are case-sensitive; rename it 2019-Oct.csv)",
    "2019-Oct.csv.gz": "2019-Oct.csv.gz (not read: compressed; decompress it to 2019-Oct.csv)",
}


@pytest.mark.parametrize("name", list(NEAR_MISSES))
def test_a_file_named_almost_like_a_month_is_reported_not_skipped(settings, raw_month, name):
    raw_month(synthetic_lines(20, seed=2, month="2019-Nov"), month="2019-Nov")
    near = settings.raw_dir / name
    near.write_bytes(b"anything")
    result = CliRunner().invoke(app, ["ingest", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 0, result.output
    expected = f"warning: Found in {settings.raw_dir}: {NEAR_MISSES[name]}"
    assert unwrapped(expected) in unwrapped(result.output)
    (settings.raw_dir / "2019-Nov.csv").unlink()  # no month left to ingest: the error says it
    with pytest.raises(InputError, match=r"No raw files in .*") as failure:
        ingest(settings)
    assert NEAR_MISSES[name] in str(failure.value)
    with pytest.raises(InputError, match="No raw file for 2019-Oct at") as failure:
        ingest(settings, ["2019-Oct"])
    assert NEAR_MISSES[name] in str(failure.value)
