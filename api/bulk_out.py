"""The answer of a bulk call: every input column (passed-through ones included, in the input's
order) beside abandonment_probability, risk_band and model_id, as JSON or CSV."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from api.bulk import ABSENT, Batch
from pipeline.serving.features import BY_NAME, FEATURES, GROUP_CODES

_NEEDS_QUOTES = r'[",;\r\n]'


def _feature_column(matrix: np.ndarray, name: str) -> pa.Array:
    """A validated feature as a typed Arrow column (null = missing)."""
    values = matrix[:, FEATURES.index(name)]
    missing = np.isnan(values)
    kind = BY_NAME[name].kind
    if kind == "count":
        return pa.array(np.where(missing, 0, values).astype(np.int64), mask=missing)
    if kind == "group":
        names = {v: k for k, v in GROUP_CODES.items()}
        labels = np.array([names[0], names[1]], dtype=object)
        picked = labels[np.where(missing, 0, values).astype(np.int64)]
        return pa.array(picked, type=pa.string(), mask=missing)
    return pa.array(values, mask=missing)


def _text_column(values: Sequence[Any] | pa.Array) -> pa.Array:
    """A passed-through column as text: CSV cells as sent, JSON scalars as JSON writes them."""
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return values
    return pa.array(
        [
            v
            if isinstance(v, str) or v is None
            else None
            if v is ABSENT
            else orjson.dumps(v).decode()
            for v in values
        ],
        type=pa.string(),
    )


def csv_bytes(batch: Batch, probabilities: np.ndarray, bands: np.ndarray, model_id: str) -> bytes:
    """The input's columns, then abandonment_probability, risk_band, model_id; input order."""
    n = batch.rows
    columns: dict[str, pa.Array] = {}
    for name in batch.columns:
        if name in BY_NAME:
            columns[name] = _feature_column(batch.matrix, name)
        else:
            columns[name] = _text_column(batch.passthrough[name])
    quoting = "none"
    for name in batch.passthrough:  # Arrow quotes every text column, or none: only if needed
        if pc.any(pc.match_substring_regex(columns[name], _NEEDS_QUOTES)).as_py():
            quoting = "needed"
    table = pa.table(
        {
            **columns,
            "abandonment_probability": pa.array(probabilities, pa.float64()),
            "risk_band": pa.array(bands.astype(object), pa.string()),
            "model_id": pa.repeat(pa.scalar(model_id), n) if n else pa.array([], pa.string()),
        }
    )
    sink = io.BytesIO()
    sink.write((",".join(_header_cell(c) for c in table.column_names) + "\n").encode())
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False, quoting_style=quoting))
    return sink.getvalue()


def _header_cell(name: str) -> str:
    if any(c in name for c in '",\r\n'):
        return '"' + name.replace('"', '""') + '"'
    return name


def json_bytes(
    batch: Batch,
    model_ref: Mapping[str, Any],
    thresholds: Mapping[str, float],
    probabilities: np.ndarray,
    bands: np.ndarray,
) -> bytes:
    """{"model", "count", "risk_thresholds", "predictions": [{row, p, band[, passthrough]}]}."""
    rows = range(1, len(probabilities) + 1)
    predictions: list[dict[str, Any]] = [
        {"row": i, "abandonment_probability": p, "risk_band": b}
        for i, p, b in zip(rows, probabilities.tolist(), bands.tolist(), strict=True)
    ]
    if batch.passthrough:
        names = list(batch.passthrough)
        values = [
            v.to_pylist() if isinstance(v, pa.ChunkedArray | pa.Array) else list(v)
            for v in batch.passthrough.values()
        ]
        for prediction, row in zip(predictions, zip(*values, strict=True), strict=True):
            prediction["passthrough"] = {
                name: value for name, value in zip(names, row, strict=True) if value is not ABSENT
            }
    return orjson.dumps(
        {
            "model": dict(model_ref),
            "count": len(predictions),
            "risk_thresholds": dict(thresholds),
            "predictions": predictions,
        }
    )
