"""The per-leaf TreeSHAP tables against xgboost's own pred_contribs (an independent
implementation of the same algorithm) and its leaves: shallow and deep trees, a feature split
again on the same path, missing values both ways, a leaf-only tree, a two-class softprob export,
and the moment model trained on a warehouse the real pipeline built, on every one of its
prediction points."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xgboost as xgb

from api.moment_scorer import MomentScorer
from api.treeshap import PathShap, leaf_table
from pipeline.serving import artifact, moment
from pipeline.serving.calibration import read_calibration
from pipeline.serving.trees import margin_model
from tests.api.conftest import TrainedModel
from tests.moment_model import feature_matrix, moment_rows, reference_margins


class _Model:
    """What margin_model reads of a LoadedModel."""

    def __init__(self, booster: xgb.Booster, objective: str) -> None:
        self.booster = booster
        self.objective = objective
        self.class_names = ("0", "1")
        self.positive_index = 1
        self.is_numeric_only = True
        self.path = "test"


def data(seed: int, n: int = 3000, width: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, width))
    X[:, 1] = np.round(X[:, 1] * 3)  # ties on thresholds
    X[rng.random((n, width)) < 0.15] = np.nan  # missing values, learned default branches
    logit = np.nan_to_num(X[:, 0]) * 1.5 - np.nan_to_num(X[:, 1]) + np.sin(np.nan_to_num(X[:, 2]))
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return X, y


def rows_to_check(X: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    extremes = rng.choice([-1e6, -1.0, 0.0, 1.0, 1e6, np.nan], size=(50, X.shape[1]))
    return np.vstack([X[:400], extremes, np.full((1, X.shape[1]), np.nan)])


@pytest.mark.parametrize(("depth", "rounds"), [(1, 5), (2, 30), (4, 60), (6, 40)])
def test_binary_models_equal_xgboost(depth: int, rounds: int) -> None:
    X, y = data(depth)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": depth, "seed": 0, "verbosity": 0},
        xgb.DMatrix(X, label=y, missing=np.nan),
        num_boost_round=rounds,
    )
    check(booster, "binary:logistic", rows_to_check(X, depth))


def test_a_tree_that_is_one_leaf_and_a_two_class_softprob_model() -> None:
    X, y = data(7)
    stumps = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "min_child_weight": 1e9, "verbosity": 0},
        xgb.DMatrix(X, label=y, missing=np.nan),
        num_boost_round=3,
    )
    assert all('"leaf"' in t and '"split"' not in t for t in stumps.get_dump(dump_format="json"))
    check(stumps, "binary:logistic", rows_to_check(X, 7))
    softprob = xgb.train(
        {"objective": "multi:softprob", "num_class": 2, "max_depth": 3, "verbosity": 0},
        xgb.DMatrix(X, label=y, missing=np.nan),
        num_boost_round=20,
    )
    check(softprob, "multi:softprob", rows_to_check(X, 8))


def check(booster: xgb.Booster, objective: str, X: np.ndarray) -> None:
    tables = PathShap(margin_model(_Model(booster, objective)), X.shape[1])
    contribs = np.asarray(booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True))
    if contribs.ndim == 3:
        contribs = contribs[:, 1, :] - contribs[:, 0, :]
        raw = booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
        margins = raw[:, 1] - raw[:, 0]
        tolerance = 1e-5
    else:
        margins = reference_margins(booster, X)
        tolerance = 1e-12  # the same leaves, summed in double
    for i, row in enumerate(X):
        margin, shap = tables.explain(row)
        # xgboost sums in float32: a few units in its 7th digit
        np.testing.assert_allclose(shap, contribs[i, :-1], rtol=2e-6, atol=2e-6, err_msg=f"row {i}")
        assert margin == pytest.approx(float(margins[i]), abs=tolerance), i


def test_one_leafs_table_is_the_shapley_value_of_its_game() -> None:
    """Brute force over coalitions for a leaf with three path features."""
    z = [0.3, 0.6, 0.45]
    table = leaf_table(2.0, z)
    d = len(z)
    for pattern in range(2**d):
        o = [(pattern >> i) & 1 for i in range(d)]

        def game(coalition: set[int], o=o) -> float:
            return 2.0 * math.prod(o[i] if i in coalition else z[i] for i in range(d))

        for j in range(d):
            others = [i for i in range(d) if i != j]
            value = 0.0
            for mask in range(2 ** len(others)):
                s = {others[k] for k in range(len(others)) if mask >> k & 1}
                weight = math.factorial(len(s)) * math.factorial(d - len(s) - 1) / math.factorial(d)
                value += weight * (game(s | {j}) - game(s))
            assert table[pattern, j] == pytest.approx(value, abs=1e-15)


def test_the_moment_models_tables_equal_xgboost_on_every_warehouse_point(
    trained_api_model: TrainedModel, moment_warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served model, as the service loads it: the tables are in use, and on every real
    prediction point (missing history included) their SHAP values are xgboost's to 1e-6 and
    their margin is the leaves summed in double; without tables (too large), xgboost itself
    gives the same numbers."""
    version = trained_api_model.moment
    assert version is not None
    model = artifact.load_model(version.folder, features=moment.FEATURES)
    scorer = MomentScorer(model, read_calibration(version.folder))
    assert scorer.fast, scorer.problem
    X = feature_matrix(moment_rows(moment_warehouse))
    assert X.shape[0] > 3000 and np.isnan(X).any(axis=1).mean() > 0.2
    contribs = np.asarray(
        version.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True), np.float64
    )
    margins = reference_margins(version.booster, X)
    assert np.abs(contribs[:, :-1]).max() > 0.1  # contributions of a real size
    for i, row in enumerate(X):
        score = scorer.score(row.tolist())
        np.testing.assert_allclose(
            score.contributions, contribs[i, :-1], rtol=0, atol=1e-6, err_msg=f"row {i}"
        )
        assert score.margin == pytest.approx(float(margins[i]), abs=1e-12), i
        assert score.base_value == pytest.approx(float(contribs[i, -1]), abs=1e-6)
    monkeypatch.setattr("api.treeshap.MAX_TABLE_CELLS", 0)
    fallback = MomentScorer(model, read_calibration(version.folder))
    assert not fallback.fast and "cells" in fallback.problem
    for row in X[:50]:
        slow, fast = fallback.score(row.tolist()), scorer.score(row.tolist())
        assert slow.margin == pytest.approx(fast.margin, abs=1e-12)
        np.testing.assert_allclose(slow.contributions, fast.contributions, rtol=0, atol=1e-6)


def test_paths_deeper_than_the_tables_allow_are_refused_with_the_reason() -> None:
    X, y = data(9)
    deep = xgb.train(
        {"objective": "binary:logistic", "max_depth": 10, "verbosity": 0},
        xgb.DMatrix(X, label=y, missing=np.nan),
        num_boost_round=3,
    )
    with pytest.raises(ValueError, match="depth"):
        PathShap(margin_model(_Model(deep, "binary:logistic")), X.shape[1])
