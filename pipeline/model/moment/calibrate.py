"""Platt scaling fitted on the calibration month: two numbers every scorer applies.

P = sigmoid(slope * margin + intercept), where margin is the booster's log-odds; the fit is an
unpenalized logistic regression of the label on the margin (scikit-learn's Newton solver, to
1e-10), checked against statsmodels' Logit in the tests. The result is the serving core's
`Platt` (pipeline.serving.calibration), which the API, the SQL scorer and the card share.
"""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from pipeline.serving.calibration import Platt


def margins(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """The booster's log-odds of abandonment for each row (NaN = missing input)."""
    raw = booster.inplace_predict(X, missing=np.nan, predict_type="margin")
    return np.asarray(raw, dtype=np.float64).reshape(-1)


def fit_platt(margin: np.ndarray, y: np.ndarray, fitted_on: str) -> Platt:
    """The slope and intercept that maximize the likelihood of `y` given sigmoid(a*m + b)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=200)
    model.fit(np.asarray(margin, dtype=np.float64).reshape(-1, 1), np.asarray(y))
    return Platt(float(model.coef_[0, 0]), float(model.intercept_[0]), fitted_on)


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities (clipped off 0 and 1): a baseline's 'margin' for Platt."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-12, 1 - 1e-12)
    return np.log(q / (1 - q))
