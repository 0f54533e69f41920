"""`ecom drift`: the current model's reference against later cart sessions, one report a month.

Outputs under settings.drift_dir (data/reports/drift/), the shape agreed for the app
(pipeline/drift/summary.py's models):
    drift_<label>.html   Evidently's report, self-contained
    drift_<label>.json   {"model_id", "generated_at", "reference", "reference_rows",
                          "training_months", "slices": [this slice], "html"}
    latest.json          the same with every slice of the newest run (what the app reads)
    latest.md            latest.json for people
    latest-shift.json/md the same for the newest `--shift` run (a demonstration: it never
                         replaces the latest real check)
    runs/<run>/          every run kept: its summary.json and reports (pipeline/drift/history.py)
Each slice lists, per column, Evidently's method, threshold and score and the project's own
drifted yes/no (pipeline.drift.verdict), the regime that applied, and missing-value shares
(Evidently drops missing values before testing, so a column that empties out shows there).
Files are written to a temporary name and renamed: a reader never sees half a report.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.drift import data as drift_data
from pipeline.drift import history
from pipeline.drift.summary import DriftSummary, SliceDrift, render_markdown
from pipeline.drift.verdict import (
    DATASET_DRIFT_SHARE,
    REGIME_RULES,
    SMALL_REFERENCE_ROWS,
    column_verdict,
    expected_regime,
    finite_json,
    missing_entry,
    pinned_methods,
    slice_regime,
)
from pipeline.serving.registry import SESSION, load_version, resolve
from pipeline.settings import Settings

LATEST = "latest.json"
LATEST_MARKDOWN = "latest.md"
LATEST_SHIFT = "latest-shift.json"
LATEST_SHIFT_MARKDOWN = "latest-shift.md"
# Fewer current rows than this and a slice's tests have little power: the slice says so.
FEW_ROWS = 100


@dataclass
class Comparison:
    """One slice compared with the reference: the summary and the Evidently snapshot."""

    summary: SliceDrift
    snapshot: Any = field(repr=False)


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    label: str,
    view: drift_data.View = drift_data.SESSION_VIEW,
) -> Comparison:
    """Run Evidently on every column that has values on both sides; verdicts for all."""
    from pipeline.drift.evidently_report import run_report

    columns: list[dict[str, Any]] = []
    testable = []
    for name in view.columns:
        ref_empty = bool(reference[name].isna().all())
        cur_empty = bool(current[name].isna().all())
        if ref_empty or cur_empty:
            columns.append(missing_entry(name, ref_empty, cur_empty))
        else:
            testable.append(name)
    numerical = [c for c in view.numerical if c in testable]
    categorical = [c for c in view.categorical if c in testable]
    regime = expected_regime(len(reference))
    distinct = {c: len(set(reference[c].dropna()) | set(current[c].dropna())) for c in categorical}
    snapshot, scores = run_report(
        reference,
        current,
        numerical,
        categorical,
        pinned_methods(regime, numerical, distinct),
    )
    for score in scores:
        columns.append(
            column_verdict(
                score.column,
                score.method,
                score.threshold,
                score.score,
                reference[score.column],
                current[score.column],
            )
        )
    order = {name: i for i, name in enumerate(view.columns)}
    columns.sort(key=lambda c: order[c["column"]])
    for entry in columns:
        name = entry["column"]
        entry["missing_share"] = {
            "reference": float(reference[name].isna().mean()),
            "current": float(current[name].isna().mean()) if len(current) else None,
        }
        entry["center"] = drift_data.center(reference[name], current[name], name, view)
    drifted = [c["column"] for c in columns if c["drifted"]]
    regime = slice_regime(columns)  # what ran; equal to the expected one unless none ran
    summary: dict[str, Any] = {
        "label": label,
        "rows": len(current),
        "method_regime": regime,
        "regime_rule": REGIME_RULES.get(regime, "no column could be tested"),
        "regime_expected": expected_regime(len(reference)),
        "regime_reason": (
            f"Evidently runs tests when the reference has at most {SMALL_REFERENCE_ROWS:,} "
            f"rows and measures distances above; this reference has {len(reference):,}. "
            "Numbers get K-S / Wasserstein, categories Z-test or chi-square / Jensen-Shannon "
            "(pinned: see pipeline/drift/verdict.py)"
        ),
        "drifted_columns": drifted,
        "drifted_count": len(drifted),
        "columns_checked": len(columns),
        "dataset_drifted": len(drifted) >= DATASET_DRIFT_SHARE * len(columns),
        "dataset_drift_share": DATASET_DRIFT_SHARE,
        "columns": columns,
    }
    if len(current) < FEW_ROWS:
        summary["note"] = f"only {len(current)} sessions: the tests have little power here"
    return Comparison(SliceDrift.model_validate(finite_json(summary)), snapshot)


def _write(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path


@dataclass
class DriftRun:
    model_id: str
    out_dir: Path
    latest: Path
    summary: DriftSummary
    reports: list[tuple[Path, Path]]  # (html, json) per slice


def run_drift(
    settings: Settings,
    *,
    model_id: str | None = None,
    months: list[str] | None = None,
    shift: bool = False,
    reference: drift_data.Reference = "sample",
    progress: Any = None,
    family: str = SESSION,
) -> DriftRun:
    """Compare the model's reference with each chosen slice; write the reports (the session
    family's in the drift folder, another family's in its subfolder)."""
    from pipeline.drift.evidently_report import save_html

    view = drift_data.VIEWS[family]
    pinned = model_id or (settings.model_id if family == SESSION else None)
    model = load_version(resolve(settings.models_dir, pinned, family), family)
    available = drift_data.available_months(settings, view)
    chosen = drift_data.choose_months(model, available, months, shift, view)
    ref = drift_data.reference_frame(model, settings, reference, view)
    out_dir = view.out_dir(settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    task = progress.add_task("drift reports", total=len(chosen)) if progress else None
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    header = {
        "model_id": model.model_id,
        "generated_at": generated_at,
        "reference": reference,
        "reference_rows": len(ref),
        "training_months": drift_data.training_months(model),
    }
    slices: list[SliceDrift] = []
    reports = []
    for piece in drift_data.build_slices(model, settings, chosen, shift, view):
        comparison = compare(ref, piece.frame, piece.label, view)
        html = save_html(comparison.snapshot, out_dir / f"drift_{piece.label}.html")
        json_path = out_dir / f"drift_{piece.label}.json"
        entry = comparison.summary.model_copy(
            update={
                "month": piece.month,
                "shifted": piece.shifted,
                "html": html.name,
                "json_file": json_path.name,
            }
            | ({"shift": dict(view.shift)} if piece.shifted else {})
        )
        one = DriftSummary.model_validate({**header, "slices": [entry], "html": html.name})
        _write(json_path, _json(one))
        slices.append(entry)
        reports.append((html, json_path))
        if progress is not None:
            progress.advance(task)
    summary = DriftSummary.model_validate({**header, "slices": slices, "html": slices[-1].html})
    latest_name, markdown_name = (
        (LATEST_SHIFT, LATEST_SHIFT_MARKDOWN) if shift else (LATEST, LATEST_MARKDOWN)
    )
    latest = _write(out_dir / latest_name, _json(summary))
    _write(out_dir / markdown_name, render_markdown(summary))
    history.keep(out_dir, _json(summary), reports, generated_at, shift)
    return DriftRun(model.model_id, out_dir, latest, summary, reports)


def _json(summary: DriftSummary) -> str:
    return json.dumps(summary.to_dict(), indent=2, allow_nan=False) + "\n"
