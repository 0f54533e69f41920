"""Strict parsing: every kind of bad line lands in quarantine with its reason, text and line."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest

from pipeline.errors import InputError
from pipeline.ingest import REASONS, ingest
from pipeline.schema import BRONZE_SCHEMA, QUARANTINE_SCHEMA

GOOD = (
    "2019-10-01 00:00:04 UTC,view,5712790,1487580005268456287,,f.o.x,0.40,576802932,"
    "51d85cb0-897f-48d2-918b-ad63965c12dc"
)


def with_field(index: int, value: str) -> str:
    fields = GOOD.split(",")
    fields[index] = value
    return ",".join(fields)


# (raw line, expected reason): hand-written, one or more per reason.
BAD_LINES: list[tuple[str, str]] = [
    (with_field(5, "f.o\x00x"), "nul_byte"),
    (GOOD.replace(",f.o.x,", ',"f.o.x, inc",'), "quoted_field"),
    (GOOD.rsplit(",", 1)[0], "wrong_column_count"),
    (GOOD + ",extra", "wrong_column_count"),
    ("", "wrong_column_count"),
    ("garbage", "wrong_column_count"),
    (with_field(0, "2019-10-01 00:00:04"), "bad_event_time"),
    (with_field(0, "2019-13-01 00:00:04 UTC"), "bad_event_time"),
    (with_field(0, "2019-10-01T00:00:04 UTC"), "bad_event_time"),
    (with_field(0, " 2019-10-01 00:00:04 UTC"), "bad_event_time"),
    (with_field(0, "2019-10-01 0:0:04 UTC"), "bad_event_time"),
    (with_field(0, ""), "bad_event_time"),
    (with_field(0, "2019-10-31 23:59:60 UTC"), "bad_event_time"),
    (with_field(0, "2019-10-0100:00:04  UTC"), "bad_event_time"),
    (with_field(0, "2019-11-01 00:00:00 UTC"), "outside_month"),
    (with_field(0, "2019-09-30 23:59:59 UTC"), "outside_month"),
    (with_field(1, "checkout"), "unknown_event_type"),
    (with_field(1, "View"), "unknown_event_type"),
    (with_field(1, ""), "unknown_event_type"),
    (with_field(2, ""), "bad_product_id"),
    (with_field(2, "12a"), "bad_product_id"),
    (with_field(2, "+5"), "bad_product_id"),
    (with_field(2, "-5"), "bad_product_id"),
    (with_field(2, "05"), "bad_product_id"),
    (with_field(3, "1.487580005268456e+18"), "bad_category_id"),
    (with_field(3, "99999999999999999999"), "bad_category_id"),
    (with_field(3, ""), "bad_category_id"),
    (with_field(6, ""), "bad_price"),
    (with_field(6, "abc"), "bad_price"),
    (with_field(6, "nan"), "bad_price"),
    (with_field(6, "inf"), "bad_price"),
    (with_field(6, "1.2.3"), "bad_price"),
    (with_field(6, "1e-400"), "bad_price"),
    (with_field(6, "+3"), "bad_price"),
    (with_field(6, ".5"), "bad_price"),
    (with_field(7, ""), "empty_user_id"),
    (with_field(7, "unknown"), "bad_user_id"),
    (with_field(7, "5.5e8"), "bad_user_id"),
    (with_field(7, "1234567890123456789012"), "bad_user_id"),
    # Several problems: the first reason in REASONS order wins.
    (with_field(1, "checkout").replace("0.40", "x"), "unknown_event_type"),
]


@pytest.fixture
def mixed_month(raw_month):
    """Good lines at known positions with every bad line in between."""
    lines = []
    for bad, _ in BAD_LINES:
        lines += [GOOD, bad]
    lines.append(GOOD)
    return raw_month(lines)


def test_every_reason_is_exercised():
    assert {reason for _, reason in BAD_LINES} == set(REASONS) - {"bad_encoding"}


def test_bad_lines_are_quarantined_with_reason_line_and_exact_text(settings, mixed_month):
    (manifest,) = ingest(settings, ["2019-Oct"], load_warehouse=False)
    quarantine = pl.read_parquet(settings.quarantine_dir / "2019-Oct.parquet")
    assert quarantine.schema == QUARANTINE_SCHEMA
    expected = pl.DataFrame(
        {
            "source_file": ["2019-Oct.csv"] * len(BAD_LINES),
            # header is line 1; good lines at 2, 4, ...; bad lines at 3, 5, ...
            "source_line": [3 + 2 * i for i in range(len(BAD_LINES))],
            "raw_line": [line for line, _ in BAD_LINES],
            "reason": [reason for _, reason in BAD_LINES],
        },
        schema=QUARANTINE_SCHEMA,
    )
    assert quarantine.sort("source_line").equals(expected)
    assert manifest.rows_read == 2 * len(BAD_LINES) + 1
    assert manifest.rows_quarantined == len(BAD_LINES)
    assert manifest.rows_written == len(BAD_LINES) + 1
    expected_reasons = pl.Series([r for _, r in BAD_LINES]).value_counts()
    assert manifest.quarantined_by_reason == dict(expected_reasons.iter_rows())


def test_good_rows_parse_strictly_into_the_bronze_schema(settings, raw_month):
    raw_month([GOOD, with_field(6, "-1.59").replace("view", "cart"), with_field(8, "")])
    (manifest,) = ingest(settings, ["2019-Oct"], load_warehouse=False)
    bronze = pl.read_parquet(manifest.parts)
    assert bronze.schema == BRONZE_SCHEMA
    first = bronze.row(0, named=True)
    assert first["event_time"] == datetime(2019, 10, 1, 0, 0, 4, tzinfo=UTC)
    assert first["category_id"] == 1487580005268456287  # above 2^53: exact, never a float
    assert first["price"] == 0.4
    assert first["category_code"] is None  # empty text is null, not ""
    assert first["brand"] == "f.o.x"
    assert first["user_id"] == 576802932
    assert first["source_line"] == 2
    assert bronze["price"].to_list() == [0.4, -1.59, 0.4]  # negative prices are data
    assert bronze["user_session"].to_list()[2] is None


def test_windows_line_endings_are_read_like_unix_ones(settings, raw_month):
    raw_month([GOOD, with_field(1, "checkout")], newline="\r\n")
    (manifest,) = ingest(settings, ["2019-Oct"], load_warehouse=False)
    assert (manifest.rows_written, manifest.rows_quarantined) == (1, 1)
    quarantine = pl.read_parquet(manifest.quarantine_path)
    assert quarantine["raw_line"].to_list() == [with_field(1, "checkout")]  # no stray \r


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_invalid_utf8_is_quarantined_with_its_exact_bytes(settings, raw_month, newline):
    path = raw_month([GOOD, GOOD, with_field(5, "caf\u00e9"), GOOD], newline=newline)
    data = (
        path.read_bytes()
        .replace(b"f.o.x", b"f.\xffo.x", 1)
        .replace(b"caf\xc3\xa9", b"caf\xe9\xc3\xa9")
    )
    path.write_bytes(data)
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert (manifest.rows_read, manifest.rows_written) == (4, 2)
    assert manifest.quarantined_by_reason == {"bad_encoding": 2}
    assert manifest.quarantine_loaded == 2
    quarantine = pl.read_parquet(manifest.quarantine_path)
    assert quarantine["source_line"].to_list() == [2, 4]
    # Latin-1 text of the line's bytes: encoding it back gives exactly what the file holds.
    exact = [line.encode("latin-1") for line in quarantine["raw_line"]]
    assert exact == [
        GOOD.encode().replace(b"f.o.x", b"f.\xffo.x"),
        with_field(5, "caf\u00e9").encode().replace(b"caf\xc3\xa9", b"caf\xe9\xc3\xa9"),
    ]
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = con.execute("select raw_line from bronze.quarantine order by source_line")
        assert [row[0].encode("latin-1") for row in loaded.fetchall()] == exact


def test_a_file_with_another_header_is_refused(settings, raw_month):
    path = raw_month([GOOD])
    path.write_text(path.read_text().replace("event_time,", "time,", 1))
    with pytest.raises(InputError, match="does not start with the raw header"):
        ingest(settings, ["2019-Oct"])


def test_missing_month_and_unknown_month_say_what_to_do(settings):
    with pytest.raises(InputError, match="ecom generate"):
        ingest(settings, ["2019-Oct"])
    with pytest.raises(InputError, match="Unknown month"):
        ingest(settings, ["October"])
    with pytest.raises(InputError, match="No raw files"):
        ingest(settings)


def test_a_header_only_month_gives_empty_outputs(settings, raw_month):
    raw_month([])
    (manifest,) = ingest(settings, ["2019-Oct"])
    assert (manifest.rows_read, manifest.rows_written, manifest.rows_quarantined) == (0, 0, 0)
    assert pl.read_parquet(manifest.quarantine_path).height == 0
