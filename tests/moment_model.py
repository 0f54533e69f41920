"""A moment model version for the serving tests and the API benchmark, trained on a real
gold.fct_cart_moments: a stand-in for the moment trainer (pipeline/model, issue 20's training
half), kept in ONE function (`train_moment_version`) so that the trainer replaces it in one place.

What it writes is a complete moment version as the serving core defines one: the session
family's folder (booster, metadata, card, reference sample, written by the real writer) plus
calibration.json (Platt, fitted on the last month's points) and decision.json (the default
rule), registered and made current in the `moment` family.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from pipeline.model.writer import write_model
from pipeline.serving import moment, registry
from pipeline.serving.calibration import Platt, write_calibration
from pipeline.serving.decision import DecisionRule, write_rule
from pipeline.serving.features import GROUP_CODES
from pipeline.settings import Settings
from pipeline.warehouse import connect

# The session model's depth, rate and tree count (pipeline.model.train.TRAIN_PARAMS).
PARAMS = {
    "objective": "binary:logistic",
    "max_depth": 4,
    "learning_rate": 0.1,
    "tree_method": "hist",
    "n_estimators": 100,
}
MOMENTS_SQL = "select * from gold.fct_cart_moments order by session_id, prediction_point"


@dataclass(frozen=True)
class MomentVersion:
    folder: Path
    model_id: str
    booster: xgb.Booster
    calibration: Platt


def moment_rows(settings: Settings) -> pl.DataFrame:
    """Every prediction point of the warehouse, in a fixed order."""
    return connect(settings).query(MOMENTS_SQL)


def feature_matrix(frame: pl.DataFrame) -> np.ndarray:
    """The contract's columns as the booster reads them (group coded 0/1, NULL -> NaN)."""
    columns = []
    for name in moment.FEATURES:
        series = frame[name]
        if name == "experiment_group":
            series = series.replace_strict(GROUP_CODES, return_dtype=pl.Float64)
        columns.append(series.cast(pl.Float64).fill_null(math.nan).to_numpy())
    return np.column_stack(columns)


def train_moment_version(settings: Settings, *, seed: int = 0) -> MomentVersion:
    """Train on every month but the last, calibrate on the last, register as current."""
    frame = moment_rows(settings)
    X = feature_matrix(frame)
    y = frame[moment.LABEL].cast(pl.Float64).to_numpy()
    last_month = frame["session_month"].max()
    calibrate = (frame["session_month"] == last_month).to_numpy()
    native = {k: v for k, v in PARAMS.items() if k != "n_estimators"}
    booster = xgb.train(
        {**native, "seed": seed, "verbosity": 0},
        xgb.DMatrix(X[~calibrate], label=y[~calibrate], missing=np.nan),
        num_boost_round=PARAMS["n_estimators"],
    )
    margins = booster.predict(xgb.DMatrix(X[calibrate], missing=np.nan), output_margin=True)
    platt = fit_platt(margins.astype(np.float64), y[calibrate], f"{last_month}, {calibrate.sum()}")
    card = {
        "model": moment.FAMILY,
        "engine": "local",
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": list(moment.FEATURES),
        "label": moment.LABEL,
        "parameters": {**PARAMS, "seed": seed},
        "rows": {"total": len(y), "train": int((~calibrate).sum()), "eval": int(calibrate.sum())},
        "training_data_fingerprint": hashlib.sha256(X.tobytes() + y.tobytes()).hexdigest(),
        "library_versions": {"xgboost": xgb.__version__},
    }
    card["model_id"] = registry.compute_model_id(registry.identity_of(card), moment.FAMILY)
    metadata = {
        "model_type": "boosted_tree_classifier",
        "label_col": moment.LABEL,
        "class_names": ["0", "1"],
        "feature_names": list(moment.FEATURES),
        "features": {name: {} for name in moment.FEATURES},
    }
    pick = np.sort(np.random.default_rng(seed).choice(len(y), min(1000, len(y)), replace=False))
    reference = {name: X[pick, i] for i, name in enumerate(moment.FEATURES)}

    def write(folder: Path) -> Path:
        write_model(folder, booster, metadata, card, reference)
        write_calibration(folder, platt)
        write_rule(folder, DecisionRule())
        return folder

    folder = registry.save_version(settings.models_dir, write, family=moment.FAMILY)
    return MomentVersion(folder, card["model_id"], booster, platt)


def fit_platt(margins: np.ndarray, y: np.ndarray, fitted_on: str) -> Platt:
    """Platt scaling: an unpenalized logistic regression of the label on the margin."""
    fit = LogisticRegression(C=np.inf).fit(margins.reshape(-1, 1), y)
    return Platt(float(fit.coef_[0, 0]), float(fit.intercept_[0]), f"{fitted_on} prediction points")


def reference_margins(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """The booster's margin of each row, leaves summed in double: xgboost routes the rows
    (pred_leaf), the leaf values come from its JSON dump, the intercept from its base score.
    Written here from the booster alone, independently of the service's tree reading."""
    leaves = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_leaf=True).astype(np.int64)
    values = []
    for dump in booster.get_dump(dump_format="json"):
        table: dict[int, float] = {}
        stack = [json.loads(dump)]
        while stack:
            node = stack.pop()
            if "leaf" in node:
                table[node["nodeid"]] = float(np.float32(node["leaf"]))
            stack.extend(node.get("children", []))
        values.append(table)
    config = json.loads(booster.save_config())
    base = float(config["learner"]["learner_model_param"]["base_score"].strip("[]"))
    intercept = math.log(base / (1 - base))
    return np.asarray(
        [intercept + math.fsum(values[t][leaf] for t, leaf in enumerate(row)) for row in leaves]
    )
