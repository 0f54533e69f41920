"""The Monitoring tab's facts: the model in use (from the registry) and the latest drift run.

The drift summary is `ecom drift`'s `settings.drift_dir / "latest.json"` (shared interface C6;
the newest `--shift` demonstration's is "latest-shift.json", every run's a runs/<run>/summary.json):

    {"model_id", "generated_at", "reference_rows",
     "slices": [{"label", "rows", "method_regime", "drifted_columns",
                 "columns": [{"column", "method", "threshold", "score", "drifted"}]}],
     "html": "<file name of the full Evidently report, in the same folder>"}

`ecom drift` adds fields the app shows when present: each slice's own "html" report, a
"note" per slice or column, "dataset_drifted", a slice's "month" and "shifted", and per column
"center" (where it sits on each side: {"statistic", "reference", "current"}).

Read defensively: a file written by another version of `ecom drift` or edited by hand gives a
DataContractError saying what is wrong, never a traceback in the app.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import DataContractError, ModelError
from pipeline.serving import registry
from pipeline.serving.risk import thresholds_for

LATEST = "latest.json"
LATEST_SHIFT = "latest-shift.json"


# ---------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class ModelSummary:
    model_id: str
    path: Path
    engine: str | None
    trained_at: str | None
    data_window: dict[str, Any]
    rows: dict[str, Any]
    risk_thresholds: dict[str, float]
    metrics: pl.DataFrame  # one row per evaluation split and scorer (model, baselines)
    versions: tuple[registry.VersionInfo, ...]


METRIC_NAMES = ("roc_auc", "pr_auc", "accuracy", "log_loss", "brier")


def _metrics_frame(card: dict[str, Any]) -> pl.DataFrame:
    rows = []
    evaluation = card.get("evaluation")
    for split, report in (evaluation or {}).items() if isinstance(evaluation, dict) else ():
        if not isinstance(report, dict):
            continue
        scorers = [("model", report.get("model"))]
        baselines = report.get("baselines")
        if isinstance(baselines, dict):
            scorers += list(baselines.items())
        for scorer, metrics in scorers:
            if not isinstance(metrics, dict):
                continue
            row: dict[str, Any] = {
                "split": split,
                "scorer": scorer,
                "rows": metrics.get("rows"),
            }
            for name in METRIC_NAMES:
                value = metrics.get(name)
                row[name] = float(value) if isinstance(value, int | float) else None
            ci = metrics.get("roc_auc_ci")
            row["roc_auc_ci"] = (
                f"[{ci[0]:.3f}, {ci[1]:.3f}]" if isinstance(ci, list) and len(ci) == 2 else None
            )
            rows.append(row)
    schema = {"split": pl.String, "scorer": pl.String, "rows": pl.Int64}
    schema |= {name: pl.Float64 for name in METRIC_NAMES} | {"roc_auc_ci": pl.String}
    return pl.DataFrame(rows, schema=schema)


def current_model(models_dir: Path, model_id: str | None = None) -> ModelSummary:
    """The model the settings point at (ECOM_MODEL_ID, else the current one), from its card.

    Raises ModelError (no model, unknown id, unreadable card) with what to run next."""
    folder = registry.resolve(models_dir, model_id)
    card_path = folder / "model_card.json"
    try:
        card = json.loads(card_path.read_text())
    except (OSError, ValueError) as err:
        raise ModelError(f"{card_path}: cannot read the model card ({err}).") from err
    if not isinstance(card, dict):
        raise ModelError(f"{card_path}: the model card must be a JSON object.")
    return ModelSummary(
        model_id=str(card.get("model_id") or folder.name),
        path=folder,
        engine=card.get("engine"),
        trained_at=card.get("trained_at"),
        data_window=card.get("data_window") if isinstance(card.get("data_window"), dict) else {},
        rows=card.get("rows") if isinstance(card.get("rows"), dict) else {},
        risk_thresholds=thresholds_for(card),
        metrics=_metrics_frame(card),
        versions=tuple(registry.list_versions(models_dir)),
    )


def versions_frame(versions: tuple[registry.VersionInfo, ...]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "model_id": v.model_id,
                "current": v.is_current,
                "engine": v.engine,
                "trained_at": v.trained_at,
                "rows": v.rows,
                "roc_auc_random": v.roc_auc_random,
                "roc_auc_time": v.roc_auc_time,
                "problem": v.problem,
            }
            for v in versions
        ],
        schema={
            "model_id": pl.String,
            "current": pl.Boolean,
            "engine": pl.String,
            "trained_at": pl.String,
            "rows": pl.Int64,
            "roc_auc_random": pl.Float64,
            "roc_auc_time": pl.Float64,
            "problem": pl.String,
        },
    )


# ---------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class Center:
    """Where a column sits: its median (numbers) or share of Treatment (the group)."""

    statistic: str
    reference: float | None
    current: float | None


@dataclass(frozen=True)
class DriftColumn:
    column: str
    method: str
    threshold: float | None
    score: float | None
    drifted: bool
    note: str = ""
    center: Center | None = None


@dataclass(frozen=True)
class DriftSlice:
    label: str
    rows: int
    method_regime: str
    columns: tuple[DriftColumn, ...]
    html_path: Path | None = None  # this slice's own Evidently report, when there
    note: str = ""
    dataset_drifted: bool | None = None
    month: str | None = None  # the month compared ('YYYY-MM')
    shifted: bool = False  # a deliberately shifted copy (`ecom drift --shift`)

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(c.column for c in self.columns if c.drifted)


@dataclass(frozen=True)
class DriftSummary:
    path: Path
    model_id: str | None
    generated_at: str | None
    reference_rows: int | None
    slices: tuple[DriftSlice, ...]
    html_path: Path | None  # the full Evidently report, when the file is there
    training_months: tuple[str, ...] = ()

    @property
    def drifted_anywhere(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for s in self.slices:
            seen |= dict.fromkeys(s.drifted)
        return tuple(seen)

    def slices_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {
                    "slice": s.label,
                    "rows": s.rows,
                    "method_regime": s.method_regime,
                    "drifted_columns": len(s.drifted),
                    "columns": len(s.columns),
                    "drifted": ", ".join(s.drifted) or "none",
                    "note": s.note,
                }
                for s in self.slices
            ],
            schema={
                "slice": pl.String,
                "rows": pl.Int64,
                "method_regime": pl.String,
                "drifted_columns": pl.Int64,
                "columns": pl.Int64,
                "drifted": pl.String,
                "note": pl.String,
            },
        )

    def columns_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {
                    "slice": s.label,
                    "column": c.column,
                    "method": c.method,
                    "threshold": c.threshold,
                    "score": c.score,
                    "drifted": c.drifted,
                    "note": c.note,
                }
                for s in self.slices
                for c in s.columns
            ],
            schema={
                "slice": pl.String,
                "column": pl.String,
                "method": pl.String,
                "threshold": pl.Float64,
                "score": pl.Float64,
                "drifted": pl.Boolean,
                "note": pl.String,
            },
        )


def _number(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where} must be a finite number or null, got {value!r}")
    return float(value)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, dict) or key not in mapping:
        raise ValueError(f"{where} has no {key!r}")
    return mapping[key]


def _column(raw: Any, where: str) -> DriftColumn:
    drifted = _require(raw, "drifted", where)
    if not isinstance(drifted, bool):
        raise ValueError(f"{where}.drifted must be true or false, got {drifted!r}")
    center = raw.get("center")
    return DriftColumn(
        column=str(_require(raw, "column", where)),
        method=str(_require(raw, "method", where)),
        threshold=_number(_require(raw, "threshold", where), f"{where}.threshold"),
        score=_number(_require(raw, "score", where), f"{where}.score"),
        drifted=drifted,
        note=str(raw.get("note") or ""),
        center=Center(
            str(center.get("statistic") or ""),
            _number(center.get("reference"), f"{where}.center.reference"),
            _number(center.get("current"), f"{where}.center.current"),
        )
        if isinstance(center, dict)
        else None,
    )


def _html(folder: Path, name: Any, where: str) -> Path | None:
    """A report's file: a bare name in the drift folder (never a path that leaves it); None
    when absent or not there."""
    if name is None:
        return None
    if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
        raise ValueError(f"{where} must be a file name in {folder}, got {name!r}")
    return folder / name if (folder / name).is_file() else None


def _slice(raw: Any, where: str, folder: Path) -> DriftSlice:
    columns = _require(raw, "columns", where)
    if not isinstance(columns, list):
        raise ValueError(f"{where}.columns must be a list")
    rows = _require(raw, "rows", where)
    if isinstance(rows, bool) or not isinstance(rows, int):
        raise ValueError(f"{where}.rows must be an integer, got {rows!r}")
    parsed = tuple(_column(c, f"{where}.columns[{i}]") for i, c in enumerate(columns))
    # drifted_columns is a summary of the per-column flags (a count or the names): check it
    # agrees rather than trusting either blindly.
    declared = raw.get("drifted_columns")
    flagged = [c.column for c in parsed if c.drifted]
    if isinstance(declared, list) and sorted(map(str, declared)) != sorted(flagged):
        raise ValueError(f"{where}.drifted_columns {declared} disagrees with the columns' flags")
    if isinstance(declared, int) and not isinstance(declared, bool) and declared != len(flagged):
        raise ValueError(
            f"{where}.drifted_columns is {declared} but {len(flagged)} columns are flagged"
        )
    dataset_drifted = raw.get("dataset_drifted")
    return DriftSlice(
        label=str(_require(raw, "label", where)),
        rows=rows,
        method_regime=str(raw.get("method_regime") or ""),
        columns=parsed,
        html_path=_html(folder, raw.get("html"), f"{where}.html"),
        note=str(raw.get("note") or ""),
        dataset_drifted=dataset_drifted if isinstance(dataset_drifted, bool) else None,
        month=str(raw["month"]) if raw.get("month") else None,
        shifted=raw.get("shifted") is True,
    )


def read_summary(path: Path) -> DriftSummary | None:
    """One drift summary (its reports are files beside it), or None when it is not there."""
    if not path.exists():
        return None
    folder = path.parent
    try:
        raw = json.loads(path.read_text())
        slices = _require(raw, "slices", "the summary")
        if not isinstance(slices, list):
            raise ValueError("slices must be a list")
        parsed = tuple(_slice(s, f"slices[{i}]", folder) for i, s in enumerate(slices))
        reference_rows = raw.get("reference_rows")
        if reference_rows is not None and (
            isinstance(reference_rows, bool) or not isinstance(reference_rows, int)
        ):
            raise ValueError(f"reference_rows must be an integer, got {reference_rows!r}")
        html_path = _html(folder, raw.get("html"), "html")
    except (OSError, ValueError, json.JSONDecodeError) as err:
        raise DataContractError(
            f"{path} is not a drift summary the app can read ({err}). Re-run `ecom drift`."
        ) from err
    return DriftSummary(
        path=path,
        model_id=raw.get("model_id"),
        generated_at=raw.get("generated_at"),
        reference_rows=reference_rows,
        slices=parsed,
        html_path=html_path,
        training_months=tuple(str(m) for m in raw.get("training_months") or ()),
    )


def read_drift(folder: Path) -> DriftSummary | None:
    """The latest real drift check in `folder` (settings.drift_dir), or None when `ecom drift`
    has not run yet."""
    return read_summary(folder / LATEST)


def read_shift(folder: Path) -> DriftSummary | None:
    """The newest `ecom drift --shift` demonstration, or None."""
    return read_summary(folder / LATEST_SHIFT)
