"""Bulk input as a batch: JSON arrays here (CSV in api.bulk_csv), the answer in api.bulk_out.

Nothing is scored unless every row is valid: a bad row is a 422 that names its row (1-based,
the CSV header not counted) and field, never a silently skipped or guessed row. Work is bounded
before memory is: the body's rows are counted by a byte scan (api.scan) before anything is
parsed, a body with more than the row limit is refused at once, and rows are then parsed and
validated a chunk at a time. The error list holds the first 100 problems and the total.

JSON rows are validated by pydantic against the same field rules as /predict (a TypedDict, so
100,000 rows make no 100,000 objects). Fields other than the four features pass through: an id
and any other column come back beside the scores (strings, numbers, booleans or null only).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from api.errors import MAX_LISTED_ERRORS, ApiError, summarize, validation_items
from api.scan import ScanError, line_and_column, scan_json
from api.schemas import ExperimentGroup, SessionMinutes, TotalCarts, TotalViews
from pipeline.serving.features import BY_NAME, FEATURES, GROUP_CODES

# Rows parsed and validated at a time: bounds the Python objects alive at once.
CHUNK_ROWS = 5000
# Bulk rows are flat: the array (depth 1) holds objects (depth 2) of scalars.
BULK_DEPTH = 2
# The answer's own columns: an input column may not take their names.
SCORE_COLUMNS = ("abandonment_probability", "risk_band", "model_id")
_SCALARS = (str, int, float, bool, type(None))


class _Absent:
    """A passed-through field a JSON row does not have (null is one it sent)."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


@with_config(ConfigDict(strict=True, extra="allow"))
class BulkRow(TypedDict):
    """A session of a bulk call: the contract's fields, plus any fields passed through."""

    total_views: TotalViews
    total_carts: TotalCarts
    session_duration_minutes: SessionMinutes
    experiment_group: ExperimentGroup


_ROWS = TypeAdapter(list[BulkRow])


@dataclass
class Batch:
    """Validated rows: the encoded matrix (NaN = missing, contract order, group encoded), the
    columns passed through (name -> one value per row, in input order) and the order the input
    named its columns in."""

    matrix: np.ndarray
    passthrough: dict[str, Sequence[Any]] = field(default_factory=dict)
    columns: list[str] = field(default_factory=lambda: list(FEATURES))

    @property
    def rows(self) -> int:
        return int(self.matrix.shape[0])


class Problems:
    """Row problems: the first MAX_LISTED_ERRORS kept, every one counted."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, items: Sequence[Mapping[str, Any]], total: int | None = None) -> None:
        room = MAX_LISTED_ERRORS - len(self.items)
        self.items.extend(dict(item) for item in items[: max(room, 0)])
        self.total += len(items) if total is None else total

    def raise_if_any(self) -> None:
        if self.total:
            raise invalid(self.items, self.total)


def too_many(limit: int) -> ApiError:
    return ApiError(
        413,
        f"More than {limit:,} rows: over the limit of {limit:,} rows per request "
        "(ECOM_BULK_MAX_ROWS). Split the input into smaller requests.",
    )


def invalid(items: Sequence[Mapping[str, Any]], total: int | None = None) -> ApiError:
    total = len(items) if total is None else total
    detail = summarize(items, f"{total:,} invalid value{'s' if total != 1 else ''}")
    if total > len(items):
        detail += f" The first {len(items)} are listed ({total - len(items):,} more)."
    return ApiError(422, detail + " Nothing was scored: fix these rows and send again.", items)


# ----------------------------------------------------------------------------- JSON


def _not_json(body: bytes, offset: int) -> ApiError:
    line, column = line_and_column(body, offset)
    return ApiError(
        400,
        f"The body is not valid JSON (near line {line}, column {column}). Send a JSON array of "
        "sessions.",
    )


def _rows_of(body: bytes, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each row of the array is, or the ApiError that says why there is no such array."""
    try:
        found = scan_json(body, max_depth=BULK_DEPTH, max_rows=max_rows)
    except ScanError as err:
        if err.kind == "rows":
            raise too_many(max_rows) from None
        if err.kind == "not_array":
            raise ApiError(
                422,
                "The body must be a JSON array of sessions (objects with "
                f"{', '.join(FEATURES)}), or a CSV file in the multipart field 'file'.",
                [{"row": None, "field": None, "message": "expected a JSON array"}],
            ) from None
        if err.kind == "depth":
            message = "a nested array or object: a session's values are numbers, strings or null"
            raise invalid([{"row": err.row, "field": None, "message": message}]) from None
        raise _not_json(body, err.offset) from None
    return found.starts, found.ends


def _load(body: bytes, start: int, end: int) -> Any:
    """The rows body[start:end] (one or more, comma-separated) as a list."""
    text = b"[" + body[start:end] + b"]"
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:  # the standard parser reads NaN and Infinity, so they get a 422 naming the field
            return json.loads(text)
        except ValueError as err:
            position = getattr(err, "pos", 0) or 0
            raise _not_json(body, start - 1 + int(position)) from None


def _passthrough_problems(rows: Sequence[Any], first_row: int) -> list[dict[str, Any]]:
    problems = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        for name, value in row.items():
            if name in BY_NAME:
                continue
            if name in SCORE_COLUMNS:
                message = "this name is taken by the answer's own column; rename it"
            elif not isinstance(value, _SCALARS):
                message = "a passed-through value must be a string, number, boolean or null"
            else:
                continue
            problems.append({"row": first_row + i, "field": name, "message": message})
    return problems


def parse_json(body: bytes, max_rows: int) -> Batch:
    """A JSON array of sessions -> Batch; 400 if not JSON, 413 over max_rows, 422 if invalid."""
    if not body.strip():
        raise ApiError(400, "The body is empty: send a JSON array of sessions, or a CSV file.")
    starts, ends = _rows_of(body, max_rows)
    rows = int(starts.size)
    matrix = np.empty((rows, len(FEATURES)))
    passthrough: dict[str, list[Any]] = {}
    problems = Problems()
    codes = {**{k: float(v) for k, v in GROUP_CODES.items()}, None: math.nan}
    for first in range(0, rows, CHUNK_ROWS):
        last = min(first + CHUNK_ROWS, rows) - 1
        data = _load(body, int(starts[first]), int(ends[last]))
        extra = _passthrough_problems(data, first + 1)
        try:
            valid = _ROWS.validate_python(data)
        except ValidationError as err:
            raw = err.errors(include_url=False, include_input=False)
            problems.add(validation_items(raw[:MAX_LISTED_ERRORS], row_offset=first + 1), len(raw))
            problems.add(extra)
            continue
        problems.add(extra)
        if problems.total:
            continue  # keep counting problems; nothing will be scored
        block = matrix[first : first + len(valid)]
        for j, name in enumerate(FEATURES):
            if BY_NAME[name].kind == "group":
                block[:, j] = [codes[r[name]] for r in valid]
            else:
                block[:, j] = [math.nan if r[name] is None else r[name] for r in valid]
        for i, row in enumerate(valid):
            for name in [k for k in row if k not in BY_NAME]:  # the row's order
                passthrough.setdefault(name, [ABSENT] * rows)[first + i] = row[name]
    problems.raise_if_any()
    return Batch(matrix, passthrough, [*FEATURES, *passthrough])
