"""THE feature contract of the moment model, and its features built from a live session's events.

The moment model scores a prediction point of a live session from what is known at that
instant: the session's events so far and the user's earlier sessions, never what came after.
The same definitions are written once in SQL for the training rows
(dbt/models/marts/fct_cart_moments.sql, where the prediction points are configured); tests hold
the two equal row by row on the warehouse's own data (tests/serving/test_moment_parity.py) and
prove that nothing after the point changes a row (the leakage test).

A point is an event (the features count the events up to and including it) or an instant
(`as_of`: the events at or before it). Definitions, all in exact integer microseconds:
- counts are by event type; distinct products, brands (non-empty) and categories among views;
- seconds_since_session_start = point - first event;
- seconds_since_last_event = point - the event before the point event (an instant: the last
  event at or before it); missing when the point is the session's first event;
- cart_price = the latest add-to-cart's price; cart_price_rank = the share of view events whose
  price is strictly below it (missing without views);
- hour_utc and weekday_utc (ISO, Monday = 1) of the point, from the epoch, no time zone rules;
- the user's history arrives as five numbers computed over earlier sessions (missing when the
  caller has none: scored as missing, the booster's default branch).

Standard library only (plus the session contract's `Feature`): the API image imports it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from pipeline.serving.features import GROUP_CODES, Feature
from pipeline.sessions import SESSION_TIMEOUT_MINUTES

FAMILY = "moment"
LABEL = "abandoned"
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
# A live session longer than this is refused (a clear 4xx, never unbounded work): the longest
# session in the real data set has a few hundred events.
MAX_EVENTS = 2_000

_US = 1_000_000
HOUR_US = 3_600 * _US
DAY_US = 86_400 * _US
SESSION_TIMEOUT_US = SESSION_TIMEOUT_MINUTES * 60 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Order matters: it is the booster's column order and the SQL scorer's argument order.
CONTRACT: tuple[Feature, ...] = (
    Feature("views_so_far", "count", 0, 100_000, "product views in the session so far"),
    Feature("carts_so_far", "count", 1, 100_000, "add-to-cart events so far (at least 1)"),
    Feature("removes_so_far", "count", 0, 100_000, "remove-from-cart events so far"),
    Feature("distinct_products_viewed", "count", 0, 100_000, "different products viewed"),
    Feature("distinct_brands_viewed", "count", 0, 100_000, "different brands viewed"),
    Feature("distinct_categories_viewed", "count", 0, 100_000, "different categories viewed"),
    Feature(
        "seconds_since_session_start",
        "seconds",
        0,
        31_536_000,
        "seconds from the session's first event to the point",
    ),
    Feature(
        "seconds_since_last_event",
        "seconds",
        0,
        SESSION_TIMEOUT_MINUTES * 60,
        "idle seconds before the point (missing at the session's first event)",
        nullable=True,
    ),
    Feature("cart_price", "price", -1e7, 1e7, "price of the latest item put in the cart"),
    Feature(
        "cart_price_rank",
        "share",
        0,
        1,
        "share of the viewed prices below the carted item's (missing without views)",
        nullable=True,
    ),
    Feature("hour_utc", "hour", 0, 23, "hour of the point, UTC"),
    Feature("weekday_utc", "weekday", 1, 7, "weekday of the point, UTC (Monday = 1)"),
    Feature("experiment_group", "group", 0, 1, "checkout variant: treatment = 1, control = 0"),
    Feature("prior_sessions", "count", 0, 10_000_000, "the user's earlier sessions", nullable=True),
    Feature(
        "prior_purchasing_sessions",
        "count",
        0,
        10_000_000,
        "earlier sessions with a purchase",
        nullable=True,
    ),
    Feature(
        "prior_abandonment_rate",
        "share",
        0,
        1,
        "share of the earlier cart sessions that ended without a purchase",
        nullable=True,
    ),
    Feature(
        "days_since_previous_session",
        "days",
        0,
        36_500,
        "days from the end of the previous session to the start of this one",
        nullable=True,
    ),
    Feature(
        "prior_revenue",
        "money",
        -1e12,
        1e12,
        "revenue of the user's earlier sessions",
        nullable=True,
    ),
)
FEATURES: tuple[str, ...] = tuple(f.name for f in CONTRACT)
BY_NAME: dict[str, Feature] = {f.name: f for f in CONTRACT}
HISTORY: tuple[str, ...] = (
    "prior_sessions",
    "prior_purchasing_sessions",
    "prior_abandonment_rate",
    "days_since_previous_session",
    "prior_revenue",
)
# The seed's four session totals, as they stand at the point (the ablation's first arm).
SEED_AT_POINT: tuple[str, ...] = (
    "views_so_far",
    "carts_so_far",
    "seconds_since_session_start",
    "experiment_group",
)


class MomentInputError(ValueError):
    """A live session the moment model cannot score; the message says what to send instead."""


@dataclass(frozen=True)
class Event:
    """One tracked event of a live session, as the shop's tracker records it."""

    at_us: int  # microseconds since the Unix epoch (UTC)
    event_type: str
    product_id: int
    category_id: int | None
    brand: str | None
    price: float


