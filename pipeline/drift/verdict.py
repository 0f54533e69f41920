"""Whether a column drifted: the project's rule over the score Evidently reports.

Evidently 0.7's per-column `ValueDrift` metric gives the method, its threshold and the score,
but no yes/no, and the method depends on the size of the *reference* data: with at most 1,000
reference rows it runs tests whose score is a p-value (K-S for numbers with more than 5
distinct values, chi-square for 3-5, a Z-test for two), above that distances (normed
Wasserstein for numbers, Jensen-Shannon for categories and numbers with at most 5 values).
A p-value is drifted when it is below its threshold (0.05 by default); a distance when it is
at or above its threshold (0.1). Which kind a method is comes from its name, below; an unknown
method is refused rather than guessed, since guessing flips the comparison.

The project keeps Evidently's regime rule but pins each column's method (`pinned_methods`):
left alone, Evidently treats a numerical column with at most 5 distinct values as categorical,
and total_carts (1 to 5 carts) crosses that line from one month to the next. Below 1,000
reference rows it then runs chi-square with the reference's counts as expected frequencies,
and one session with a cart count the reference sample lacks makes the expected count 0 and
the p-value 0: the column is flagged for a single session (seen on generated data). So
numbers always get K-S (small reference) or normed Wasserstein (large), categories a Z-test
(two values) or chi-square, and Jensen-Shannon when large, as Evidently would choose.

Pure Python (numpy for the fallback): the tests check every branch without Evidently.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np

from pipeline.errors import EcomError

Kind = Literal["p_value", "distance"]
# Evidently's short names (what a pinned method reports) -> its display names.
METHOD_NAMES = {
    "ks": "K-S p_value",
    "z": "Z-test p_value",
    "chisquare": "chi-square p_value",
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
}
# Evidently's display names of its stat tests (evidently/legacy/calculations/stattests).
P_VALUE_METHODS = frozenset(
    {
        "K-S p_value",
        "Z-test p_value",
        "chi-square p_value",
        "Fisher's Exact test",
        "Mann-Whitney U-rank test",
        "t_test",
        "Anderson-Darling",
        "Cramer-von Mises",
        "Epps-Singleton",
        "g_test",
    }
)
DISTANCE_METHODS = frozenset(
    {
        "Wasserstein distance (normed)",
        "Jensen-Shannon distance",
        "Kullback-Leibler divergence",
        "PSI",
        "Hellinger distance",
        "Energy-distance",
        "Total-Variation-Distance",
    }
)
# Evidently switches to distances above this many reference rows (registry._get_default_stattest).
SMALL_REFERENCE_ROWS = 1_000
# Evidently's DataDriftPreset calls the whole data set drifted when this share of columns is.
DATASET_DRIFT_SHARE = 0.5
REGIME_RULES = {
    "p_value": "statistical tests: a column drifted when its p-value is below the threshold",
    "distance": "distances: a column drifted when its distance is at or above the threshold",
    "mixed": "tests for some columns, distances for others (each column's method says which)",
}


class DriftError(EcomError):
    """The drift report cannot be made as asked (no later data, unknown month, ...)."""

    exit_code = 2


def display_name(method: str) -> str:
    return METHOD_NAMES.get(method, method)


def method_kind(method: str) -> Kind:
    method = display_name(method)
    if method in P_VALUE_METHODS:
        return "p_value"
    if method in DISTANCE_METHODS:
        return "distance"
    raise DriftError(
        f"Evidently used the drift method {method!r}, which pipeline/drift/verdict.py does not "
        "classify as a p-value or a distance: add it there before trusting the report."
    )


def expected_regime(reference_rows: int) -> Kind:
    """The kind of method Evidently picks by default for a reference of this size."""
    return "p_value" if reference_rows <= SMALL_REFERENCE_ROWS else "distance"


def pinned_methods(
    regime: Kind, numerical: Iterable[str], categories: Mapping[str, int]
) -> dict[str, str]:
    """The method of each column for a regime (see the module's docstring for why pinned);
    `categories` maps each categorical column to its number of distinct values."""
    methods = {name: "ks" if regime == "p_value" else "wasserstein" for name in numerical}
    for name, distinct in categories.items():
        if regime == "distance":
            methods[name] = "jensenshannon"
        else:
            methods[name] = "z" if distinct <= 2 else "chisquare"
    return methods


def is_drifted(kind: Kind, score: float, threshold: float) -> bool:
    """p-value below the threshold, or distance at or above it (a finite score)."""
    return score < threshold if kind == "p_value" else score >= threshold


def _values(column: Iterable[Any]) -> set[Any]:
    out = set()
    for value in column:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        out.add(value.item() if isinstance(value, np.generic) else value)
    return out


def column_verdict(
    column: str,
    method: str,
    threshold: float,
    score: float | None,
    reference: Iterable[Any],
    current: Iterable[Any],
) -> dict[str, Any]:
    """One column's entry: method, threshold, score (null when not finite) and drifted.

    A score that is not a number (a test undefined for constant data) is replaced by the
    plain comparison it stands for: the same constant on both sides has not drifted, anything
    else has. An infinite distance has drifted.
    """
    kind = method_kind(method)
    entry: dict[str, Any] = {
        "column": column,
        "method": display_name(method),
        "kind": kind,
        "threshold": float(threshold),
        "score": None,
        "drifted": False,
    }
    number = math.nan if score is None else float(score)
    if math.isfinite(number):
        entry["score"] = number
        entry["drifted"] = bool(is_drifted(kind, number, float(threshold)))
    elif kind == "distance" and number == math.inf:
        entry["drifted"] = True
        entry["note"] = "infinite distance"
    else:
        ref_values, cur_values = _values(reference), _values(current)
        entry["drifted"] = ref_values != cur_values
        entry["note"] = (
            f"the {kind.replace('_', '-')} is undefined here (constant data); compared the "
            f"values instead: reference {sorted(map(str, ref_values))[:5]}, current "
            f"{sorted(map(str, cur_values))[:5]}"
        )
    return entry


def missing_entry(column: str, reference_missing: bool, current_missing: bool) -> dict[str, Any]:
    """A column with no value at all on one side: Evidently refuses it, the report says so.
    A column that is empty on both sides has not changed; one that emptied has drifted."""
    side = "current slice" if current_missing else "reference"
    if reference_missing and current_missing:
        side = "reference and current slice"
    return {
        "column": column,
        "method": "missing values",
        "kind": None,
        "threshold": None,
        "score": None,
        "drifted": reference_missing != current_missing,
        "note": f"every value is missing in the {side}: no test can run",
    }


def slice_regime(columns: Iterable[Mapping[str, Any]]) -> str:
    kinds = {c["kind"] for c in columns if c.get("kind")}
    if len(kinds) == 1:
        return next(iter(kinds))
    return "mixed" if kinds else "none"


def finite_json(value: Any) -> Any:
    """`value` with every NaN or infinity replaced by None and numpy scalars made Python
    ones, so the JSON written is strict (json.dumps(..., allow_nan=False) succeeds)."""
    if isinstance(value, Mapping):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
