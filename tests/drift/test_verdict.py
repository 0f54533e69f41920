"""The drifted yes/no the project computes from Evidently's scores (no Evidently needed)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pipeline.drift.verdict import (
    DriftError,
    column_verdict,
    expected_regime,
    finite_json,
    is_drifted,
    method_kind,
    missing_entry,
    pinned_methods,
    slice_regime,
)


def test_p_values_drift_below_the_threshold_distances_at_or_above_it():
    assert is_drifted("p_value", 0.049, 0.05) and not is_drifted("p_value", 0.05, 0.05)
    assert is_drifted("distance", 0.1, 0.1) and not is_drifted("distance", 0.0999, 0.1)


def test_methods_are_classified_and_an_unknown_one_is_refused():
    assert method_kind("K-S p_value") == "p_value" == method_kind("Z-test p_value")
    assert method_kind("chi-square p_value") == "p_value"
    assert method_kind("Wasserstein distance (normed)") == "distance"
    assert method_kind("Jensen-Shannon distance") == "distance"
    with pytest.raises(DriftError, match="does not classify"):
        method_kind("some new test")


def test_evidently_switches_regime_above_1000_reference_rows():
    assert expected_regime(1000) == "p_value" and expected_regime(1001) == "distance"


def test_an_undefined_score_becomes_a_plain_comparison_never_nan():
    same = column_verdict("c", "Z-test p_value", 0.05, math.nan, [1.0] * 5, [1.0] * 3)
    assert same["score"] is None and same["drifted"] is False and "undefined" in same["note"]
    moved = column_verdict("c", "Z-test p_value", 0.05, None, [1.0] * 5, [2.0, math.nan])
    assert moved["drifted"] is True
    infinite = column_verdict("c", "Wasserstein distance (normed)", 0.1, math.inf, [1], [2])
    assert infinite["drifted"] is True and infinite["score"] is None
    json.dumps([same, moved, infinite], allow_nan=False)


def test_a_column_with_no_values_is_reported_not_tested():
    emptied = missing_entry("session_duration_minutes", False, True)
    assert emptied["drifted"] is True and emptied["score"] is None
    assert "current slice" in emptied["note"]
    assert missing_entry("x", True, True)["drifted"] is False


def test_regime_of_a_slice():
    assert slice_regime([{"kind": "p_value"}, {"kind": "p_value"}, {"kind": None}]) == "p_value"
    assert slice_regime([{"kind": "p_value"}, {"kind": "distance"}]) == "mixed"
    assert slice_regime([{"kind": None}]) == "none"


def test_finite_json_replaces_every_non_finite_number():
    value = {"a": [np.float64("nan"), np.inf, -np.inf, np.int64(3)], "b": {"c": np.float32(0.5)}}
    assert finite_json(value) == {"a": [None, None, None, 3], "b": {"c": 0.5}}
    json.dumps(finite_json(value), allow_nan=False)


def test_methods_are_pinned_by_regime():
    small = pinned_methods("p_value", ["total_carts"], {"experiment_group": 2, "other": 4})
    assert small == {"total_carts": "ks", "experiment_group": "z", "other": "chisquare"}
    large = pinned_methods("distance", ["total_carts"], {"experiment_group": 2})
    assert large == {"total_carts": "wasserstein", "experiment_group": "jensenshannon"}
    # What Evidently reports for a pinned method is its short name: shown as the long one.
    assert column_verdict("c", "ks", 0.05, 0.5, [1], [1])["method"] == "K-S p_value"
