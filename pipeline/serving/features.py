"""THE feature contract of the abandonment model, defined once.

Imported by the trainer, the SQL scorer, the BigQuery ML templates, the API and the app. Keep it
free of the batch stack (no polars, duckdb, dbt): the API image imports it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

LABEL = "abandoned_cart"
# experiment_group enters the model as a number: treatment = 1, control = 0.
GROUP_CODES: dict[str, int] = {"control": 0, "treatment": 1}


FeatureKind = Literal[
    "count", "minutes", "seconds", "days", "price", "money", "share", "hour", "weekday", "group"
]


@dataclass(frozen=True)
class Feature:
    """One model input: its name, kind and the range a valid value lies in (both inclusive).
    `nullable`: missing is a legitimate value (the booster's default branch), not an error."""

    name: str
    kind: FeatureKind
    minimum: float
    maximum: float
    description: str
    nullable: bool = False


# Order matters: it is the booster's column order (f0..f3) and the SQL macro's argument order.
CONTRACT: tuple[Feature, ...] = (
    Feature("total_views", "count", 0, 100_000, "product views in the session"),
    Feature("total_carts", "count", 1, 100_000, "add-to-cart events in the session (>= 1)"),
    Feature(
        "session_duration_minutes",
        "minutes",
        0.0,
        10_080.0,
        "minutes from the session's first to its last event (at most a week)",
    ),
    Feature("experiment_group", "group", 0, 1, "checkout variant: treatment = 1, control = 0"),
)
FEATURES: tuple[str, ...] = tuple(f.name for f in CONTRACT)
BY_NAME: dict[str, Feature] = {f.name: f for f in CONTRACT}


def encode_group(value: Any) -> float:
    """'treatment'/'control' (any case) or 1/0 -> 1.0/0.0; None -> NaN (missing)."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        key = value.strip().lower()
        if key in GROUP_CODES:
            return float(GROUP_CODES[key])
        raise ValueError(
            f"experiment_group must be one of {sorted(GROUP_CODES)} or 0/1, got {value!r}"
        )
    if isinstance(value, bool) or value in (0, 1):
        return float(value)
    raise ValueError(f"experiment_group must be one of {sorted(GROUP_CODES)} or 0/1, got {value!r}")


def encode_value(name: str, value: Any) -> float:
    """One raw value as the float the booster sees; None/NaN stay missing (NaN).

    Raises ValueError naming the field when the value is not a number or is out of range.
    """
    feature = BY_NAME[name]
    if feature.kind == "group":
        return encode_group(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not feature.minimum <= number <= feature.maximum:
        raise ValueError(
            f"{name}={number:g} is outside the valid range "
            f"[{feature.minimum:g}, {feature.maximum:g}]"
        )
    return number


def to_matrix(records: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Records (dicts keyed by feature name) -> float64 matrix in contract order, NaN = missing."""
    rows = [[encode_value(name, record.get(name)) for name in FEATURES] for record in records]
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
