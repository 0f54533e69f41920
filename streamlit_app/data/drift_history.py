"""Drift as a trend: every kept run of `ecom drift` (runs/<run>/summary.json under the drift
folder), laid out per month and column, and each drifted column explained in words with what
to do about it.

For each month the newest real check that compared it counts (a later run of the same month
replaces an earlier one in the trend; both stay in the list of runs). `--shift` runs are
demonstrations: listed, never part of the trend.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from pipeline.errors import DataContractError
from streamlit_app.data.formats import month_label
from streamlit_app.data.monitoring import DriftColumn, DriftSlice, DriftSummary, read_summary

RUNS = "runs"
SUMMARY = "summary.json"

FEATURE_NAMES = {
    "total_views": "Product views per session",
    "total_carts": "Add-to-cart events per session",
    "session_duration_minutes": "Session length (minutes)",
    "experiment_group": "Checkout experience (share in Treatment)",
    "abandonment_probability": "The model's predicted abandonment",
}
TREND_SCHEMA = {
    "month": pl.String,
    "in_training": pl.Boolean,
    "column": pl.String,
    "feature": pl.String,
    "method": pl.String,
    "threshold": pl.Float64,
    "score": pl.Float64,
    "drifted": pl.Boolean,
    "reference_center": pl.Float64,
    "current_center": pl.Float64,
    "run": pl.String,
}


@dataclass(frozen=True)
class KeptRun:
    name: str  # the folder under runs/: when it ran, "-shift" for a demonstration
    summary: DriftSummary

    @property
    def is_shift(self) -> bool:
        return any(s.shifted for s in self.summary.slices) or "-shift" in self.name


def read_runs(folder: Path) -> tuple[list[KeptRun], list[str]]:
    """Every kept run, oldest first, and the ones that could not be read (with why)."""
    runs, problems = [], []
    root = folder / RUNS
    if not root.is_dir():
        return [], []
    for path in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            summary = read_summary(path / SUMMARY)
        except DataContractError as err:
            problems.append(f"{path.name}: {err}")
            continue
        if summary is not None:
            runs.append(KeptRun(path.name, summary))
    return runs, problems


def runs_frame(runs: list[KeptRun]) -> pl.DataFrame:
    """One row per kept run, newest first."""
    rows = [
        {
            "run": r.name,
            "checked_at": r.summary.generated_at,
            "model_id": r.summary.model_id,
            "kind": "demonstration (--shift)" if r.is_shift else "check",
            "months": ", ".join(s.label for s in r.summary.slices),
            "drifted": ", ".join(r.summary.drifted_anywhere) or "none",
        }
        for r in reversed(runs)
    ]
    schema = dict.fromkeys(
        ("run", "checked_at", "model_id", "kind", "months", "drifted"), pl.String
    )
    return pl.DataFrame(rows, schema=schema)


def trend(runs: list[KeptRun]) -> pl.DataFrame:
    """Per month and column: the newest real check of that month."""
    newest: dict[str, tuple[KeptRun, DriftSlice]] = {}
    for run in runs:  # oldest first: a later run of a month replaces an earlier one
        if run.is_shift:
            continue
        for piece in run.summary.slices:
            newest[piece.month or piece.label] = (run, piece)
    rows = []
    for month in sorted(newest):
        run, piece = newest[month]
        for c in piece.columns:
            rows.append(
                {
                    "month": month,
                    "in_training": month in run.summary.training_months,
                    "column": c.column,
                    "feature": FEATURE_NAMES.get(c.column, c.column),
                    "method": c.method,
                    "threshold": c.threshold,
                    "score": c.score,
                    "drifted": c.drifted,
                    "reference_center": None if c.center is None else c.center.reference,
                    "current_center": None if c.center is None else c.center.current,
                    "run": run.name,
                }
            )
    return pl.DataFrame(rows, schema=TREND_SCHEMA)


# ---------------------------------------------------------------------------- words


def _where(column: str, value: float | None) -> str:
    if value is None:
        return "nothing"
    if column == "experiment_group":
        return f"{value:.0%} in Treatment"
    if column == "abandonment_probability":
        return f"a median of {value:.0%}"
    if column == "session_duration_minutes":
        return f"a median of {value:,.1f} minutes"
    return f"a median of {value:,.1f}"


ACTIONS = {
    "experiment_group": "The share of sessions in each checkout changed, as it does when an "
    "experiment's split or traffic changes. The model takes the checkout as an input: compare "
    "its calibration per group above; if both groups still agree, no action is needed.",
    "abandonment_probability": "The model now predicts differently because its inputs moved "
    "(see the other rows). What matters is whether the predictions still come true: if the "
    "calibration table above still shows predicted and observed rates together, customers "
    "changed, not the model's accuracy.",
}
DEFAULT_ACTION = (
    "The model learned from sessions that looked different. Check how it did on these weeks "
    "above: if the realized ROC-AUC and the calibration hold, it still ranks sessions well and "
    "no action is needed; if they fall, ask for a retrain on recent months (`ecom train`) and "
    "check drift again."
)


def explain(column: DriftColumn, month: str) -> str:
    """What moved, by how much and by which test, then what to do."""
    name = FEATURE_NAMES.get(column.column, column.column)
    when = month_label(month)
    if column.method == "missing values":
        moved = f"{name} is missing in {when} or in the reference, so it could not be compared."
    elif column.center is not None and column.center.reference is not None:
        moved = (
            f"{name} moved from {_where(column.column, column.center.reference)} in the "
            f"training reference to {_where(column.column, column.center.current)} in {when}"
        )
        test = column.method.replace("_", " ")
        if column.score is not None and column.threshold is not None:
            relation = "below" if "p_value" in column.method else "at or above"
            moved += f" ({test} {column.score:.3g}, {relation} the threshold {column.threshold:g})."
        else:
            moved += "."
    else:
        moved = f"{name} drifted in {when} ({column.method})."
    return f"{moved} {ACTIONS.get(column.column, DEFAULT_ACTION)}"
