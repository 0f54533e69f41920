"""SHAP: TreeExplainer agrees with xgboost's own contributions; the three plots are written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xgboost as xgb

from pipeline.model.explain import explain_matrix, explain_model, waterfall_png
from pipeline.model.train import load_training_set
from pipeline.serving import artifact
from tests.model.conftest import bqml_like_export

PNG = b"\x89PNG\r\n\x1a\n"


def test_shap_equals_pred_contribs(trained):
    model = trained.model
    reference = artifact.read_reference(model.path)
    X = np.column_stack([reference[f] for f in model.feature_names])
    explanation = explain_matrix(model, X)
    contribs = model.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    np.testing.assert_allclose(explanation.values, contribs[:, :-1], atol=1e-5)
    np.testing.assert_allclose(explanation.base_value, contribs[0, -1], atol=1e-5)
    # Additivity: base + contributions = the margin, whose sigmoid is the probability.
    margin = explanation.base_value + explanation.values.sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), model.predict_matrix(X), atol=1e-5)


def test_shap_for_bigquery_softprob_export(trained, tmp_path: Path):
    data = load_training_set(trained.settings)
    bqml_like_export(tmp_path, data.X, data.y, class_names=("0", "1"), rounds=5)
    model = artifact.load_model(tmp_path)
    X = data.X[:200]
    explanation = explain_matrix(model, X)
    contribs = model.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    np.testing.assert_allclose(
        explanation.values, contribs[:, model.positive_index, :-1], atol=1e-5
    )


def test_plots_are_written(trained, tmp_path: Path):
    paths = explain_model(trained.model.path, tmp_path / "shap")
    assert set(paths) == {"beeswarm", "bar", "waterfall"}
    for path in paths.values():
        content = path.read_bytes()
        assert content.startswith(PNG) and len(content) > 10_000, path


def test_waterfall_png_bytes(trained):
    reference = artifact.read_reference(trained.model.path)
    X = np.column_stack([reference[f] for f in trained.model.feature_names])[:5]
    assert waterfall_png(explain_matrix(trained.model, X), 0).startswith(PNG)
