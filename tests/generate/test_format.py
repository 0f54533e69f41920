"""The files look exactly like the real ones: names, header, value formats, order, dirt kinds."""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.generate import MALFORMED_KINDS, generate
from pipeline.generate.calibration import MONTH_ROWS
from pipeline.schema import EVENT_TYPES, RAW_COLUMNS
from pipeline.settings import MONTHS
from tests.generate.conftest import SMALL_SCALE

TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC")
PRICE_RE = re.compile(r"-?\d+\.\d{2}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def strict_problem(fields: list[str]) -> str | None:
    """An independent strict reader: why a parsed CSV record is not a valid event, or None."""
    if len(fields) != len(RAW_COLUMNS):
        return "wrong_column_count"
    time, etype, product, category, _code, _brand, price, user, session = fields
    try:
        datetime.strptime(time, "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return "unparsable_time"
    if not PRICE_RE.fullmatch(price):
        return "unparsable_price"
    if etype not in EVENT_TYPES:
        return "unknown_event_type"
    if user == "":
        return "empty_user_id"
    assert TIME_RE.fullmatch(time)
    assert product.isdigit() and int(product) > 0
    assert category.isdigit() and len(category) == 19 and int(category) > 2**53
    assert user.isdigit() and len(user) == 9
    assert session == "" or UUID_RE.fullmatch(session)
    return None


def read_month(path: Path) -> tuple[list[str], dict[int, list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], {i + 2: r for i, r in enumerate(rows[1:])}


def test_one_file_per_month_with_the_real_header(small_dir: Path) -> None:
    assert sorted(p.name for p in small_dir.glob("*.csv")) == sorted(f"{m}.csv" for m in MONTHS)
    for month in MONTHS:
        header, lines = read_month(small_dir / f"{month}.csv")
        assert header == list(RAW_COLUMNS)
        assert len(lines) == round(MONTH_ROWS[month] * SMALL_SCALE)


def test_every_line_is_valid_except_the_listed_malformed_ones(small_dir: Path) -> None:
    for month in MONTHS:
        _, lines = read_month(small_dir / f"{month}.csv")
        truth = json.loads((small_dir / f"{month}.truth.json").read_text())
        found: dict[str, list[int]] = {k: [] for k in MALFORMED_KINDS}
        for number, fields in lines.items():  # a test may loop: it is the independent reader
            problem = strict_problem(fields)
            if problem:
                found[problem].append(number)
        listed = {k: v["lines"] for k, v in truth["malformed"].items()}
        assert found == listed
        counts = [v["count"] for v in truth["malformed"].values()]
        assert sum(counts) == truth["malformed_lines"] == round(len(lines) * 0.0002)
        assert max(counts) - min(counts) <= 1  # kinds split evenly
        assert truth["valid_lines"] == len(lines) - sum(counts)


def test_value_formats_match_the_real_samples(small_dir: Path) -> None:
    text = (small_dir / "2019-Dec.csv").read_text()
    prices = re.findall(r",(-?\d+\.\d+),\d{9},", text)
    assert all(PRICE_RE.fullmatch(p) for p in prices)
    assert any(p.endswith("0") for p in prices)  # "0.40", not "0.4"
    assert "0.00" in prices and any(p.startswith("-") for p in prices)
    assert ",,," in text  # empty fields for nulls, never "null" or "None"
    assert "null" not in text.lower().replace("nullify", "") and "None" not in text


def test_rows_are_sorted_by_time(small_dir: Path) -> None:
    _, lines = read_month(small_dir / "2020-Feb.csv")
    times = [f[0] for f in lines.values() if strict_problem(f) is None]
    assert times == sorted(times)
    assert times[0] >= "2020-02-01 00:00:00 UTC" and times[-1] <= "2020-02-29 23:59:59 UTC"


def test_same_seed_same_bytes_whatever_months_are_asked(small_dir: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "a", scale=SMALL_SCALE, seed=42, months=["2019-Dec"])
    assert [p.name for p in again] == ["2019-Dec.csv"]
    assert again[0].read_bytes() == (small_dir / "2019-Dec.csv").read_bytes()
    other = generate(tmp_path / "b", scale=SMALL_SCALE, seed=43, months=["2019-Dec"])
    assert other[0].read_bytes() != (small_dir / "2019-Dec.csv").read_bytes()


def test_malformed_share_zero_gives_only_valid_lines(tmp_path: Path) -> None:
    (path,) = generate(tmp_path, scale=0.002, seed=1, months=["2019-Oct"], malformed_share=0)
    _, lines = read_month(path)
    assert all(strict_problem(f) is None for f in lines.values())
    assert json.loads(path.with_name("2019-Oct.truth.json").read_text())["malformed_lines"] == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scale": 0}, "scale"),
        ({"months": ["2019-Sep"]}, "unknown month"),
        ({"malformed_share": 0.9}, "malformed_share"),
    ],
)
def test_bad_arguments_say_what_to_do(tmp_path: Path, kwargs: dict, message: str) -> None:
    from pipeline.errors import InputError

    with pytest.raises(InputError, match=message):
        generate(tmp_path, **kwargs)
