"""The moment model beside its baselines and its ablation, on the test month.

Every scorer is fitted on the training months and Platt-calibrated on the calibration month,
the same way, so their numbers differ only by what they know:
- model: xgboost on the 18 features known at the point (the shipped booster); beside it the
  same booster with the user's history withheld (a caller without it), and before calibration
  (calibration metrics only: Platt scaling keeps the ranking);
- prior_rate: the training months' abandonment share, the same for every cart (no fit);
- logistic_regression: scikit-learn on the same 18 features (signed log1p, median-imputed with
  missing-value indicators, standardized);
- seed_at_point: xgboost with the seed's parameters on the seed's four totals as they stand at
  the point (moment.SEED_AT_POINT): what the old model's inputs are worth in time to act;
- whole_session: the session family's model (the seed's four whole-session totals and
  parameters), fitted on the training months' sessions and scored on each row's whole session.
  LEAKY: it sees events after the point, the purchase itself included; it is the ceiling the
  old model's AUC seemed to promise, not something a live session can reach.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from pipeline.model.moment import metrics
from pipeline.model.moment.calibrate import fit_platt, logit, margins
from pipeline.model.moment.data import FIRST_CART, MomentSet, check_two_classes
from pipeline.model.train import fit_booster
from pipeline.serving import moment
from pipeline.serving.calibration import Platt

Points = Literal["pooled", "first_cart"]
SCORERS = (
    "model",
    "model_without_history",
    "prior_rate",
    "logistic_regression",
    "seed_at_point",
    "whole_session",
)
SEED_COLUMNS = [moment.FEATURES.index(name) for name in moment.SEED_AT_POINT]
HISTORY_COLUMNS = [moment.FEATURES.index(name) for name in moment.HISTORY]
Scorer = Callable[[MomentSet, np.ndarray], np.ndarray]  # (data, row mask) -> calibrated P
# The shipped booster before calibration: the same ranking, so only calibration is measured.
UNCALIBRATED = "model_uncalibrated"


def training_rows(data: MomentSet, points: Points) -> np.ndarray:
    """The rows a model of this kind trains on: every point, or the first cart only."""
    train = data.mask("train")
    return train if points == "pooled" else train & (data.point == FIRST_CART)


def calibration_rows(data: MomentSet, points: Points) -> np.ndarray:
    calibration = data.mask("calibration")
    return calibration if points == "pooled" else calibration & (data.point == FIRST_CART)


@dataclass
class Calibrated:
    """A fitted scorer's log-odds and the Platt scaling fitted on the calibration month."""

    margin: Callable[[np.ndarray], np.ndarray]  # row mask -> log-odds
    platt: Platt

    def probability(self, mask: np.ndarray) -> np.ndarray:
        return self.platt.probabilities(self.margin(mask))


def calibrated(
    data: MomentSet, margin: Callable[[np.ndarray], np.ndarray], points: Points, what: str
) -> Calibrated:
    rows = calibration_rows(data, points)
    check_two_classes(data.y[rows], f"the calibration month's rows ({what})")
    fitted_on = (
        f"{', '.join(data.months('calibration'))}: {int(rows.sum()):,} prediction points"
        + ("" if points == "pooled" else " (first_cart)")
    )
    return Calibrated(margin, fit_platt(margin(rows), data.y[rows], fitted_on))


def fit_model(
    data: MomentSet, params: Mapping[str, Any], seed: int, points: Points
) -> tuple[xgb.Booster, Calibrated]:
    """The shipped kind of model: xgboost on every feature, Platt on the calibration month."""
    rows = training_rows(data, points)
    check_two_classes(data.y[rows], "the training months' rows")
    booster = fit_booster(data.X[rows], data.y[rows], params, seed)
    return booster, calibrated(data, lambda m: margins(booster, data.X[m]), points, "model")


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """log1p on magnitudes, sign kept: prices and revenue may be negative in this data."""
    return np.sign(x) * np.log1p(np.abs(x))


def logistic_pipeline(seed: int):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    return make_pipeline(
        FunctionTransformer(signed_log1p),
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000, random_state=seed),
    )


def whole_session_rows(data: MomentSet, part: str) -> np.ndarray:
    """One row per session of a split part (its first in row order): the session level."""
    rows = np.flatnonzero(data.mask(part))
    _, first = np.unique(data.session_id[rows], return_index=True)
    mask = np.zeros(len(data), dtype=bool)
    mask[rows[first]] = True
    return mask


