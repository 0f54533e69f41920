"""The fast path (lookup tables of xgboost's own leaf and SHAP values) equals the direct
TreeExplainer path and the loader on many rows, edges and missing values included."""

from __future__ import annotations

import numpy as np
import pytest

from api.scorer import Scorer, build_scorer


def rows(scorer: Scorer, n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(4)
    X = np.column_stack(
        [
            rng.integers(0, 80, n),
            rng.integers(1, 9, n),
            np.round(rng.exponential(20, n), 2),
            rng.integers(0, 2, n),
        ]
    ).astype(float)
    X[rng.random(X.shape) < 0.1] = np.nan
    edges = [np.array(t, dtype=float) for t in scorer.tables.thresholds]
    for f, thresholds in enumerate(edges):  # exactly on each split, and just below it
        block = np.tile(X[:1], (2 * len(thresholds), 1))
        block[: len(thresholds), f] = thresholds
        block[len(thresholds) :, f] = np.nextafter(thresholds.astype(np.float32), -np.inf)
        X = np.vstack([X, block])
    return X


@pytest.mark.parametrize("which", ["trained_api_model", "bqml_api_model"])
def test_tables_equal_the_explainer_and_the_loader(request, which):
    model = request.getfixturevalue(which).model
    scorer = build_scorer(model)
    assert scorer.tables is not None, scorer.fast_path_problem
    X = rows(scorer)
    shap_values = scorer.shap_matrix(X)
    probabilities = model.predict_matrix(X)
    for i, row in enumerate(X.tolist()):
        got = scorer.explain(row)
        assert got.probability == pytest.approx(probabilities[i], abs=1e-6)
        np.testing.assert_allclose(got.contributions, shap_values[i], atol=1e-5)
        assert got.margin == pytest.approx(
            np.log(probabilities[i] / (1 - probabilities[i])), abs=2e-5
        )


def test_without_tables_the_explainer_answers_the_same(trained_api_model):
    fast = build_scorer(trained_api_model.model)
    slow = build_scorer(trained_api_model.model)
    slow.tables = None
    for row in rows(fast, 50).tolist()[:60]:
        a, b = fast.explain(row), slow.explain(row)
        assert a.probability == pytest.approx(b.probability, abs=1e-6)
        np.testing.assert_allclose(a.contributions, b.contributions, atol=1e-5)
        assert a.base_value == b.base_value


@pytest.mark.parametrize("which", ["trained_api_model", "bqml_api_model"])
def test_one_row_and_a_batch_give_the_same_bits(request, which):
    """One scoring path: a session scored alone (/predict) or among 2,000 others
    (/bulk_predict), and by the bulk process's scorer (no SHAP tables), gets the same float."""
    model = request.getfixturevalue(which).model
    scorer = build_scorer(model)
    bulk_only = build_scorer(model, explain=False)
    assert bulk_only.tables is not None and bulk_only.tables.shap is None
    X = np.vstack([rows(scorer), rows(scorer, 2000)])
    batch = scorer.probabilities(X)
    assert np.array_equal(bulk_only.probabilities(X), batch)
    alone = np.array([scorer.explain(row).probability for row in X.tolist()])
    assert np.array_equal(alone, batch), np.max(np.abs(alone - batch))
    np.testing.assert_allclose(batch, model.predict_matrix(X), atol=1e-6)
