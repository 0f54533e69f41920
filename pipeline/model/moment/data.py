"""The moment model's rows, read from gold.fct_cart_moments, and its time split.

Months, not random rows: the model trains on the months before the calibration month, fits its
calibration and chooses its decision threshold on the calibration month, and is tested on the
test month (settings.moment_calibration_month / moment_test_month: January and February 2020 by
default). A user's sessions fall on both sides of the split on purpose: that is how the model is
used (a returning shopper is scored with the history the earlier months built), and every
feature is known at its point (the warehouse's leakage test), so no row sees its own future.
The split is SQL (sql/model/moment_training_set.sql), so BigQuery ML trains on the same rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.errors import DataContractError
from pipeline.model.dataset import group_code_sql
from pipeline.model.gold import read_gold_tables
from pipeline.serving import features as session_contract
from pipeline.serving import moment
from pipeline.settings import Settings
from pipeline.warehouse.dialect import dialect_named
from pipeline.warehouse.templates import render

MOMENTS_TABLE = "fct_cart_moments"
SESSIONS_TABLE = "fct_cart_sessions"
LABEL_24H = "purchased_within_24h"
PARTS = ("train", "calibration", "test")
# The seed's whole-session totals of the row's session, for the ablation (known at the end).
WHOLE_PREFIX = "whole_"
WHOLE_FEATURES = tuple(WHOLE_PREFIX + name for name in session_contract.FEATURES)
FIRST_CART = "first_cart"


def encoded_moment_features(alias: str = "moments") -> list[str]:
    """The moment contract's features as select items of `alias`, the group encoded."""
    return [
        f"{group_code_sql(f'{alias}.{name}')} as {name}"
        if name == "experiment_group"
        else f"{alias}.{name}"
        for name in moment.FEATURES
    ]


def training_query(tables: Mapping[str, str], settings: Settings, engine: str = "duckdb") -> str:
    """sql/model/moment_training_set.sql for the settings' split."""
    session_features = [
        f"{group_code_sql(name)} as {WHOLE_PREFIX}{name}"
        if name == "experiment_group"
        else f"{name} as {WHOLE_PREFIX}{name}"
        for name in session_contract.FEATURES
    ]
    return render(
        "model/moment_training_set.sql",
        dialect_named(engine),
        moments=tables[MOMENTS_TABLE],
        sessions=tables[SESSIONS_TABLE],
        encoded_features=encoded_moment_features(),
        session_features=session_features,
        whole_session_columns=[f"whole_sessions.{name}" for name in WHOLE_FEATURES],
        train_before=settings.moment_calibration_month,
        calibration_month=settings.moment_calibration_month,
        test_month=settings.moment_test_month,
        label=moment.LABEL,
        label_24h=LABEL_24H,
    )


@dataclass
class MomentSet:
    """The rows of the split, features in contract order, plus what evaluation needs."""

    X: np.ndarray  # (rows, 18) the moment contract
    y: np.ndarray  # abandoned: no purchase in the rest of the session
    y_24h: np.ndarray  # purchased_within_24h: the user bought within a day of the point
    point: np.ndarray  # prediction point name
    part: np.ndarray  # train / calibration / test
    session_id: np.ndarray
    user_id: np.ndarray
    month: np.ndarray
    whole: np.ndarray  # (rows, 4) the seed's whole-session totals of the same session

    def __len__(self) -> int:
        return int(self.y.size)

    def mask(self, part: str, point: str | None = None) -> np.ndarray:
        chosen = self.part == part
        return chosen if point is None else chosen & (self.point == point)

    @property
    def cart_price(self) -> np.ndarray:
        return self.X[:, moment.FEATURES.index("cart_price")]

    @property
    def points(self) -> list[str]:
        """The prediction points present, first_cart first."""
        found = sorted(set(self.point.tolist()))
        return sorted(found, key=lambda p: (p != FIRST_CART, p))

    def months(self, part: str) -> list[str]:
        return sorted(set(self.month[self.part == part].tolist()))

    def fingerprint(self) -> str:
        """SHA-256 of the rows the model sees (keys, inputs, label, split part), in key order."""
        keys = np.char.add(np.char.add(self.session_id.astype(str), "|"), self.point.astype(str))
        order = np.argsort(keys, kind="stable")
        digest = hashlib.sha256()
        digest.update("\n".join(keys[order]).encode())
        digest.update(np.ascontiguousarray(self.X[order]).tobytes())
        digest.update(self.y[order].astype(np.int8).tobytes())
        digest.update("\n".join(self.part[order]).encode())
        return digest.hexdigest()


def from_frame(frame: pl.DataFrame, settings: Settings) -> MomentSet:
    """A MomentSet from `training_query`'s result; checks the split has what it needs."""
    if frame.height == 0:
        raise DataContractError(
            f"gold.{MOMENTS_TABLE} has no rows up to {settings.moment_test_month}: nothing to "
            "train on. Build the warehouse first (`ecom ingest` then `ecom warehouse`)."
        )
    parts = frame["split_part"].to_numpy().astype(str)
    missing = [p for p in PARTS if not (parts == p).any()]
    if missing:
        have = sorted(set(frame["session_month"].to_list()))
        raise DataContractError(
            f"the moment model's time split needs rows in every part: none for "
            f"{', '.join(missing)} (train: months before {settings.moment_calibration_month}, "
            f"calibration: {settings.moment_calibration_month}, test: "
            f"{settings.moment_test_month}; months in gold.{MOMENTS_TABLE}: {', '.join(have)}). "
            "Ingest the missing months or set ECOM_MOMENT_CALIBRATION_MONTH and "
            "ECOM_MOMENT_TEST_MONTH."
        )

    def matrix(names: tuple[str, ...]) -> np.ndarray:
        return frame.select(names).cast({name: float for name in names}).to_numpy()

    return MomentSet(
        X=matrix(moment.FEATURES),
        y=frame[moment.LABEL].to_numpy().astype(np.int8),
        y_24h=frame[LABEL_24H].to_numpy().astype(np.int8),
        point=frame["prediction_point"].to_numpy().astype(str),
        part=parts,
        session_id=frame["session_id"].cast(str).to_numpy(),
        user_id=frame["user_id"].to_numpy(),
        month=frame["session_month"].cast(str).to_numpy(),
        whole=matrix(WHOLE_FEATURES),
    )


def load_moment_set(settings: Settings) -> MomentSet:
    """The split's rows from gold (a WarehouseError naming the fix if gold is missing)."""
    frame = read_gold_tables(
        settings,
        (MOMENTS_TABLE, SESSIONS_TABLE),
        lambda tables, engine: training_query(tables, settings, engine),
        "moment model's training set",
    )
    return from_frame(frame, settings)


def check_two_classes(y: np.ndarray, what: str) -> None:
    if y.size == 0 or np.unique(y).size < 2:
        raise DataContractError(
            f"{what} holds {y.size} rows of a single class: a classifier needs both abandoned "
            "and purchased carts. Check the months of the split or regenerate the data."
        )
