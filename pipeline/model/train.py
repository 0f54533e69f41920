"""`ecom train --engine local`: xgboost on gold.fct_cart_sessions, evaluated two ways.

The booster that ships is fitted on the random split's training rows (the rows BigQuery ML
trains on with DATA_SPLIT_METHOD='CUSTOM'); a second booster with the same parameters is fitted
on the time split for its metrics only.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from pipeline.errors import DataContractError, EcomError
from pipeline.model.card import honest_sections
from pipeline.model.dataset import (
    Split,
    TrainingSet,
    check_two_classes,
    from_frame,
    random_split,
    time_split,
    training_query,
)
from pipeline.model.evaluate import band_table, baselines, evaluate, mean_abs_contributions
from pipeline.model.gold import injected_purchase_share, read_cart_sessions
from pipeline.model.writer import contract_metadata, write_model
from pipeline.serving import artifact, registry
from pipeline.serving.card import ModelCard
from pipeline.serving.features import FEATURES, LABEL
from pipeline.serving.risk import DEFAULT_THRESHOLDS
from pipeline.settings import Settings

# The model's hyper-parameters, written out in full so BigQuery ML can be given the same ones
# (sql/bqml/create_model.sql is rendered from this dict). Values equal xgboost's defaults
# except the three the design fixes: 100 trees, depth 4, learning rate 0.1.
TRAIN_PARAMS: dict[str, Any] = {
    "objective": "binary:logistic",
    "booster": "gbtree",
    "n_estimators": 100,
    "max_depth": 4,
    "learning_rate": 0.1,
    "tree_method": "hist",
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "colsample_bylevel": 1.0,
    "colsample_bynode": 1.0,
    "min_child_weight": 1.0,
    "gamma": 0.0,
    "reg_alpha": 0.0,
    "reg_lambda": 1.0,
    "num_parallel_tree": 1,
}
REFERENCE_ROWS = 1_000
# What each split's metrics score ("booster" in the card), so cards of both engines say it.
SHIPPED_BOOSTER = "the shipped booster (fitted on this split's training rows)"
REFIT_BOOSTER = (
    "a second xgboost booster with the shipped parameters, fitted on this split's training "
    "rows for these metrics only (the shipped one trained on 4 in 5 of the test month's "
    "sessions, so scoring it here would leak)"
)


@dataclass
class TrainResult:
    model_dir: Path
    card: dict[str, Any]  # the card's JSON object, as model_card.json holds it


def fit_booster(X: np.ndarray, y: np.ndarray, params: Mapping[str, Any], seed: int) -> xgb.Booster:
    """Fit with the native API: n_estimators becomes the number of boosting rounds."""
    check_two_classes(y, "the training split")
    native = {k: v for k, v in params.items() if k != "n_estimators"}
    native.update(seed=seed, eval_metric="logloss", verbosity=0)
    dtrain = xgb.DMatrix(X, label=y, missing=np.nan, feature_names=None)
    return xgb.train(native, dtrain, num_boost_round=int(params["n_estimators"]))


def predict(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return booster.inplace_predict(X, missing=np.nan)


def evaluate_split(
    data: TrainingSet, split: Split, params: Mapping[str, Any], seed: int, n_boot: int
) -> tuple[xgb.Booster, dict[str, Any]]:
    X_train, y_train = data.X[split.train], data.y[split.train]
    X_test, y_test = data.X[split.test], data.y[split.test]
    check_two_classes(y_test, f"the {split.name} split's test set")
    booster = fit_booster(X_train, y_train, params, seed)
    p_test = predict(booster, X_test)
    report = {
        "description": split.note,
        "booster": SHIPPED_BOOSTER if split.name == "random" else REFIT_BOOSTER,
        "train_rows": int(y_train.size),
        "test_rows": int(y_test.size),
        "model": evaluate(y_test, p_test, seed=seed, n_boot=n_boot),
        "baselines": baselines(X_train, y_train, X_test, y_test, seed=seed, n_boot=n_boot),
        "risk_bands": band_table(y_test, p_test, DEFAULT_THRESHOLDS),
    }
    return booster, report


def load_training_set(settings: Settings) -> TrainingSet:
    """The training set from gold (the months of the training window); a WarehouseError saying
    to run `ecom warehouse` if absent."""
    frame = read_cart_sessions(
        settings,
        lambda table, engine: training_query(table, settings.seed, engine, settings.train_through),
        "model's training set",
    )
    if frame.height == 0 and settings.train_through:
        raise DataContractError(
            f"fct_cart_sessions has no cart sessions up to {settings.train_through} (the "
            "training window set by --through / ECOM_TRAIN_THROUGH): pick a later month."
        )
    return from_frame(frame.sort("session_id"))


def feature_stats(X: np.ndarray, names: Sequence[str] = FEATURES) -> dict[str, dict[str, float]]:
    """Each feature's observed range (the session contract's by default)."""
    stats = {}
    for i, name in enumerate(names):
        column = X[:, i][~np.isnan(X[:, i])]
        if column.size:
            stats[name] = {"min": float(column.min()), "max": float(column.max())}
    return stats


def reference_sample(
    data: TrainingSet | Any,
    mask: np.ndarray,
    seed: int,
    names: Sequence[str] = FEATURES,
    label: str = LABEL,
) -> dict[str, np.ndarray]:
    """REFERENCE_ROWS training rows drawn without replacement (seeded), in row order; `data`
    is any set with X (columns `names`) and y."""
    rows = np.flatnonzero(mask)
    pick = np.sort(np.random.default_rng(seed).choice(rows, min(REFERENCE_ROWS, rows.size), False))
    sample = {name: data.X[pick, i] for i, name in enumerate(names)}
    sample[label] = data.y[pick].astype(np.float64)
    return sample


def library_versions() -> dict[str, str]:
    """What trained and evaluated the model: xgboost's module version (whichever distribution,
    xgboost or xgboost-cpu, provides it) and the other libraries' distributions."""
    out = {"python": platform.python_version(), "xgboost": xgb.__version__}
    for name in ("numpy", "scipy", "scikit-learn", "duckdb", "polars"):
        try:
            out[name] = version(name)
        except Exception:  # not installed in this image: leave it out
            continue
    return out


