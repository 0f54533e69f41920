"""Bulk input: a JSON array of sessions or a CSV, validated row by row, encoded column-wise.

Nothing is scored unless every row is valid: a bad row is a 422 that names its row (1-based,
the CSV header not counted) and field, never a silently skipped or guessed row.

JSON is validated by pydantic against the same field rules as /predict (a TypedDict, so
100,000 rows make no 100,000 objects). CSV is parsed by Arrow's C++ reader and checked with
vectorized Arrow compute functions: no per-row Python. CSV has no types, so its rules are the
SQL scorer's: an empty cell is missing, counts are whole numbers ("3" or "3.0"), the group is
'control' or 'treatment' in any case, surrounding spaces are ignored.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from pydantic import TypeAdapter, ValidationError

from api.errors import MAX_LISTED_ERRORS, ApiError, summarize, validation_items
from api.schemas import SessionRow
from pipeline.serving.features import BY_NAME, FEATURES, GROUP_CODES

_ROWS = TypeAdapter(list[SessionRow])
# Syntax of a CSV cell, after trimming: a whole number, or any finite decimal number.
_WHOLE = r"^[+-]?[0-9]+(\.0*)?$"
_NUMBER = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


@dataclass
class Batch:
    """Validated rows: the encoded matrix (NaN = missing), contract order, group encoded."""

    matrix: np.ndarray

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])


def _too_many(rows: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"{rows:,} rows is over the limit of {limit:,} rows per request "
        "(ECOM_BULK_MAX_ROWS): split the input into smaller requests.",
    )


def _invalid(items: Sequence[Mapping[str, Any]], total: int | None = None) -> ApiError:
    total = len(items) if total is None else total
    detail = summarize(items, f"{total:,} invalid value{'s' if total != 1 else ''}")
    if total > MAX_LISTED_ERRORS:
        detail += f" The first {MAX_LISTED_ERRORS} are listed."
    return ApiError(422, detail + " Nothing was scored: fix these rows and send again.", items)


# ----------------------------------------------------------------------------- JSON


def parse_json(body: bytes, max_rows: int) -> Batch:
    """A JSON array of sessions -> Batch; 400 if not JSON, 413 over max_rows, 422 if invalid."""
    if not body.strip():
        raise ApiError(400, "The body is empty: send a JSON array of sessions, or a CSV file.")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as fast_error:
        try:  # the standard parser reads NaN and Infinity, so they get a 422 naming the field
            data = json.loads(body)
        except (ValueError, RecursionError):
            raise ApiError(
                400,
                f"The body is not valid JSON ({fast_error}). Send a JSON array of sessions.",
            ) from None
    if not isinstance(data, list):
        raise ApiError(
            422,
            "The body must be a JSON array of sessions (objects with "
            f"{', '.join(FEATURES)}), or a CSV file in the multipart field 'file'.",
            [{"row": None, "field": None, "message": "expected a JSON array"}],
        )
    if len(data) > max_rows:
        raise _too_many(len(data), max_rows)
    try:
        rows = _ROWS.validate_python(data)
    except ValidationError as err:
        raw = err.errors(include_url=False, include_input=False)
        raise _invalid(validation_items(raw[:MAX_LISTED_ERRORS], row_offset=1), len(raw)) from None
    columns: dict[str, np.ndarray] = {}
    for name in FEATURES:
        if BY_NAME[name].kind == "group":
            codes = {**{k: float(v) for k, v in GROUP_CODES.items()}, None: math.nan}
            columns[name] = np.fromiter((codes[r[name]] for r in rows), np.float64, len(rows))
        else:  # None -> NaN in a float array
            columns[name] = np.array([r[name] for r in rows], dtype=np.float64).reshape(-1)
    return Batch(_stack(columns, len(rows)))


# ----------------------------------------------------------------------------- CSV


def parse_csv(data: bytes, max_rows: int) -> Batch:
    """CSV bytes (UTF-8, optional BOM, LF or CRLF) -> Batch, or an ApiError saying what to fix."""
    if not data.strip():
        raise ApiError(
            422,
            f"The CSV is empty: it needs a header with {', '.join(FEATURES)} and one row per "
            "session.",
            [{"row": None, "field": f, "message": "missing column"} for f in FEATURES],
        )
    bad_rows: list[dict[str, Any]] = []

    def on_invalid_row(row: Any) -> str:
        bad_rows.append(
            {
                "row": None if row.number is None else row.number - 1,
                "field": None,
                "message": f"{row.actual_columns} fields where the header has "
                f"{row.expected_columns}",
            }
        )
        return "skip"

    header = _header(data)
    _check_columns(header)
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                use_threads=False, block_size=1 << 22, skip_rows=1, column_names=header
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as err:
        if "UTF8" in str(err):
            raise ApiError(
                400, "The CSV is not UTF-8 text: save it as UTF-8 and send it again."
            ) from None
        raise ApiError(400, f"The CSV could not be read ({_arrow_message(err)}).") from None
    if bad_rows:
        raise _invalid(bad_rows)
    if table.num_rows > max_rows:
        raise _too_many(table.num_rows, max_rows)
    columns: dict[str, np.ndarray] = {}
    problems: list[tuple[np.ndarray, str, str]] = []  # (row indices, field, message)
    for name in FEATURES:
        values, bad = _parse_column(name, table.column(name).combine_chunks())
        columns[name] = values
        problems.extend(bad)
    if problems:
        items = sorted(
            (
                {"row": int(i) + 1, "field": field, "message": message}
                for rows, field, message in problems
                for i in rows[:MAX_LISTED_ERRORS]
            ),
            key=lambda e: (e["row"], FEATURES.index(e["field"])),
        )
        total = sum(len(rows) for rows, _, _ in problems)
        raise _invalid(items[:MAX_LISTED_ERRORS], total)
    return Batch(_stack(columns, table.num_rows))


def _header(data: bytes) -> list[str]:
    """The header's column names (BOM and surrounding spaces removed)."""
    first = data.split(b"\n", 1)[0].rstrip(b"\r")
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ApiError(
            400, "The CSV is not UTF-8 text: save it as UTF-8 and send it again."
        ) from None
    return [cell.strip().strip('"').strip() for cell in text.split(",")]


