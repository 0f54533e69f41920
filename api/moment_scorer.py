"""The moment model's numbers for one prediction point: the booster's margin, its calibrated
probability and the SHAP contributions of the margin.

The margin is intercept + the trees' leaves summed in double, as the SQL scorers sum them (not
xgboost's float32 sum, which differs by a few 1e-6): the API and SQL scoring then return the
same calibrated number. Calibration is the version's (pipeline.serving.calibration): P =
sigmoid(slope x margin + intercept). SHAP values stay on the margin scale, where they add up:
base_value + sum(contributions) = margin.

Two paths, the same numbers. The per-leaf TreeSHAP tables (api.treeshap, ~0.1 ms a row),
checked against xgboost when built; if they cannot be built or disagree, xgboost itself on a
one-row matrix (`pred_leaf` for the margin, `pred_contribs` for the SHAP values: a few tenths
of a millisecond more), and the log says so.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from api.scorer import PREDICT_THREADS
from api.treeshap import PathShap
from pipeline.serving.artifact import LoadedModel, read_reference
from pipeline.serving.calibration import Platt
from pipeline.serving.trees import leaf_table, margin_model

log = logging.getLogger("api.scorer")
# How closely the tables must reproduce xgboost when built: the same leaves summed the same
# way for the margin; xgboost's float32 arithmetic for the SHAP values.
CHECK_MARGIN_ATOL = 1e-9
CHECK_SHAP_ATOL = 1e-5


@dataclass(frozen=True)
class MomentScore:
    margin: float  # the booster's log-odds, before calibration
    probability: float  # calibrated
    base_value: float  # E[margin] over the training data (xgboost's SHAP bias)
    contributions: tuple[float, ...]  # SHAP, margin scale, contract order


class MomentScorer:
    """Scores one encoded row of the moment contract (NaN = missing)."""

    def __init__(self, model: LoadedModel, calibration: Platt) -> None:
        self.model = model
        self.calibration = calibration
        self.booster = model.booster.copy()  # its own thread setting
        self.booster.set_param({"nthread": PREDICT_THREADS})
        self.n_features = self.booster.num_features()
        # A BigQuery ML export imputes missing numbers by their mean; a local booster does not.
        self._imputes = any(
            c.encode_type == "numeric" and c.mean is not None for c in model.columns
        )
        margin = margin_model(model)
        self.intercept = margin.intercept
        leaves = [
            leaf_table(tree) * sign for tree, sign in zip(margin.trees, margin.signs, strict=True)
        ]
        self._leaf_values = np.full((len(leaves), max(len(t) for t in leaves)), np.nan)
        for t, table in enumerate(leaves):
            self._leaf_values[t, : len(table)] = table
        self._trees = np.arange(len(leaves))
        self.base_value = float(self._xgboost_contribs(np.zeros((1, self.n_features)))[0, -1])
        self.tables: PathShap | None = None
        self.problem = ""
        try:
            self.tables = PathShap(margin, self.n_features)
            self._check()
        except Exception as err:  # never fail to serve because of the optimisation
            self.tables, self.problem = None, str(err)
            log.warning("moment SHAP tables not used (%s): xgboost scores each row", err)

    @property
    def fast(self) -> bool:
        return self.tables is not None

    def score(self, row: Sequence[float]) -> MomentScore:
        x = np.asarray([row], dtype=np.float64)
        if self._imputes:
            x = self.model.impute(x)
        if self.tables is not None:
            margin, shap = self.tables.explain(x[0])
        else:
            margin, shap = self._xgboost(x)
        return MomentScore(
            margin=margin,
            probability=self.calibration.probability(margin),
            base_value=self.base_value,
            contributions=tuple(shap.tolist()),
        )

    # -- xgboost itself: the fallback, and the reference the tables are checked against
    def _xgboost_contribs(self, matrix: np.ndarray) -> np.ndarray:
        """SHAP values and bias (last column) of the positive class's margin, float64."""
        dmatrix = xgb.DMatrix(matrix, missing=np.nan, nthread=PREDICT_THREADS)
        raw = np.asarray(self.booster.predict(dmatrix, pred_contribs=True), np.float64)
        if raw.ndim == 3:  # two-class softprob: positive minus negative
            positive = self.model.positive_index
            return raw[:, positive, :] - raw[:, 1 - positive, :]
        return raw

    def _xgboost(self, matrix: np.ndarray) -> tuple[float, np.ndarray]:
        margin = float(self._leaf_margins(matrix)[0])
        return margin, self._xgboost_contribs(matrix)[0, : self.n_features]

    def _leaf_margins(self, matrix: np.ndarray) -> np.ndarray:
        """intercept + the leaves each row reaches (xgboost's routing), summed in double."""
        dmatrix = xgb.DMatrix(matrix, missing=np.nan, nthread=PREDICT_THREADS)
        leaves = np.asarray(self.booster.predict(dmatrix, pred_leaf=True), dtype=np.int64)
        values = self._leaf_values[self._trees, leaves.reshape(matrix.shape[0], -1)]
        return np.asarray([self.intercept + math.fsum(v) for v in values.tolist()])

    def _check(self) -> None:
        """The tables against xgboost on random rows, the reference sample and missing values."""
        assert self.tables is not None
        rng = np.random.default_rng(0)
        rows = [
            rng.uniform(-1, 1, (64, self.n_features)) * 100,
            np.full((1, self.n_features), np.nan),
        ]
        try:
            reference = read_reference(self.model.path)
            rows.append(np.column_stack([reference[n] for n in self.model.feature_names]))
        except Exception:
            pass  # an export without a reference sample: random rows only
        matrix = self.model.impute(np.vstack(rows))
        margins = self._leaf_margins(matrix)
        contribs = self._xgboost_contribs(matrix)[:, : self.n_features]
        for i, row in enumerate(matrix):
            margin, shap = self.tables.explain(row)
            if (
                abs(margin - margins[i]) > CHECK_MARGIN_ATOL
                or np.max(np.abs(shap - contribs[i])) > CHECK_SHAP_ATOL
            ):
                raise ValueError(
                    f"SHAP tables disagree with xgboost on row {row.tolist()}: margin {margin} "
                    f"vs {margins[i]}, shap {shap.tolist()} vs {contribs[i].tolist()}"
                )
