"""Fixtures: a real DuckDB warehouse holding gold.fct_cart_sessions with the contract's columns."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest
import xgboost as xgb

from pipeline.model.train import train_local
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES, LABEL
from pipeline.settings import Settings

# Few trees where the tree count is not what a test is about; the real defaults are trained
# once in test_train.py::test_default_parameters.
FAST = {"n_estimators": 20}


def design_matrix(data) -> np.ndarray:
    """The feature matrix of `cart_sessions` data, encoded by hand (treatment = 1), in contract
    order: an encoding independent of pipeline.serving.features, so tests can check it."""
    return np.column_stack(
        [
            data["total_views"],
            data["total_carts"],
            data["session_duration_minutes"],
            data["experiment_group"] == "treatment",
        ]
    ).astype(float)


def cart_sessions(n: int, seed: int, months: tuple[str, ...] = ("2019-10", "2019-11", "2019-12")):
    """Synthetic cart sessions whose abandonment depends on the features (plus noise)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1, max(2, n // 3), n)
    month_idx = rng.integers(0, len(months), n)
    views = rng.poisson(4, n)
    carts = 1 + rng.poisson(0.6, n)
    duration = np.round(rng.exponential(12, n), 2)
    treatment = (users % 2).astype(int)
    logit = 1.2 - 0.35 * (carts - 1) + 0.08 * views - 0.03 * duration - 0.2 * treatment
    abandoned = rng.random(n) < 1 / (1 + np.exp(-logit))
    missing = rng.random(n) < 0.03
    return {
        "session_id": [f"{u}-{i}" for i, u in enumerate(users)],
        "user_id": users,
        "experiment_group": np.where(treatment == 1, "treatment", "control"),
        "session_start": [
            f"{months[m]}-{1 + i % 27:02d} 10:00:00" for i, m in enumerate(month_idx)
        ],
        "session_month": [months[m] for m in month_idx],
        "total_views": views,
        "total_carts": carts,
        "session_duration_minutes": np.where(missing, np.nan, duration),
        "abandoned_cart": abandoned,
    }


def write_warehouse(path: Path, columns: dict) -> None:
    """Create gold.fct_cart_sessions with the contract's column types in a DuckDB file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists gold")
        con.execute(
            """create or replace table gold.fct_cart_sessions (
                session_id varchar, user_id bigint, experiment_group varchar,
                session_start timestamp, session_month varchar, total_views bigint,
                total_carts bigint, session_duration_minutes double, abandoned_cart boolean)"""
        )
        frame = pa.table(  # noqa: F841 (read by DuckDB's replacement scan below)
            {
                "session_id": pa.array(list(columns["session_id"]), pa.string()),
                "user_id": pa.array(np.asarray(columns["user_id"], dtype=np.int64)),
                "experiment_group": pa.array(list(columns["experiment_group"]), pa.string()),
                "session_start": pa.array(list(columns["session_start"]), pa.string()),
                "session_month": pa.array(list(columns["session_month"]), pa.string()),
                "total_views": pa.array(np.asarray(columns["total_views"], dtype=np.int64)),
                "total_carts": pa.array(np.asarray(columns["total_carts"], dtype=np.int64)),
                "session_duration_minutes": pa.array(
                    np.asarray(columns["session_duration_minutes"], dtype=np.float64),
                    from_pandas=True,  # NaN -> NULL, as in the warehouse
                ),
                "abandoned_cart": pa.array(np.asarray(columns["abandoned_cart"], dtype=bool)),
            }
        )
        con.execute("insert into gold.fct_cart_sessions select * from frame")


@pytest.fixture
def warehouse_settings(settings: Settings) -> Settings:
    write_warehouse(settings.warehouse_path, cart_sessions(3000, seed=7))
    return settings


@dataclass
class Trained:
    settings: Settings
    model: artifact.LoadedModel


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    """One small model trained through the real path, shared by the read-only tests."""
    root = tmp_path_factory.mktemp("trained")
    settings = Settings(data_dir=root / "data")
    write_warehouse(settings.warehouse_path, cart_sessions(3000, seed=7))
    result = train_local(settings, params=FAST, n_boot=30)
    return Trained(settings, artifact.load_model(result.model_dir))


def bqml_like_export(
    folder: Path,
    X: np.ndarray,
    y: np.ndarray,
    *,
    class_names: tuple[str, str] = ("1", "0"),
    means: dict[str, float] | None = None,
    rounds: int = 15,
) -> xgb.Booster:
    """A folder shaped like BigQuery ML's EXPORT MODEL of our classifier: a multi:softprob
    booster with two classes in class_names order, saved in the legacy binary format, and
    numeric metadata with means (BigQuery ML imputes missing numbers by the mean)."""
    import json

    means = means or {}
    data = X.copy()
    for i, name in enumerate(FEATURES):
        if name in means:
            data[np.isnan(data[:, i]), i] = means[name]
    # Class k of the booster is class_names[k]; the label arrives as 0/1 with 1 = abandoned.
    positive = next(i for i, c in enumerate(class_names) if c in ("1", "true"))
    target = np.where(y == 1, positive, 1 - positive)
    booster = xgb.train(
        {"objective": "multi:softprob", "num_class": 2, "max_depth": 3, "seed": 1, "verbosity": 0},
        xgb.DMatrix(data, label=target, missing=np.nan),
        num_boost_round=rounds,
    )
    (folder / "assets").mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        booster.save_model(str(folder / "model.deprecated"))
    (folder / "model.deprecated").rename(folder / "model.bst")
    metadata = {
        "model_type": "boosted_tree_classifier",
        "label_col": LABEL,
        "class_names": list(class_names),
        "feature_names": list(FEATURES),
        "features": {
            name: ({"mean": means[name], "min": 0, "max": 1, "std": 1} if name in means else {})
            for name in FEATURES
        },
    }
    (folder / "assets" / "model_metadata.json").write_text(json.dumps(metadata))
    return booster


@pytest.fixture(scope="session")
def missing_model(tmp_path_factory: pytest.TempPathFactory) -> artifact.LoadedModel:
    """SQL scoring's model: the real parameters (100 trees, depth 4) trained on data where
    every feature is missing in 15% of rows (tests/model/scoring_inputs.py)."""
    from tests.model.scoring_inputs import train_with_missing

    model = artifact.load_model(train_with_missing(tmp_path_factory.mktemp("missing") / "m"))
    assert model.booster.num_boosted_rounds() == 100
    return model


# ----------------------------------------------------------------------------- the moment family

FAST_MOMENT = {"n_estimators": 20}


@dataclass
class MomentTrained:
    settings: Settings
    folder: Path
    card: dict


@pytest.fixture(scope="session")
def moment_trained(tmp_path_factory: pytest.TempPathFactory) -> MomentTrained:
    """One small moment model trained through the real path on synthetic prediction points
    (tests/model/moment_rows.py), shared by the tests that only read it (or restore it)."""
    from pipeline.model.moment.train import train_moment
    from tests.model.moment_rows import write_moments

    settings = Settings(data_dir=tmp_path_factory.mktemp("moment") / "data")
    write_moments(settings.warehouse_path, sessions=2500, seed=3)
    result = train_moment(settings, params=FAST_MOMENT, n_boot=40)
    return MomentTrained(settings, result.model_dir, result.card)
