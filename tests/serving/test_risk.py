"""Risk bands: inclusive lower bounds, the card's thresholds when valid, one rule for bulk."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.serving.risk import (
    DEFAULT_THRESHOLDS,
    check_thresholds,
    risk_band,
    risk_bands,
    thresholds_for,
)


@pytest.mark.parametrize(
    ("p", "band"),
    [
        (0.0, "low"),
        (0.4999, "low"),
        (0.5, "medium"),
        (0.7999, "medium"),
        (0.8, "high"),
        (1, "high"),
    ],
)
def test_bands_at_their_bounds(p, band):
    assert risk_band(p) == band


def test_vectorized_bands_equal_the_scalar_rule():
    p = np.random.default_rng(1).uniform(size=1000)
    thresholds = {"medium": 0.3, "high": 0.9}
    assert list(risk_bands(p, thresholds)) == [risk_band(x, thresholds) for x in p]


def test_card_thresholds_and_fallback():
    assert thresholds_for({"risk_thresholds": {"medium": 0.6, "high": 0.9}}) == {
        "medium": 0.6,
        "high": 0.9,
    }
    assert thresholds_for({}) == DEFAULT_THRESHOLDS
    assert thresholds_for({"risk_thresholds": {"medium": 0.9, "high": 0.6}}) == DEFAULT_THRESHOLDS
    with pytest.raises(ValueError, match="0 < medium < high < 1"):
        check_thresholds({"medium": 0.5, "high": float("nan")})
    with pytest.raises(ValueError, match="numeric 'medium' and 'high'"):
        check_thresholds({"medium": "x", "high": 0.9})
