"""One Evidently 0.7.23 data-drift report: a current slice against the reference.

`import evidently` takes seconds (it pulls plotly, the legacy metric registry, ...), so it is
imported here, inside the functions, and nothing else in the project imports this module at
load time: `ecom --help` and every other command stay fast, and the API never sees it.

API used (checked in site-packages/evidently 0.7.23): `Dataset.from_pandas(frame,
data_definition=DataDefinition(numerical_columns=..., categorical_columns=...))`,
`Report([DataDriftPreset(columns=...)]).run(current, reference)` (current first) returning a
Snapshot, `snapshot.dict()["metrics"]` (one `ValueDrift` per column: config.column,
config.method, config.threshold, value = the score) and `snapshot.save_html(path)`.
"""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class ColumnScore:
    column: str
    method: str
    threshold: float
    score: float | None


def run_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numerical: list[str],
    categorical: list[str],
    methods: dict[str, str] | None = None,
) -> tuple[Any, list[ColumnScore]]:
    """The Evidently snapshot and each column's method, threshold and score; `methods` pins
    a column's stat test by Evidently's short name (default: Evidently chooses)."""
    with warnings.catch_warnings():
        # Evidently correlates columns for its plots; a constant column divides by a zero
        # standard deviation there (numpy RuntimeWarning), which says nothing about drift.
        # Its import also pulls its UI server's deprecation warnings (litestar): not ours.
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        from evidently import DataDefinition, Dataset, Report
        from evidently.presets import DataDriftPreset

        definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
        columns = [*numerical, *categorical]
        preset = DataDriftPreset(columns=columns, per_column_method=methods or None)
        snapshot = Report([preset]).run(
            Dataset.from_pandas(current[columns], data_definition=definition),
            Dataset.from_pandas(reference[columns], data_definition=definition),
        )
    scores = []
    for metric in snapshot.dict()["metrics"]:
        config = metric.get("config", {})
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        value = metric.get("value")
        scores.append(
            ColumnScore(
                column=str(config["column"]),
                method=str(config["method"]),
                threshold=float(config["threshold"]),
                score=None if value is None else float(value),
            )
        )
    return snapshot, scores


def save_html(snapshot: Any, path: Path) -> Path:
    """The report as one self-contained HTML file (scripts inline), written atomically."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        snapshot.save_html(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