def _check_columns(header: Sequence[str]) -> None:
    missing = [f for f in FEATURES if f not in header]
    unknown = [c for c in header if c not in FEATURES]
    repeated = sorted({c for c in header if header.count(c) > 1})
    if not (missing or unknown or repeated):
        return
    parts = []
    if missing:
        parts.append(f"missing {', '.join(missing)}")
    if unknown:
        parts.append(f"unknown {', '.join(repr(c) for c in unknown)}")
    if repeated:
        parts.append(f"repeated {', '.join(repeated)}")
    raise ApiError(
        422,
        f"The CSV header must name exactly {', '.join(FEATURES)} ({'; '.join(parts)}).",
        [{"row": None, "field": f, "message": "missing column"} for f in missing]
        + [{"row": None, "field": c, "message": "unknown column"} for c in unknown]
        + [{"row": None, "field": c, "message": "repeated column"} for c in repeated],
    )


def _arrow_message(err: Exception) -> str:
    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    return text[:200]


def _mask(array: pa.Array) -> np.ndarray:
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=bool)


def _parse_column(name: str, raw: pa.Array) -> tuple[np.ndarray, list[tuple[np.ndarray, str, str]]]:
    """One CSV column -> float64 values (NaN = missing) and its problems, all vectorized."""
    feature = BY_NAME[name]
    cells = pc.utf8_trim_whitespace(raw)
    empty = _mask(pc.equal(cells, ""))
    problems: list[tuple[np.ndarray, str, str]] = []
    if feature.kind == "group":
        lowered = pc.utf8_lower(cells)
        codes = np.full(len(raw), np.nan)
        for group, code in GROUP_CODES.items():
            codes[_mask(pc.equal(lowered, group))] = float(code)
        bad = np.isnan(codes) & ~empty
        if bad.any():
            problems.append(
                (np.flatnonzero(bad), name, f"must be one of {', '.join(GROUP_CODES)} or empty")
            )
        return codes, problems
    pattern = _WHOLE if feature.kind == "count" else _NUMBER
    well_formed = _mask(pc.match_substring_regex(cells, pattern))
    malformed = ~well_formed & ~empty
    if malformed.any():
        what = "a whole number" if feature.kind == "count" else "a finite number"
        problems.append((np.flatnonzero(malformed), name, f"must be {what} or empty"))
    usable = pa.array(well_formed)
    numbers = pc.cast(pc.if_else(usable, cells, pa.scalar(None, pa.string())), pa.float64())
    values = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=np.float64)
    outside = well_formed & ~((values >= feature.minimum) & (values <= feature.maximum))
    if outside.any():
        problems.append(
            (
                np.flatnonzero(outside),
                name,
                f"outside the valid range [{feature.minimum:g}, {feature.maximum:g}]",
            )
        )
    return values, problems


# ----------------------------------------------------------------------------- output


def _stack(columns: Mapping[str, np.ndarray], rows: int) -> np.ndarray:
    return np.column_stack([columns[name] for name in FEATURES]).reshape(rows, len(FEATURES))


def _echo(matrix: np.ndarray) -> dict[str, pa.Array]:
    """The validated input as typed Arrow columns, for the CSV answer (null = missing)."""
    echo: dict[str, pa.Array] = {}
    codes = {v: k for k, v in GROUP_CODES.items()}
    for i, name in enumerate(FEATURES):
        values = matrix[:, i]
        missing = np.isnan(values)
        kind = BY_NAME[name].kind
        if kind == "count":
            echo[name] = pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)
        elif kind == "group":
            labels = np.array([codes[0], codes[1]], dtype=object)
            picked = labels[np.where(missing, 0, values).astype(np.int64)]
            echo[name] = pa.array(picked, type=pa.string(), mask=missing)
        else:
            echo[name] = pa.array(values, mask=missing)
    return echo


def csv_bytes(batch: Batch, probabilities: np.ndarray, bands: np.ndarray, model_id: str) -> bytes:
    """Input columns + abandonment_probability, risk_band, model_id, in input order."""
    n = batch.rows
    table = pa.table(
        {
            **_echo(batch.matrix),
            "abandonment_probability": pa.array(probabilities, pa.float64()),
            "risk_band": pa.array(bands.astype(object), pa.string()),
            "model_id": pa.repeat(pa.scalar(model_id), n) if n else pa.array([], pa.string()),
        }
    )
    sink = io.BytesIO()
    sink.write((",".join(table.column_names) + "\n").encode())
    # Every cell is a validated number, a group name or a model id: nothing needs quoting.
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return sink.getvalue()


def json_bytes(
    model_ref: Mapping[str, Any],
    thresholds: Mapping[str, float],
    probabilities: np.ndarray,
    bands: np.ndarray,
) -> bytes:
    predictions = [
        {"row": i, "abandonment_probability": p, "risk_band": b}
        for i, p, b in zip(
            range(1, len(probabilities) + 1), probabilities.tolist(), bands.tolist(), strict=True
        )
    ]
    return orjson.dumps(
        {
            "model": dict(model_ref),
            "count": len(predictions),
            "risk_thresholds": dict(thresholds),
            "predictions": predictions,
        }
    )