def epoch_us(at: datetime) -> int:
    """Exact microseconds since the epoch of an aware datetime (no float rounding)."""
    if at.tzinfo is None:
        raise MomentInputError(f"event time {at.isoformat()} has no time zone: send UTC times")
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US + delta.microseconds


def _checked(events: Sequence[Event], as_of_us: int | None, now_us: int | None) -> list[Event]:
    """The events in session order, or MomentInputError saying what is wrong with them."""
    if not events:
        raise MomentInputError("send at least one event: the session so far")
    if len(events) > MAX_EVENTS:
        raise MomentInputError(
            f"{len(events):,} events: a live session is scored on at most {MAX_EVENTS:,}"
        )
    for number, event in enumerate(events, start=1):
        if event.event_type not in EVENT_TYPES:
            raise MomentInputError(
                f"event {number}: type {event.event_type!r} is not one of {', '.join(EVENT_TYPES)}"
            )
        if not math.isfinite(event.price):
            raise MomentInputError(f"event {number}: price must be a finite number")
    # Stable: events with the same time keep the caller's order (the warehouse's tie-break is
    # the source file's line order, which a tracker's send order follows).
    ordered = sorted(events, key=lambda e: e.at_us)
    last = ordered[-1].at_us
    if now_us is not None and max(last, as_of_us or last) > now_us + 60 * _US:
        raise MomentInputError("an event (or as_of) lies in the future: check the clock and zone")
    for before, after in pairwise(ordered):
        gap = after.at_us - before.at_us
        if gap > SESSION_TIMEOUT_US:
            raise MomentInputError(
                f"the events span more than one session: {gap / 60 / _US:.1f} idle minutes "
                f"between two of them (a session ends after {SESSION_TIMEOUT_MINUTES}); send "
                "only the current session's events"
            )
    if as_of_us is not None:
        if as_of_us < last:
            raise MomentInputError("as_of is before the last event: send the events up to it")
        if as_of_us - last > SESSION_TIMEOUT_US:
            raise MomentInputError(
                f"as_of is more than {SESSION_TIMEOUT_MINUTES} minutes after the last event: "
                "that session has ended"
            )
    if not any(e.event_type == "cart" for e in ordered):
        raise MomentInputError("no add-to-cart yet: the moment model scores carts")
    if any(e.event_type == "purchase" for e in ordered):
        raise MomentInputError("the session has already purchased: there is nothing to save")
    return ordered


def features_at(
    events: Sequence[Event],
    experiment_group: int,
    history: Mapping[str, float | None] | None = None,
    *,
    as_of_us: int | None = None,
    now_us: int | None = None,
) -> dict[str, float]:
    """The contract's features at the point: the last event, or the instant `as_of_us`.

    Missing values are NaN. Raises MomentInputError for a session that cannot be scored.
    """
    if experiment_group not in GROUP_CODES.values():
        raise MomentInputError(f"experiment_group must be one of {sorted(GROUP_CODES)} or 0/1")
    known = _checked(events, as_of_us, now_us)
    if as_of_us is None:
        point_us = known[-1].at_us
        reference = known[-2] if len(known) > 1 else None
    else:
        point_us, reference = as_of_us, known[-1]
    views = [e for e in known if e.event_type == "view"]
    cart_price = [e for e in known if e.event_type == "cart"][-1].price
    values: dict[str, float] = {
        "views_so_far": len(views),
        "carts_so_far": sum(e.event_type == "cart" for e in known),
        "removes_so_far": sum(e.event_type == "remove_from_cart" for e in known),
        "distinct_products_viewed": len({e.product_id for e in views}),
        "distinct_brands_viewed": len({e.brand for e in views if e.brand}),
        "distinct_categories_viewed": len(
            {e.category_id for e in views if e.category_id is not None}
        ),
        "seconds_since_session_start": (point_us - known[0].at_us) / _US,
        "seconds_since_last_event": (
            math.nan if reference is None else (point_us - reference.at_us) / _US
        ),
        "cart_price": cart_price,
        "cart_price_rank": (
            sum(e.price < cart_price for e in views) / len(views) if views else math.nan
        ),
        "hour_utc": (point_us // HOUR_US) % 24,
        "weekday_utc": (point_us // DAY_US + 3) % 7 + 1,  # 1970-01-01 was a Thursday (4)
        "experiment_group": experiment_group,
    }
    for name in HISTORY:
        values[name] = _history_value(name, None if history is None else history.get(name))
    return {name: float(values[name]) for name in FEATURES}


def _history_value(name: str, value: float | None) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    feature = BY_NAME[name]
    number = float(value)
    if not feature.minimum <= number <= feature.maximum:
        raise MomentInputError(
            f"history {name}={number:g} is outside [{feature.minimum:g}, {feature.maximum:g}]"
        )
    return number


def to_row(features: Mapping[str, float]) -> list[float]:
    """A feature dict as the booster's row, in contract order."""
    return [float(features[name]) for name in FEATURES]
