"""Bulk input as CSV: counted by a byte scan, parsed by Arrow, checked column-wise.

CSV is parsed by Arrow's C++ reader and checked with vectorized Arrow compute functions: no
per-row Python. CSV has no types, so its rules are the SQL scorer's: an empty cell is missing,
counts are whole numbers ("3" or "3.0"), the group is 'control' or 'treatment' in any case,
surrounding spaces are ignored. Quoting is RFC 4180's: a value with the delimiter, a quote or a
line break in it is quoted, and its quotes are doubled; a quote that never closes is an error
(not, as Arrow would have it, a value that runs to the end of the file).

The header names the four features in any order; any other column (an id, a segment) passes
through and comes back beside the scores. The delimiter is a comma, or a semicolon when the
header is semicolon-separated (a spreadsheet saved in a comma-decimal locale): the file is then
read as such, and a number written with a decimal comma is an error saying so.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from api.bulk import SCORE_COLUMNS, Batch, Problems, invalid, too_many
from api.errors import MAX_LISTED_ERRORS, ApiError
from api.scan import ScanError, line_and_column, scan_csv
from pipeline.serving.features import BY_NAME, FEATURES, GROUP_CODES

# Syntax of a CSV cell, after trimming: a whole number, or any finite decimal number.
_WHOLE = r"^[+-]?[0-9]+(\.0*)?$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"
_DECIMAL_COMMA = r"^[+-]?[0-9]*,[0-9]+$"
NOT_UTF8 = "The CSV is not UTF-8 text: save it as UTF-8 and send it again."
QUOTING = (
    "a value holding the delimiter, a quote or a line break must be wrapped in quotes, and "
    'a quote inside it doubled ("a ""b"" c")'
)


def parse_csv(data: bytes, max_rows: int) -> Batch:
    """CSV bytes (UTF-8, optional BOM, LF, CRLF or CR) -> Batch, or an ApiError saying what to
    fix: 400 when it cannot be read, 413 over max_rows, 422 when rows are invalid."""
    if not data.strip():
        raise ApiError(
            422,
            f"The CSV is empty: it needs a header with {', '.join(FEATURES)} and one row per "
            "session.",
            [{"row": None, "field": f, "message": "missing column"} for f in FEATURES],
        )
    try:
        lines = scan_csv(data, max_rows=max_rows)
    except ScanError as err:
        if err.kind == "rows":
            raise too_many(max_rows) from None
        line, _ = line_and_column(data, err.offset)
        raise ApiError(
            400,
            f"The CSV has a quote that never closes (it opens on line {line}): {QUOTING}.",
        ) from None
    _check_utf8(data)
    header_line = data[lines.header_start : lines.header_end].rstrip(b"\r").decode("utf-8-sig")
    delimiter = _delimiter(header_line)
    header = _header(header_line, delimiter)
    _check_columns(header, delimiter)
    problems = Problems()
    seen_rows = 0

    def on_invalid_row(row: Any) -> str:
        nonlocal seen_rows
        seen_rows += 1
        problems.add(
            [
                {
                    "row": None if row.number is None else row.number - 1,
                    "field": None,
                    "message": f"{row.actual_columns} values where the header has "
                    f"{row.expected_columns}",
                }
            ]
        )
        return "skip"

    body = pa.py_buffer(memoryview(data)[lines.header_start :])
    try:
        table = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=1 << 22, skip_rows=1, column_names=header
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=True, invalid_row_handler=on_invalid_row
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        if "UTF8" in str(err) or "utf8" in str(err).lower():
            raise ApiError(400, NOT_UTF8) from None
        raise ApiError(400, f"The CSV could not be read: {QUOTING}.") from None
    problems.raise_if_any()
    if table.num_rows + seen_rows != lines.rows:  # quotes Arrow read otherwise than RFC 4180
        raise ApiError(400, f"The CSV's quotes do not pair up: {QUOTING}.")
    columns: dict[str, np.ndarray] = {}
    items: list[dict[str, Any]] = []  # the first rows of each column's problems
    total = 0
    for name in FEATURES:
        values, found = _parse_column(name, table.column(name).combine_chunks(), delimiter)
        columns[name] = values
        for rows, message in found:
            items += [
                {"row": int(i) + 1, "field": name, "message": message}
                for i in rows[:MAX_LISTED_ERRORS]
            ]
            total += len(rows)
    if total:
        items.sort(key=lambda e: (e["row"], FEATURES.index(e["field"])))
        raise invalid(items[:MAX_LISTED_ERRORS], total)
    matrix = np.column_stack([columns[name] for name in FEATURES]).reshape(
        table.num_rows, len(FEATURES)
    )
    passthrough = {c: table.column(c) for c in header if c not in BY_NAME}
    return Batch(matrix, passthrough, header)


def _check_utf8(data: bytes) -> None:
    """400 naming the line of the first byte that is not UTF-8 (decoded a block at a time: no
    copy of the whole body)."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    view = memoryview(data)
    step = 1 << 20
    for start in range(0, len(data), step):
        try:
            decoder.decode(view[start : start + step], final=start + step >= len(data))
        except UnicodeDecodeError as err:
            line, _ = line_and_column(data, start + err.start)
            raise ApiError(400, f"{NOT_UTF8[:-1]} (line {line} is not).") from None


