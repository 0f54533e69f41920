"""Metrics of calibrated probabilities on the test month, with intervals that respect sessions.

A session contributes one row per prediction point it reached, and those rows are not
independent, so the bootstrap resamples sessions (a cluster bootstrap), never rows: every
resample is a weight per row (how often its session was drawn). ROC-AUC and average precision
(PR-AUC) are computed from weights over one sort of the scores, which makes 200 resamples of
50,000 rows take a fraction of a second; tests hold both equal to scikit-learn's
`roc_auc_score` and `average_precision_score` with `sample_weight`.

- Brier score: the mean squared error of the probability; Brier skill score = 1 - Brier /
  Brier of the prior rate (the training months' abandonment share as a constant): 0 = no better
  than knowing the base rate, 1 = perfect, negative = worse than the base rate.
- Reliability: equal-width bins of the predicted probability, each with its rows, mean
  prediction and observed rate; expected calibration error (ECE) = the row-weighted mean of
  |mean prediction - observed rate| over the bins.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

RELIABILITY_BINS = 10
# Resample x row cells processed at once by the bootstrap (about 40 MB of float64 each array).
BLOCK_CELLS = 5_000_000


@dataclass(frozen=True)
class Ranked:
    """Scores sorted once, ties grouped: the weighted curves reuse it for every resample."""

    order: np.ndarray  # row indices by ascending score
    group: np.ndarray  # tie group of each sorted row (0 = lowest score)
    groups: int
    y: np.ndarray  # labels in sorted order (0/1 floats)

    @classmethod
    def of(cls, y: np.ndarray, p: np.ndarray) -> Ranked:
        order = np.argsort(p, kind="stable")
        sorted_p = p[order]
        group = np.concatenate([[0], np.cumsum(sorted_p[1:] != sorted_p[:-1])])
        groups = int(group[-1]) + 1 if group.size else 0
        return cls(order, group, groups, np.asarray(y, dtype=np.float64)[order])

    def _sums(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positive and negative weight per tie group, lowest score first; `w` is one weight
        vector (rows) or several (resamples x rows)."""
        ws = np.atleast_2d(w)[:, self.order]
        neg = ws * (1.0 - self.y)
        pos = ws - neg
        if self.groups < self.y.size:  # ties: one entry per distinct score
            starts = np.flatnonzero(np.diff(self.group, prepend=-1))
            pos = np.add.reduceat(pos, starts, axis=1)
            neg = np.add.reduceat(neg, starts, axis=1)
        return pos, neg

    def curves(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ROC-AUC, average precision) for each weight vector of `w` (resamples x rows).

        ROC-AUC: P(a positive scores above a negative), ties counting half. Average precision:
        the sum over thresholds (highest first) of recall gained x precision there (sklearn's
        step-wise PR-AUC, no interpolation). NaN where a resample lacks a class."""
        pos, neg = self._sums(w)
        total_pos, total_neg = pos.sum(axis=1), neg.sum(axis=1)
        below = np.cumsum(neg, axis=1)
        below -= neg
        below += 0.5 * neg
        tp = np.cumsum(pos[:, ::-1], axis=1)
        flagged = tp + np.cumsum(neg[:, ::-1], axis=1)
        precision = np.divide(tp, flagged, out=np.zeros_like(tp), where=flagged > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            auc = np.einsum("ij,ij->i", pos, below) / (total_pos * total_neg)
            ap = np.einsum("ij,ij->i", np.diff(tp, axis=1, prepend=0.0), precision) / total_pos
        missing = (total_pos <= 0) | (total_neg <= 0)
        auc[missing] = np.nan
        ap[total_pos <= 0] = np.nan
        return auc, ap

    def roc_auc(self, w: np.ndarray) -> float:
        return float(self.curves(np.atleast_2d(w))[0][0])

    def average_precision(self, w: np.ndarray) -> float:
        return float(self.curves(np.atleast_2d(w))[1][0])


def session_weights(sessions: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, rows): how often each row's session was drawn in each resample of sessions."""
    _, cluster = np.unique(sessions, return_inverse=True)
    n = int(cluster.max()) + 1 if cluster.size else 0
    rng = np.random.default_rng(seed)
    weights = np.empty((n_boot, cluster.size))
    for b in range(n_boot):
        drawn = np.bincount(rng.integers(0, n, n), minlength=n).astype(np.float64)
        weights[b] = drawn[cluster]
    return weights


def percentile_interval(values: np.ndarray, level: float = 0.95) -> list[float | None]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return [None, None]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def reliability(y: np.ndarray, p: np.ndarray, bins: int = RELIABILITY_BINS) -> list[dict]:
    """Equal-width bins of p, (low, high] (0 in the first), as scikit-learn's
    calibration_curve bins them: rows, mean predicted, observed rate."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], p)
    table = []
    for b in range(bins):
        inside = which == b
        if inside.any():
            table.append(
                {
                    "bin_low": float(edges[b]),
                    "bin_high": float(edges[b + 1]),
                    "rows": int(inside.sum()),
                    "mean_predicted": float(p[inside].mean()),
                    "observed_rate": float(y[inside].mean()),
                }
            )
    return table


def expected_calibration_error(table: list[dict]) -> float:
    rows = sum(b["rows"] for b in table)
    return float(
        sum(b["rows"] * abs(b["mean_predicted"] - b["observed_rate"]) for b in table) / rows
    )


def bootstrap_curves(ranked: Ranked, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ROC-AUC and average precision of every resample, a block of resamples at a time
    (bounded memory)."""
    if len(weights) == 0:
        return np.array([]), np.array([])
    block = max(1, BLOCK_CELLS // max(1, weights.shape[1]))
    pieces = [ranked.curves(weights[i : i + block]) for i in range(0, len(weights), block)]
    return np.concatenate([a for a, _ in pieces]), np.concatenate([b for _, b in pieces])


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def calibration(y: np.ndarray, p: np.ndarray, prior_rate: float) -> dict[str, Any]:
    """What says whether probabilities are right (not how they rank): Brier, its skill over
    the prior rate, the reliability table and its expected calibration error."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    table = reliability(y, p)
    model_brier = brier(y, p)
    reference = brier(y, np.full_like(y, prior_rate))
    return {
        "brier": model_brier,
        "brier_skill": 1.0 - model_brier / reference if reference > 0 else None,
        "expected_calibration_error": expected_calibration_error(table),
        "mean_predicted": float(p.mean()),
        "reliability": table,
    }


def score(
    y: np.ndarray,
    p: np.ndarray,
    prior_rate: float,
    weights: np.ndarray,
) -> dict[str, Any]:
    """Every metric of one scorer on one set of rows; `weights` are the bootstrap's resamples
    of these rows (session_weights), shared by all scorers so their intervals are comparable."""
    y = np.asarray(y, dtype=np.float64)
    p = np.clip(np.asarray(p, dtype=np.float64), 0.0, 1.0)
    ranked = Ranked.of(y, p)
    ones = np.ones_like(y)
    aucs, aps = bootstrap_curves(ranked, weights)
    return {
        "rows": int(y.size),
        "positive_rate": float(y.mean()),
        "roc_auc": ranked.roc_auc(ones),
        "roc_auc_ci": percentile_interval(aucs),
        "pr_auc": ranked.average_precision(ones),
        "pr_auc_ci": percentile_interval(aps),
        **calibration(y, p, prior_rate),
    }
