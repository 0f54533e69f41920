"""Risk bands of P(abandoned), defined once: the API, the app and the model card use these.

A band is a reading aid for people (a colour in the app, a word in the API's answer); the
thresholds are part of the model's card when training chose them, else the defaults below.
Pure Python: the API image imports it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

Band = Literal["low", "medium", "high"]
BANDS: tuple[Band, ...] = ("low", "medium", "high")
# P(abandoned) from which a session is "medium" and "high" risk (each bound inclusive).
DEFAULT_THRESHOLDS: dict[str, float] = {"medium": 0.5, "high": 0.8}
CARD_KEY = "risk_thresholds"


def check_thresholds(thresholds: Mapping[str, Any]) -> dict[str, float]:
    """The two thresholds as floats with 0 < medium < high < 1, else ValueError naming them."""
    try:
        medium, high = float(thresholds["medium"]), float(thresholds["high"])
    except (KeyError, TypeError, ValueError) as err:
        raise ValueError(
            f"risk thresholds need numeric 'medium' and 'high', got {dict(thresholds)!r}"
        ) from err
    if not (math.isfinite(medium) and math.isfinite(high) and 0 < medium < high < 1):
        raise ValueError(f"risk thresholds need 0 < medium < high < 1, got {medium!r}, {high!r}")
    return {"medium": medium, "high": high}


def thresholds_for(card: Mapping[str, Any] | None) -> dict[str, float]:
    """The card's thresholds when it carries valid ones, else the defaults."""
    if card and isinstance(card.get(CARD_KEY), Mapping):
        try:
            return check_thresholds(card[CARD_KEY])
        except ValueError:
            pass  # a hand-edited card with broken thresholds: fall back, the loader warns
    return dict(DEFAULT_THRESHOLDS)


def risk_band(probability: float, thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> Band:
    """'high' from thresholds['high'], 'medium' from thresholds['medium'], else 'low'."""
    if probability >= thresholds["high"]:
        return "high"
    if probability >= thresholds["medium"]:
        return "medium"
    return "low"


def risk_bands(probabilities: Any, thresholds: Mapping[str, float] = DEFAULT_THRESHOLDS) -> Any:
    """`risk_band` over a numpy array of probabilities (one vectorized pass, for bulk scoring)."""
    import numpy as np

    p = np.asarray(probabilities, dtype=np.float64)
    return np.select(
        [p >= thresholds["high"], p >= thresholds["medium"]], ["high", "medium"], default="low"
    )