def _delimiter(header_line: str) -> str:
    """',' unless the header is semicolon-separated (it names the features with ';')."""
    commas, semicolons = header_line.count(","), header_line.count(";")
    if semicolons and (not commas or _names_features(header_line, ";")):
        return ";"
    return ","


def _names_features(header_line: str, delimiter: str) -> bool:
    return set(FEATURES) <= set(_header(header_line, delimiter))


def _header(line: str, delimiter: str) -> list[str]:
    """The header's column names (quotes and surrounding spaces removed)."""
    return [cell.strip().strip('"').strip() for cell in line.split(delimiter)]


def _check_columns(header: Sequence[str], delimiter: str) -> None:
    missing = [f for f in FEATURES if f not in header]
    repeated = sorted({c for c in header if header.count(c) > 1})
    reserved = [c for c in header if c in SCORE_COLUMNS]
    unnamed = [str(i + 1) for i, c in enumerate(header) if not c]
    if not (missing or repeated or reserved or unnamed):
        return
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if repeated:
        parts.append(f"repeated {', '.join(repeated)}")
    if reserved:
        parts.append(f"{', '.join(reserved)} is the answer's own column: rename it")
    if unnamed:
        parts.append(f"column {', '.join(unnamed)} has no name")
    read_as = " (read as semicolon-separated)" if delimiter == ";" else ""
    raise ApiError(
        422,
        f"The CSV header{read_as} must name {', '.join(FEATURES)}, each once; other columns "
        f"pass through ({'; '.join(parts)}).",
        [{"row": None, "field": f, "message": "missing column"} for f in missing]
        + [{"row": None, "field": c, "message": "repeated column"} for c in repeated]
        + [{"row": None, "field": c, "message": "reserved column name"} for c in reserved]
        + [{"row": None, "field": None, "message": f"column {i} has no name"} for i in unnamed],
    )


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _parse_column(
    name: str, raw: pa.Array, delimiter: str
) -> tuple[np.ndarray, list[tuple[np.ndarray, str]]]:
    """One CSV column -> float64 values (NaN = missing) and its problems, all vectorized."""
    feature = BY_NAME[name]
    cells = pc.utf8_trim_whitespace(raw)
    empty = _mask(pc.equal(cells, ""))
    problems: list[tuple[np.ndarray, str]] = []
    if feature.kind == "group":
        lowered = pc.utf8_lower(cells)
        codes = np.full(len(raw), np.nan)
        for group, code in GROUP_CODES.items():
            codes[_mask(pc.equal(lowered, group))] = float(code)
        bad = np.isnan(codes) & ~empty
        if bad.any():
            problems.append(
                (np.flatnonzero(bad), f"must be one of {', '.join(GROUP_CODES)} or empty")
            )
        return codes, problems
    pattern = _WHOLE if feature.kind == "count" else _NUMBER
    well_formed = _mask(pc.match_substring_regex(cells, pattern))
    malformed = ~well_formed & ~empty
    if malformed.any():
        what = "a whole number" if feature.kind == "count" else "a finite number"
        message = f"must be {what} or empty"
        decimal_comma = _mask(pc.match_substring_regex(cells, _DECIMAL_COMMA)) & malformed
        if delimiter == ";" and decimal_comma.any():
            problems.append(
                (np.flatnonzero(decimal_comma), f"{message} (write decimals with a point: 12.5)")
            )
            malformed &= ~decimal_comma
        if malformed.any():
            problems.append((np.flatnonzero(malformed), message))
    usable = pa.array(well_formed)
    numbers = pc.cast(pc.if_else(usable, cells, pa.scalar(None, pa.string())), pa.float64())
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    outside = well_formed & ~((values >= feature.minimum) & (values <= feature.maximum))
    if outside.any():
        problems.append(
            (
                np.flatnonzero(outside),
                f"outside the valid range [{feature.minimum:g}, {feature.maximum:g}]",
            )
        )
    return values, problems
