"""The drift summary's shape (pipeline/drift/summary.py) and its Markdown, without Evidently: a
summary is strict JSON, keeps exactly the fields it was given, and reads as its verdicts."""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from pipeline.drift.summary import OUTPUT_MODELS, DriftSummary, render_markdown


def summary_dict() -> dict:
    column = {
        "column": "total_views",
        "method": "K-S p_value",
        "kind": "p_value",
        "threshold": 0.05,
        "score": 0.0012,
        "drifted": True,
        "missing_share": {"reference": 0.0, "current": 0.01},
    }
    constant = {
        "column": "experiment_group",
        "method": "Z-test p_value",
        "kind": "p_value",
        "threshold": 0.05,
        "score": None,
        "drifted": False,
        "note": "the p-value is undefined here (constant data)",
        "missing_share": {"reference": 0.0, "current": None},
    }
    return {
        "model_id": "abandonment-0123456789ab",
        "generated_at": "2026-12-01T09:00:00+00:00",
        "reference": "sample",
        "reference_rows": 1000,
        "training_months": ["2019-10", "2019-11"],
        "slices": [
            {
                "label": "2020-02-shifted",
                "rows": 12345,
                "method_regime": "p_value",
                "regime_rule": "statistical tests: a column drifted when its p-value is below "
                "the threshold",
                "regime_expected": "p_value",
                "regime_reason": "Evidently runs tests when the reference has at most 1,000 rows",
                "drifted_columns": ["total_views"],
                "drifted_count": 1,
                "columns_checked": 2,
                "dataset_drifted": True,
                "dataset_drift_share": 0.5,
                "columns": [column, constant],
                "month": "2020-02",
                "shifted": True,
                "html": "drift_2020-02-shifted.html",
                "json": "drift_2020-02-shifted.json",
                "shift": {"total_views": 1.5},
            }
        ],
        "html": "drift_2020-02-shifted.html",
    }


def test_a_summary_round_trips_and_its_schema_is_published():
    raw = summary_dict()
    summary = DriftSummary.model_validate(raw)
    assert summary.to_dict() == raw
    assert "note" not in summary.to_dict()["slices"][0]["columns"][0]
    assert summary.slices[0].json_file == "drift_2020-02-shifted.json"
    assert (DriftSummary,) == OUTPUT_MODELS
    assert "slices" in DriftSummary.model_json_schema()["required"]


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_score_is_refused(bad):
    raw = summary_dict()
    raw["slices"][0]["columns"][0]["score"] = bad
    with pytest.raises(ValidationError, match="finite"):
        DriftSummary.model_validate(raw)


def test_the_markdown_says_each_slices_verdict_and_columns():
    text = render_markdown(DriftSummary.model_validate(summary_dict()))
    lines = text.splitlines()
    assert lines[0] == "# Drift summary: abandonment-0123456789ab"
    assert "reference sample (1,000 sessions, months 2019-10, 2019-11)" in text
    assert "## 2020-02-shifted" in lines
    assert "12,345 sessions; 1 of 2 columns drifted: total_views. **The data set drifted**" in text
    assert "A deliberately shifted copy: total_views x1.5." in lines
    assert "| total_views | K-S p_value | 0.05 | 0.0012 | **yes** |" in lines
    assert "| experiment_group | Z-test p_value | 0.05 | – | no |" in lines
    assert "- experiment_group: the p-value is undefined here (constant data)" in lines
    assert "[drift_2020-02-shifted.html](drift_2020-02-shifted.html)" in text
    assert text.endswith("\n") and not text.endswith("\n\n")
    json.dumps(summary_dict(), allow_nan=False)
