"""The trees as data (pipeline/serving/trees.py) against xgboost itself, without SQL: the
float32 edge of a threshold, and the grid of cells the DuckDB scorer looks margins up in."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from pipeline.serving import artifact
from pipeline.serving.trees import float32_edge, grid_margin, grid_parts, margin_model
from tests.model.conftest import bqml_like_export, cart_sessions, design_matrix
from tests.model.scoring_inputs import hard_inputs, with_missing


def test_float32_edge_separates_exactly_what_float32_rounding_does():
    """x < edge must equal float32(x) < t for every double: around each edge, far from it,
    at ±inf and beyond float32's range."""
    rng = np.random.default_rng(0)
    finfo = np.finfo(np.float32)
    thresholds = np.concatenate(
        [
            np.float32([0.0, -0.0, 0.5, 1.0, 2.0, 0.1, 1e-3, 12.5, 16777216.0]),
            np.float32([finfo.max, -finfo.max, finfo.tiny, finfo.smallest_subnormal]),
            (rng.standard_normal(200) * 10.0 ** rng.integers(-30, 30, 200)).astype(np.float32),
        ]
    )
    checked = 0
    for t in thresholds:
        edge = float32_edge(float(t))
        near = [edge, np.nextafter(edge, -np.inf), np.nextafter(edge, np.inf), float(t)]
        with np.errstate(over="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            spread = float(np.spacing(np.float32(t))) * rng.uniform(-3, 3, 50)
            xs = np.concatenate([near, float(t) + spread, [np.inf, -np.inf, 1e39, -1e39, 1e300]])
            xs = xs[~np.isnan(xs)]
            expected = xs.astype(np.float32) < t
        np.testing.assert_array_equal(xs < edge, expected, err_msg=f"threshold {t!r}")
        checked += xs.size
    assert checked > 10_000


def booster_margin(model: artifact.LoadedModel, X: np.ndarray) -> np.ndarray:
    raw = model.booster.inplace_predict(model.impute(X), missing=np.nan, predict_type="margin")
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        return raw
    return raw[:, model.positive_index] - raw[:, 1 - model.positive_index]


def test_one_grid_holds_the_boosters_own_margins(missing_model):
    X = hard_inputs(missing_model, design_matrix(cart_sessions(2000, seed=3)))
    (part,) = grid_parts(missing_model)
    assert part.features == (0, 1, 2, 3)
    intercept = margin_model(missing_model).intercept
    got = grid_margin([part], intercept, X)
    # The cell margin is xgboost's float32 margin at a point of the cell: equal to rounding.
    np.testing.assert_allclose(got, booster_margin(missing_model, X), atol=1e-12, rtol=0)


def test_grid_split_into_parts_adds_up(missing_model):
    X = hard_inputs(missing_model, design_matrix(cart_sessions(2000, seed=4)))
    whole = grid_parts(missing_model)[0].cells
    parts = grid_parts(missing_model, max_cells=whole // 20)
    assert len(parts) > 3 and all(p.cells <= whole // 20 for p in parts)
    assert [p.offset for p in parts] == list(np.cumsum([0] + [p.cells for p in parts[:-1]]))
    got = grid_margin(parts, margin_model(missing_model).intercept, X)
    # Leaves summed in double per part, against xgboost's float32 sum.
    np.testing.assert_allclose(got, booster_margin(missing_model, X), atol=1e-5, rtol=0)


def test_softprob_export_with_means_imputes_nan(tmp_path: Path):
    data = cart_sessions(1500, seed=11)
    X = design_matrix(data)
    bqml_like_export(
        tmp_path, X, data["abandoned_cart"].astype(int), means={"session_duration_minutes": 12.5}
    )
    model = artifact.load_model(tmp_path)
    inputs = hard_inputs(model, with_missing(X, 0.1, 3))
    got = grid_margin(grid_parts(model), margin_model(model).intercept, inputs)
    np.testing.assert_allclose(got, booster_margin(model, inputs), atol=1e-12, rtol=0)


def test_covers_are_the_training_weight_of_each_node(missing_model):
    """Each split's cover is its children's sum (TreeSHAP weighs paths by them); the root's is
    the training rows' hessian sum, the same in every tree."""
    from pipeline.serving.trees import Leaf

    margin = margin_model(missing_model)

    def check(node) -> float:
        if isinstance(node, Leaf):
            assert node.cover > 0
            return node.cover
        children = check(node.yes) + check(node.no)
        assert node.cover == pytest.approx(children, rel=1e-5)
        return node.cover

    roots = [check(tree) for tree in margin.trees]
    assert max(roots) > 0 and len(roots) == len(margin.trees)
