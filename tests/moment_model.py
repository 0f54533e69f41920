"""A moment model version for the serving tests and the API benchmark: trained by the real
trainer (`ecom train --family moment`, pipeline.model.moment.train) on a real
gold.fct_cart_moments, with fewer bootstrap resamples than the default (the card's intervals
only; the booster, calibration and rule are the trainer's). Plus the helpers the tests read the
warehouse's prediction points and the booster's margins with, written independently of the
service's code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import xgboost as xgb

from pipeline.serving import moment
from pipeline.serving.artifact import load_model
from pipeline.serving.calibration import Platt, read_calibration
from pipeline.serving.features import GROUP_CODES
from pipeline.settings import Settings
from pipeline.warehouse import connect

MOMENTS_SQL = "select * from gold.fct_cart_moments order by session_id, prediction_point"
# The card's bootstrap intervals: enough to exercise them, few enough for a test fixture.
N_BOOT = 20


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


def train_moment_version(settings: Settings, *, n_boot: int = N_BOOT) -> MomentVersion:
    """`ecom train --family moment` on the settings' warehouse: a new current version of the
    moment family (train on the months before the calibration month, calibrate on it)."""
    from pipeline.model.moment.train import train_moment

    result = train_moment(settings, n_boot=n_boot)
    model = load_model(result.model_dir, features=moment.FEATURES)
    return MomentVersion(
        result.model_dir,
        result.card["model_id"],
        model.booster,
        read_calibration(result.model_dir),
    )


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
