"""The byte scans that count a body's rows before it is parsed (api/scan.py), against Python's
own JSON and CSV readers on generated bodies, with blocks small enough to cut every token."""

from __future__ import annotations

import csv
import io
import json
import random

import pytest

from api import scan

BLOCKS = (3, 7, 64, scan.BLOCK_BYTES)
ALPHABET = 'ab,[]{}"\\\n\r: é;'


def _text(rnd: random.Random) -> str:
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 6)))


def _value(rnd: random.Random, depth: int = 0):
    roll = rnd.random()
    if depth < 3 and roll < 0.2:
        return [_value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))]
    if depth < 3 and roll < 0.4:
        return {_text(rnd): _value(rnd, depth + 1) for _ in range(rnd.randint(0, 3))}
    return rnd.choice([1, 2.5, None, True, _text(rnd)])


@pytest.fixture(params=BLOCKS)
def block(request, monkeypatch):
    monkeypatch.setattr(scan, "BLOCK_BYTES", request.param)
    return request.param


def test_json_rows_are_the_arrays_elements(block):
    rnd = random.Random(block)
    for _ in range(600):
        document = [_value(rnd) for _ in range(rnd.randint(0, 6))]
        body = json.dumps(
            document, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 1])
        ).encode()
        found = scan.scan_json(body, max_depth=50, max_rows=100)
        rows = [json.loads(body[a:e]) for a, e in zip(found.starts, found.ends, strict=True)]
        assert rows == document, body


def test_csv_rows_are_the_readers_records(block):
    rnd = random.Random(block)
    for _ in range(600):
        records = [
            [_text(rnd).replace("\\", "") for _ in range(rnd.randint(1, 3))]
            for _ in range(rnd.randint(0, 6))
        ]
        out = io.StringIO()
        writer = csv.writer(out, lineterminator=rnd.choice(["\n", "\r\n", "\r"]))
        writer.writerow(["h1", "h2"])
        writer.writerows(records)
        text = out.getvalue()
        expected = sum(1 for r in csv.reader(io.StringIO(text, newline="")) if r) - 1
        assert scan.scan_csv(text.encode(), max_rows=100).rows == expected, text


@pytest.mark.parametrize(
    ("body", "kind", "offset"),
    [
        (b"[1,2,3]", "rows", 4),  # the comma before the first row past the limit of 2
        (b'{"a": 1}', "not_array", 0),
        (b'"text"', "not_array", 0),
        (b"[1]]", "syntax", 3),
        (b"[1} ", "syntax", 2),
        (b"[1] x", "syntax", 3),
        (b"[[[[1]]]]", "depth", 3),
        (b'["abc', "unterminated", 5),
    ],
)
def test_json_problems_are_found_where_they_are(body, kind, offset):
    with pytest.raises(scan.ScanError) as found:
        scan.scan_json(body, max_depth=3, max_rows=2)
    assert (found.value.kind, found.value.offset) == (kind, offset)


def test_the_row_of_a_nested_value_is_named():
    with pytest.raises(scan.ScanError) as found:
        scan.scan_json(b'[{"a":1}, {"b":[1]}]', max_depth=2, max_rows=10)
    assert found.value.row == 2


def test_csv_limits_and_quotes():
    assert scan.scan_csv(b"\n\nh\r\n1\r\n\r\n2", max_rows=5).rows == 2  # empty lines are not rows
    with pytest.raises(scan.ScanError) as too_many:
        scan.scan_csv(b"h\n" + b"1\n" * 1000, max_rows=10)
    assert too_many.value.kind == "rows"
    with pytest.raises(scan.ScanError) as open_quote:
        scan.scan_csv(b'h\n1,"x\n2\n', max_rows=10)
    assert (open_quote.value.kind, open_quote.value.offset) == ("unterminated", 4)


def test_a_five_million_line_body_stops_in_the_first_block():
    body = b"h\n" + b"1\n" * 5_000_000
    with pytest.raises(scan.ScanError) as found:
        scan.scan_csv(body, max_rows=100_000)
    assert found.value.offset < scan.BLOCK_BYTES
