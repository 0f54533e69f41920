"""`ecom drift --family moment`: the moment model's reference sample against the prediction
points of the months after its training window, with its 18 features and its calibrated
probability, reported beside (not over) the session family's reports."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.drift import data as drift_data
from pipeline.serving import moment, registry
from pipeline.serving.calibration import read_calibration
from pipeline.serving.trees import booster_margin


def test_moment_drift_reports_the_months_after_its_window(moment_trained, monkeypatch):
    settings = moment_trained.settings
    monkeypatch.delenv("ECOM_MODEL_ID", raising=False)
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    registry.promote(settings.models_dir, moment_trained.card["model_id"], "moment")
    result = CliRunner().invoke(app, ["drift", "--family", "moment"])
    assert result.exit_code == 0, result.output
    out = settings.drift_dir / "moment"
    latest = json.loads((out / "latest.json").read_text())
    assert latest["model_id"] == moment_trained.card["model_id"]
    assert latest["training_months"] == ["2019-10", "2019-11", "2019-12"]
    assert [s["label"] for s in latest["slices"]] == ["2020-01", "2020-02"]
    for piece in latest["slices"]:
        assert [c["column"] for c in piece["columns"]] == [*moment.FEATURES, drift_data.PREDICTION]
        assert (
            piece["rows"]
            == moment_trained.card["rows"][
                "calibration" if piece["month"] == "2020-01" else "test"
            ]["rows"]
        )
    assert not (settings.drift_dir / "latest.json").exists()  # the session family's place
    shifted = CliRunner().invoke(
        app, ["drift", "--family", "moment", "--shift", "--month", "2020-02"]
    )
    assert shifted.exit_code == 0, shifted.output
    # A --shift run has its own report and never replaces the latest real check.
    assert len(json.loads((out / "latest.json").read_text())["slices"]) > 1
    (piece,) = json.loads((out / "latest-shift.json").read_text())["slices"]
    assert set(piece["drifted_columns"]) >= set(drift_data.MOMENT_VIEW.shift)
    assert "carts_so_far" not in piece["drifted_columns"]


def test_the_moment_frame_carries_the_calibrated_probability(moment_trained):
    model = registry.load_version(moment_trained.folder, "moment")
    frame = drift_data.reference_frame(
        model, moment_trained.settings, "sample", drift_data.MOMENT_VIEW
    )
    assert list(frame.columns) == list(drift_data.MOMENT_VIEW.columns)
    assert len(frame) == 1000 and set(frame["experiment_group"]) <= {"control", "treatment"}
    matrix = np.column_stack(
        [
            frame[name].map({"control": 0.0, "treatment": 1.0}).to_numpy(float)
            if name == "experiment_group"
            else frame[name].to_numpy(float)
            for name in moment.FEATURES
        ]
    )
    margin = booster_margin(model, model.booster, matrix)
    expected = read_calibration(moment_trained.folder).probabilities(margin)
    np.testing.assert_allclose(frame[drift_data.PREDICTION], expected, atol=1e-12)
    assert not np.allclose(expected, model.predict_matrix(matrix), atol=1e-4)  # calibrated


@pytest.mark.parametrize("family", ["session", "moment"])
def test_each_view_renders_its_slice_query(family):
    view = drift_data.VIEWS[family]
    sql = drift_data.month_features_sql(f"gold.{view.table}", "duckdb", ["2020-01"], view)
    assert f"from gold.{view.table}" in sql and f"order by {view.order_by}" in sql
    assert sql.count(" as experiment_group") == 1