def measure_injected(settings: Settings) -> dict[str, Any]:
    """The injected-only purchase share of the training window, or why it was not measured
    (a warehouse without gold.fact_user_sessions, e.g. one built by hand)."""
    try:
        return injected_purchase_share(settings, settings.train_through)
    except EcomError as err:
        return {"not_measured": str(err).splitlines()[0]}


def importance_on(
    booster: xgb.Booster, reference: Mapping[str, np.ndarray], positive_index: int = 1
) -> dict[str, float]:
    matrix = np.column_stack([reference[name] for name in FEATURES])
    return mean_abs_contributions(booster, matrix, FEATURES, positive_index)


def model_card(
    data: TrainingSet,
    params: Mapping[str, Any],
    seed: int,
    evaluations: Mapping[str, Any],
    engine: str,
    *,
    through: str | None = None,
    importance: Mapping[str, float] | None = None,
    injected: Mapping[str, Any] | None = None,
    booster_sha256: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> ModelCard:
    """The card of a trained model; `extra` holds what one engine adds (BigQuery ML: the
    trainer, the export's objective, the training rows' feature ranges)."""
    card: dict[str, Any] = {
        "model": artifact.MODEL_NAME,
        "model_id": None,  # filled below, from what determines the model
        "engine": engine,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": list(FEATURES),
        "label": LABEL,
        "parameters": {**params, "seed": seed},
        "data_window": {
            "first_session_start": data.session_start_min,
            "last_session_start": data.session_start_max,
            "months": sorted(set(data.session_month.tolist())),
            "through": through,
        },
        "rows": {
            "total": len(data),
            "abandoned": int(data.y.sum()),
            "purchased": int(len(data) - data.y.sum()),
            "train": int((~data.is_eval).sum()),
            "eval": int(data.is_eval.sum()),
        },
        "training_data_fingerprint": data.fingerprint(),
        "library_versions": library_versions(),
        "evaluation": dict(evaluations),
    }
    if booster_sha256:
        card["booster_sha256"] = booster_sha256
    # A content hash (pipeline.serving.registry); trained_at is not in it.
    card["model_id"] = registry.compute_model_id(registry.identity_of(card))
    sections = honest_sections(
        card, importance=importance, injected=injected, reference_rows=REFERENCE_ROWS
    )
    return ModelCard.model_validate({**card, **sections, **(extra or {})})


def train_local(
    settings: Settings,
    *,
    params: Mapping[str, Any] | None = None,
    n_boot: int = 200,
    out_dir: Path | None = None,
    progress=None,
) -> TrainResult:
    """Read the training set, evaluate on both splits, write a new model version."""
    params = {**TRAIN_PARAMS, **(params or {})}
    seed = settings.seed
    task = progress.add_task("train abandonment model", total=4) if progress else None

    def step() -> None:
        if progress is not None:
            progress.advance(task)

    data = load_training_set(settings)
    step()
    split = random_split(data)
    booster, random_report = evaluate_split(data, split, params, seed, n_boot)
    step()
    _, time_report = evaluate_split(data, time_split(data), params, seed, n_boot)
    step()
    reference = reference_sample(data, split.train, seed)
    card = model_card(
        data,
        params,
        seed,
        {"random_split": random_report, "time_split": time_report},
        "local",
        through=settings.train_through,
        importance=importance_on(booster, reference),
        injected=measure_injected(settings),
    )
    metadata = contract_metadata(feature_stats(data.X[split.train]))

    def write(folder: Path) -> Path:
        return write_model(folder, booster, metadata, card, reference)

    # A new version under the models directory, made current (nothing is overwritten);
    # `out_dir` writes a plain folder instead (imports and tests).
    folder = write(out_dir) if out_dir else registry.save_version(settings.models_dir, write)
    step()
    return TrainResult(folder, card.to_dict())
