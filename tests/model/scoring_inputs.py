"""Inputs that SQL scorers get wrong: models trained with missing values, real NaN doubles,
NULLs, ±inf, -0.0, values beyond float32's range and values on every split threshold."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import xgboost as xgb

from pipeline.model import writer
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES
from tests.model.conftest import cart_sessions, design_matrix

FLOAT32_MAX = float(np.finfo(np.float32).max)
# Every one of these goes into every feature (the booster casts doubles to float32: 1e39 and
# 3.5e38 become +inf, 1e-50 becomes 0.0).
SPECIAL_VALUES = (
    np.nan,
    np.inf,
    -np.inf,
    -0.0,
    0.0,
    1e39,
    -1e39,
    3.5e38,
    FLOAT32_MAX,
    np.nextafter(FLOAT32_MAX, np.inf),
    1e300,
    1e-50,
    -1e-50,
)


def with_missing(X: np.ndarray, share: float, seed: int) -> np.ndarray:
    """X with `share` of every column's values replaced by NaN."""
    X = X.copy()
    X[np.random.default_rng(seed).random(X.shape) < share] = np.nan
    return X


def train_with_missing(folder: Path, rows: int = 4000, seed: int = 5, **params) -> Path:
    """A local model (the real parameters unless overridden) trained on data where every
    feature is missing in 15% of rows, so its trees hold default branches both ways."""
    from pipeline.model.train import TRAIN_PARAMS, fit_booster

    data = cart_sessions(rows, seed=seed)
    X = with_missing(design_matrix(data), 0.15, seed)
    booster = fit_booster(X, data["abandoned_cart"].astype(int), {**TRAIN_PARAMS, **params}, seed)
    card = {"model_id": f"abandonment-test{seed:08d}", "engine": "local"}
    return writer.write_model(
        folder, booster, writer.contract_metadata({}), card, {"total_views": X[:2, 0]}
    )


def threshold_rows(model: artifact.LoadedModel, base: np.ndarray) -> np.ndarray:
    """For every split: the threshold, the double just below it, the largest double below it
    that rounds up to it in float32, and the next float32 below."""
    rows = []
    for tree in model.booster.get_dump(dump_format="json"):
        stack = [json.loads(tree)]
        while stack:
            node = stack.pop()
            if "leaf" in node:
                continue
            stack.extend(node["children"])
            column = int(node["split"].lstrip("f"))
            t = np.float32(node["split_condition"])
            below32 = np.nextafter(t, np.float32(-np.inf))
            rounds_up = (float(t) + float(below32)) / 2 + np.spacing(float(t))
            for value in (float(t), float(np.nextafter(float(t), -np.inf)), rounds_up, below32):
                row = base.copy()
                row[column] = value
                rows.append(row)
    return np.array(rows)


def special_rows(base: np.ndarray) -> np.ndarray:
    """Each special value in each feature alone, and all features special at once."""
    rows = []
    for column in range(base.size):
        for value in SPECIAL_VALUES:
            row = base.copy()
            row[column] = value
            rows.append(row)
    for value in SPECIAL_VALUES:
        rows.append(np.full(base.size, value))
    return np.array(rows)


def hard_inputs(model: artifact.LoadedModel, X: np.ndarray, seed: int = 1) -> np.ndarray:
    """Ordinary rows with missing values, threshold rows and special rows, stacked."""
    base = X[~np.isnan(X).any(axis=1)][0]
    return np.vstack(
        [with_missing(X, 0.2, seed), threshold_rows(model, base), special_rows(base)]
    ).astype(np.float64)


def as_table(X: np.ndarray, null_share: float = 0.0, seed: int = 2) -> pa.Table:
    """X as an Arrow table of DOUBLE columns named by the contract, plus a row index: NaN
    stays a NaN double; `null_share` of the NaN cells become NULL instead."""
    nulls = np.isnan(X) & (np.random.default_rng(seed).random(X.shape) < null_share)
    columns = {"i": pa.array(np.arange(X.shape[0]))}
    for j, name in enumerate(FEATURES):
        columns[name] = pa.array(X[:, j], mask=nulls[:, j])  # mask = NULL; NaN kept otherwise
    return pa.table(columns)


def booster_predict(model: artifact.LoadedModel, X: np.ndarray) -> np.ndarray:
    """The booster's own prediction at the positive class (NaN = missing): Booster.predict
    for rows a DMatrix accepts, in-place prediction (what the loader and the API use) for
    rows holding a value that is infinite in float32 (a DMatrix refuses those)."""
    X = model.impute(X)
    with np.errstate(over="ignore"):
        infinite = np.isinf(X.astype(np.float32)).any(axis=1)
    parts = []
    if (~infinite).any():
        parts.append((~infinite, model.booster.predict(xgb.DMatrix(X[~infinite], missing=np.nan))))
    if infinite.any():
        parts.append((infinite, model.booster.inplace_predict(X[infinite], missing=np.nan)))
    out = np.empty(X.shape[0])
    for rows, values in parts:
        values = np.asarray(values, dtype=np.float64)
        out[rows] = values if values.ndim == 1 else values[:, model.positive_index]
    return out
