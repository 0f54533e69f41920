"""Metrics for a probabilistic classifier, with bootstrap intervals and baselines beside it.

Everything a reader needs to judge the model: ranking (ROC-AUC, PR-AUC with 95% percentile
bootstrap intervals), accuracy at 0.5, log-loss, Brier score, a calibration table and the
classification report; the same numbers for a majority-class and a logistic-regression baseline
fitted on the same split, so the model's value over them is visible.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    classification_report,
    log_loss,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

CLASS_LABELS = {0: "purchased", 1: "abandoned"}
Metric = Callable[[np.ndarray, np.ndarray], float]


def fast_roc_auc(y: np.ndarray, p: np.ndarray) -> float:
    """ROC-AUC as the Mann-Whitney statistic from average ranks: equal to sklearn's, several
    times faster, which matters inside a 200-resample bootstrap of a large test set."""
    ranks = rankdata(p)
    positives = y == 1
    n_pos = int(positives.sum())
    n_neg = y.size - n_pos
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_interval(
    y: np.ndarray, p: np.ndarray, metric: Metric, *, n_boot: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of a metric over resampled rows (seeded)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, y.size, y.size)
        if y[idx].min() == y[idx].max():
            continue  # a resample with one class has no AUC; skip it
        values.append(metric(y[idx], p[idx]))
    if not values:
        return (float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list[dict[str, float]]:
    """Equal-width probability bins: rows, mean predicted probability, observed abandonment."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1], right=False), 0, bins - 1)
    table = []
    for b in range(bins):
        mask = which == b
        if not mask.any():
            continue
        table.append(
            {
                "bin_low": float(edges[b]),
                "bin_high": float(edges[b + 1]),
                "rows": int(mask.sum()),
                "mean_predicted": float(p[mask].mean()),
                "observed_rate": float(y[mask].mean()),
            }
        )
    return table


def evaluate(
    y: np.ndarray, p: np.ndarray, *, seed: int, n_boot: int = 200, threshold: float = 0.5
) -> dict[str, Any]:
    """All metrics of predicted probabilities `p` against 0/1 labels `y`."""
    y = np.asarray(y, dtype=np.int8)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    predicted = (p >= threshold).astype(np.int8)
    constant = bool(np.ptp(p) == 0)
    out: dict[str, Any] = {
        "rows": int(y.size),
        "positive_rate": float(y.mean()),
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "accuracy": float(accuracy_score(y, predicted)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
    }
    for name, metric in (("roc_auc", fast_roc_auc), ("pr_auc", average_precision_score)):
        if constant:  # a constant score ranks nothing: its interval is the point itself
            low = high = out[name]
        else:
            low, high = bootstrap_interval(y, p, metric, n_boot=n_boot, seed=seed)
        out[f"{name}_ci"] = [low, high]
    out["calibration"] = calibration_table(y, p)
    out["classification_report"] = classification_report(
        y,
        predicted,
        labels=[0, 1],
        target_names=[CLASS_LABELS[0], CLASS_LABELS[1]],
        output_dict=True,
        zero_division=0,
    )
    return out


def logistic_baseline(seed: int):
    """Logistic regression on log1p inputs, standardized; missing values imputed by the median."""
    return make_pipeline(
        SimpleImputer(strategy="median"),
        FunctionTransformer(np.log1p),
        StandardScaler(),
        LogisticRegression(max_iter=1000, random_state=seed),
    )


def baselines(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    seed: int,
    n_boot: int = 200,
) -> dict[str, dict[str, Any]]:
    """Majority class (the training base rate as a constant score) and logistic regression."""
    base_rate = float(np.mean(y_train))
    majority = np.full(y_test.size, base_rate)
    logistic = logistic_baseline(seed).fit(X_train, y_train).predict_proba(X_test)[:, 1]
    return {
        "majority_class": evaluate(y_test, majority, seed=seed, n_boot=n_boot),
        "logistic_regression": evaluate(y_test, logistic, seed=seed, n_boot=n_boot),
    }


def band_table(y: np.ndarray, p: np.ndarray, thresholds: dict[str, float]) -> list[dict[str, Any]]:
    """Each risk band's rows, share, mean predicted and observed abandonment (a band that holds
    no rows reports null rates, never NaN)."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    edges = [
        ("low", 0.0, thresholds["medium"]),
        ("medium", thresholds["medium"], thresholds["high"]),
    ]
    edges.append(("high", thresholds["high"], 1.0))
    table = []
    for band, low, high in edges:
        mask = (p >= low) & ((p < high) if band != "high" else (p <= high))
        rows = int(mask.sum())
        table.append(
            {
                "band": band,
                "from": float(low),
                "to": float(high),
                "rows": rows,
                "share": rows / y.size if y.size else None,
                "mean_predicted": float(p[mask].mean()) if rows else None,
                "observed_abandonment": float(y[mask].mean()) if rows else None,
            }
        )
    return table


def mean_abs_contributions(
    booster: Any, matrix: np.ndarray, feature_names: tuple[str, ...], positive_index: int = 1
) -> dict[str, float]:
    """Mean |SHAP| per feature (log-odds of the positive class), from xgboost's exact TreeSHAP
    (`pred_contribs`, which shap's TreeExplainer equals): no shap import needed to train."""
    import xgboost as xgb

    contributions = booster.predict(xgb.DMatrix(matrix, missing=np.nan), pred_contribs=True)
    if contributions.ndim == 3:  # multi:softprob: (rows, classes, features + bias)
        contributions = contributions[:, positive_index, :]
    values = np.abs(contributions[:, : len(feature_names)]).mean(axis=0)
    return {name: float(v) for name, v in zip(feature_names, values, strict=True)}