def fit_scorers(
    data: MomentSet,
    booster: xgb.Booster,
    model: Calibrated,
    params: Mapping[str, Any],
    seed: int,
    points: Points,
) -> dict[str, Scorer]:
    """Every scorer of SCORERS as (data, mask) -> P(abandon)."""
    train = training_rows(data, points)
    prior = float(data.y[train].mean())

    seed_booster = fit_booster(data.X[train][:, SEED_COLUMNS], data.y[train], params, seed)
    seed_model = calibrated(
        data, lambda m: margins(seed_booster, data.X[m][:, SEED_COLUMNS]), points, "seed"
    )

    logistic = logistic_pipeline(seed).fit(data.X[train], data.y[train])
    logistic_model = calibrated(
        data, lambda m: logit(logistic.predict_proba(data.X[m])[:, 1]), points, "logistic"
    )

    sessions = whole_session_rows(data, "train")
    whole_booster = fit_booster(data.whole[sessions], data.y[sessions], params, seed)
    whole_rows = whole_session_rows(data, "calibration")
    whole_platt = fit_platt(
        margins(whole_booster, data.whole[whole_rows]),
        data.y[whole_rows],
        f"{int(whole_rows.sum()):,} sessions of the calibration month",
    )

    def uncalibrated(_: MomentSet, m: np.ndarray) -> np.ndarray:
        return Platt(1.0, 0.0).probabilities(margins(booster, data.X[m]))

    def without_history(_: MomentSet, m: np.ndarray) -> np.ndarray:
        """What a caller without the user's history gets: five features missing."""
        X = data.X[m].copy()
        X[:, HISTORY_COLUMNS] = np.nan
        return model.platt.probabilities(margins(booster, X))

    return {
        "model": lambda _, m: model.probability(m),
        UNCALIBRATED: uncalibrated,
        "model_without_history": without_history,
        "prior_rate": lambda _, m: np.full(int(m.sum()), prior),
        "logistic_regression": lambda _, m: logistic_model.probability(m),
        "seed_at_point": lambda _, m: seed_model.probability(m),
        "whole_session": lambda _, m: whole_platt.probabilities(
            margins(whole_booster, data.whole[m])
        ),
    }


def evaluate_rows(
    data: MomentSet,
    mask: np.ndarray,
    scorers: Mapping[str, Scorer],
    prior: float,
    weights: np.ndarray,
) -> dict[str, Any]:
    """Every scorer's metrics on the rows of `mask`; `weights` are the bootstrap's (rows of
    `mask` only), shared by the scorers so their intervals compare."""
    y = data.y[mask]
    probabilities = {name: scorer(data, mask) for name, scorer in scorers.items()}
    model = probabilities["model"]
    abandoned = y == 1
    bought_later = data.y_24h[mask] == 1
    lost = abandoned & ~bought_later  # abandoned and not bought within a day: revenue at risk
    return {
        "rows": int(y.size),
        "sessions": int(np.unique(data.session_id[mask]).size),
        "abandoned_share": float(y.mean()),
        "scorers": {
            name: metrics.score(y, p, prior, weights)
            for name, p in probabilities.items()
            if name != UNCALIBRATED
        },
        UNCALIBRATED: metrics.calibration(y, probabilities[UNCALIBRATED], prior),
        "label_24h": {
            "abandoned_bought_within_24h_share": (
                float(bought_later[abandoned].mean()) if abandoned.any() else None
            ),
            "lost_share": float(lost.mean()),
            "model_roc_auc_for_lost": (
                metrics.Ranked.of(lost.astype(float), model).roc_auc(np.ones(y.size))
                if 0 < lost.sum() < y.size
                else None
            ),
        },
    }


def evaluate_test(
    data: MomentSet,
    scorers: Mapping[str, Scorer],
    prior: float,
    *,
    n_boot: int,
    seed: int,
) -> dict[str, Any]:
    """Pooled over every prediction point, and per point, on the test month."""
    test = data.mask("test")
    check_two_classes(data.y[test], "the test month's rows")
    weights = metrics.session_weights(data.session_id[test], n_boot, seed)
    pooled = evaluate_rows(data, test, scorers, prior, weights)
    per_point = {}
    for point in data.points:
        inside = data.point[test] == point
        mask = test & (data.point == point)
        per_point[point] = evaluate_rows(data, mask, scorers, prior, weights[:, inside])
    return {"pooled": pooled, "per_point": per_point}


def compare_pooling(
    data: MomentSet,
    shipped: Calibrated,
    points: Points,
    params: Mapping[str, Any],
    seed: int,
    n_boot: int,
) -> dict[str, Any]:
    """The pooled model against one trained on first carts only (the shipped one and the other
    kind, fitted here), both on the first carts of the calibration month (where the choice is
    judged) and of the test month (for the record)."""
    other: Points = "first_cart" if points == "pooled" else "pooled"
    _, refitted = fit_model(data, params, seed, other)
    kinds = {points: shipped, other: refitted}
    prior = float(data.y[training_rows(data, "pooled")].mean())
    kept = ("rows", "roc_auc", "roc_auc_ci", "pr_auc", "pr_auc_ci", "brier", "brier_skill")
    out: dict[str, Any] = {}
    for part in ("calibration", "test"):
        mask = data.mask(part, FIRST_CART)
        weights = metrics.session_weights(data.session_id[mask], n_boot, seed)
        out[part] = {
            kind: {
                key: value
                for key, value in metrics.score(
                    data.y[mask], kinds[kind].probability(mask), prior, weights
                ).items()
                if key in kept
            }
            for kind in ("pooled", "first_cart")
        }
    return out
