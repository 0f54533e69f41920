"""Why a score is what it is, for a person: human feature names, values in words, the SHAP
contributions moved onto the probability scale, and the top reasons as sentences.

The API answers SHAP values on the model's margin (log-odds; for the moment model before its
calibration). A person reads probabilities, so the waterfall is replayed on the probability
scale: starting from the average cart's probability, each feature's contribution is added to
the margin in order of size, and the bar is the change in (calibrated) probability it makes.
The order matters on this scale (the sigmoid bends), so it is fixed: the largest effect first,
as in the log-odds waterfall. The bars still add up exactly to the answered probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
HUMAN_NAMES = {
    # the moment model (pipeline.serving.moment's contract)
    "views_so_far": "Product views so far",
    "carts_so_far": "Add-to-carts so far",
    "removes_so_far": "Items removed from the cart",
    "distinct_products_viewed": "Different products viewed",
    "distinct_brands_viewed": "Different brands viewed",
    "distinct_categories_viewed": "Different categories viewed",
    "seconds_since_session_start": "Time in the session",
    "seconds_since_last_event": "Time since the previous click",
    "cart_price": "Price of the item just carted",
    "cart_price_rank": "Carted item's price among those viewed",
    "hour_utc": "Hour of day (UTC)",
    "weekday_utc": "Day of the week (UTC)",
    "experiment_group": "Checkout version",
    "prior_sessions": "Earlier visits",
    "prior_purchasing_sessions": "Earlier visits with a purchase",
    "prior_abandonment_rate": "Share of earlier carts left behind",
    "days_since_previous_session": "Days since the previous visit",
    "prior_revenue": "Spent in earlier visits",
    # the session model (pipeline.serving.features)
    "total_views": "Product views in the session",
    "total_carts": "Add-to-carts in the session",
    "session_duration_minutes": "Session length",
}


def human_name(feature: str) -> str:
    return HUMAN_NAMES.get(feature, feature.replace("_", " ").capitalize())


def _plural(n: float, one: str, many: str | None = None) -> str:
    """'1 product view', '3 product views', 'no product views'."""
    count = int(n)
    word = one if count == 1 else (many or one + "s")
    return f"no {word}" if count == 0 else f"{count:,} {word}"


def duration(seconds: float) -> str:
    """'45 s', '14 min', '1 h 05 min'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{int(minutes // 60)} h {int(minutes % 60):02d} min"


def _group(value: Any) -> str:
    if value in (1, 1.0, "treatment"):
        return "the redesigned checkout"
    if value in (0, 0.0, "control"):
        return "the current checkout"
    return "an unknown checkout version"


# What each value says about the shopper, as a phrase that can open a sentence. None = missing.
_PHRASES: dict[str, Callable[[Any], str]] = {
    "views_so_far": lambda v: _plural(v, "product view") + " so far",
    "carts_so_far": lambda v: _plural(v, "add-to-cart") + " so far",
    "removes_so_far": lambda v: (
        "nothing taken out of the cart" if v == 0 else _plural(v, "item") + " taken out of the cart"
    ),
    "distinct_products_viewed": lambda v: _plural(v, "different product") + " viewed",
    "distinct_brands_viewed": lambda v: _plural(v, "brand") + " viewed",
    "distinct_categories_viewed": lambda v: _plural(v, "category", "categories") + " browsed",
    "seconds_since_session_start": lambda v: f"a {duration(v)} session without a purchase",
    "seconds_since_last_event": lambda v: (
        "the cart being the session's first click"
        if v is None
        else f"{duration(v)} since the previous click"
    ),
    "cart_price": lambda v: f"a ${v:,.2f} item in the cart",
    "cart_price_rank": lambda v: (
        "no product viewed before the cart"
        if v is None
        else f"the carted item costing more than {v:.0%} of the products viewed"
    ),
    "hour_utc": lambda v: f"shopping at {int(v):02d}:00 UTC",
    "weekday_utc": lambda v: f"shopping on a {WEEKDAYS[int(v) - 1]}",
    "experiment_group": _group,
    "prior_sessions": lambda v: (
        "no history known for this shopper"
        if v is None
        else "a first visit"
        if v == 0
        else _plural(v, "earlier visit")
    ),
    "prior_purchasing_sessions": lambda v: (
        "no purchase history known"
        if v is None
        else _plural(v, "earlier visit") + " with a purchase"
    ),
    "prior_abandonment_rate": lambda v: (
        "no earlier cart" if v is None else f"{v:.0%} of earlier carts left behind"
    ),
    "days_since_previous_session": lambda v: (
        "no earlier visit" if v is None else f"back after {v:,.1f} days"
    ),
    "prior_revenue": lambda v: (
        "no spending history known" if v is None else f"${v:,.2f} spent in earlier visits"
    ),
    "total_views": lambda v: (
        "an unknown number of views" if v is None else _plural(v, "product view")
    ),
    "total_carts": lambda v: (
        "an unknown number of carts" if v is None else _plural(v, "add-to-cart")
    ),
    "session_duration_minutes": lambda v: (
        "an unknown session length" if v is None else f"a {duration(60 * v)} session"
    ),
}


def phrase(feature: str, value: Any) -> str:
    """The value in words ('a 14 min session without a purchase'); any value, missing too."""
    describe = _PHRASES.get(feature)
    if describe is None:
        return f"{human_name(feature).lower()} {_shown(value)}"
    if value is None and feature not in _NULL_AWARE:
        return f"{human_name(feature).lower()} unknown"
    return describe(value)


# Phrases that say what a missing value means; others read "<name> unknown" when missing.
_NULL_AWARE = {
    "seconds_since_last_event",
    "cart_price_rank",
    "experiment_group",
    "prior_sessions",
    "prior_purchasing_sessions",
    "prior_abandonment_rate",
    "days_since_previous_session",
    "prior_revenue",
    "total_views",
    "total_carts",
    "session_duration_minutes",
}


def _shown(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "missing"
    return f"{value:g}" if isinstance(value, float) else str(value)


# What a missing value means, where it means more than "unknown".
_MISSING_SHOWN = {
    "seconds_since_last_event": "first click",
    "cart_price_rank": "nothing viewed",
    "prior_abandonment_rate": "no earlier cart",
    "days_since_previous_session": "no earlier visit",
}


def shown_value(feature: str, value: Any) -> str:
    """A value as a person reads it in a table."""
    if value is None:
        return _MISSING_SHOWN.get(feature, "unknown")
    if feature in ("seconds_since_session_start", "seconds_since_last_event"):
        return duration(value)
    if feature in ("cart_price", "prior_revenue"):
        return f"${value:,.2f}"
    if feature in ("cart_price_rank", "prior_abandonment_rate"):
        return f"{value:.0%}"
    if feature == "weekday_utc":
        return WEEKDAYS[int(value) - 1]
    if feature == "hour_utc":
        return f"{int(value):02d}:00"
    if feature == "experiment_group":
        return _group(value).removeprefix("the ").capitalize()
    if feature == "session_duration_minutes":
        return duration(60 * value)
    return _shown(value)


@dataclass(frozen=True)
class Bar:
    """One feature's step of the probability-scale waterfall."""

    feature: str
    name: str
    value: str
    shap: float  # margin scale, as the API answered
    start: float  # probability before this feature's contribution
    end: float  # and after
    phrase: str

    @property
    def change(self) -> float:
        return self.end - self.start

    def sentence(self) -> str:
        verb = "raises" if self.change > 0 else "lowers"
        text = f"{self.phrase} {verb} the risk ({100 * self.change:+.1f} points)"
        return text[0].upper() + text[1:]


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def probability_waterfall(
    contributions: Sequence[Mapping[str, Any]],
    base_value: float,
    slope: float = 1.0,
    intercept: float = 0.0,
) -> tuple[float, list[Bar]]:
    """(the average cart's probability, the bars, largest effect first). Probabilities are
    sigmoid(slope x margin + intercept): the moment model's calibration, or the identity."""

    def p(margin: float) -> float:
        return _sigmoid(slope * margin + intercept)

    ordered = sorted(contributions, key=lambda c: abs(c["shap_value"]), reverse=True)
    margin = base_value
    bars = []
    for c in ordered:
        start = p(margin)
        margin += c["shap_value"]
        feature, value = c["feature"], c.get("value")
        bars.append(
            Bar(
                feature=feature,
                name=human_name(feature),
                value=shown_value(feature, value),
                shap=c["shap_value"],
                start=start,
                end=p(margin),
                phrase=phrase(feature, value),
            )
        )
    return p(base_value), bars


def explained(explanation: Mapping[str, Any]) -> tuple[float, list[Bar]]:
    """The probability-scale waterfall of an API answer's `explanation`: /sessions/score's
    (margin scale, with its calibration) or /predict's (log-odds, no calibration)."""
    calibration = explanation.get("calibration") or {}
    return probability_waterfall(
        explanation.get("contributions", []),
        explanation.get("base_value", 0.0),
        calibration.get("slope", 1.0),
        calibration.get("intercept", 0.0),
    )


def shown_bars(bars: Sequence[Bar], count: int = 8) -> list[Bar]:
    """The `count` largest bars, and the rest as one ("the other N features"): a person reads
    a handful of reasons, and the bars still end at the answered probability."""
    if len(bars) <= count + 1:
        return list(bars)
    rest = bars[count:]
    other = Bar(
        feature="",
        name=f"The other {len(rest)} features",
        value="",
        shap=math.fsum(b.shap for b in rest),
        start=rest[0].start,
        end=rest[-1].end,
        phrase=f"the other {len(rest)} features together",
    )
    return [*bars[:count], other]


def top_reasons(bars: Sequence[Bar], count: int = 3, floor: float = 0.005) -> list[str]:
    """The largest effects as sentences; effects under half a point are not reasons."""
    return [b.sentence() for b in bars[:count] if abs(b.change) >= floor]


def describe_waterfall(base: float, bars: Sequence[Bar], probability: float) -> str:
    """The waterfall in words (its alt text)."""
    biggest = ", ".join(f"{b.name.lower()} {100 * b.change:+.1f}" for b in bars[:3])
    return (
        f"Waterfall chart on the probability scale: from the average cart's {base:.0%} to this "
        f"cart's {probability:.0%}, one bar per feature, largest first (in points: {biggest})."
    )
