"""The moment model's contract and its live feature builder, on hand-built sessions.

The session below is the one dbt/models/marts/fct_cart_moments.yml's unit test builds in SQL
(user 1's second session, 2019-10-03, a Thursday): both sides must compute these numbers.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from pipeline.serving.features import CONTRACT as SESSION_CONTRACT
from pipeline.serving.moment import (
    CONTRACT,
    FEATURES,
    HISTORY,
    MAX_EVENTS,
    SEED_AT_POINT,
    Event,
    MomentInputError,
    epoch_us,
    features_at,
)

T0 = epoch_us(datetime(2019, 10, 3, 10, 0, tzinfo=UTC))
MINUTE = 60_000_000


def event(minute: float, kind: str, product: int = 1, price: float = 10.0, **kw) -> Event:
    return Event(
        at_us=T0 + int(minute * MINUTE),
        event_type=kind,
        product_id=product,
        category_id=kw.get("category", 10),
        brand=kw.get("brand", "a"),
        price=price,
    )


SESSION = [
    event(0, "view", 1, 10.0),
    event(1, "cart", 1, 10.0),
]
HISTORY_OF_USER = {
    "prior_sessions": 1,
    "prior_purchasing_sessions": 0,
    "prior_abandonment_rate": 1.0,
    "days_since_previous_session": 2.0,
    "prior_revenue": 0.0,
}


def test_the_first_cart_of_the_hand_built_session() -> None:
    got = features_at(SESSION, 0, HISTORY_OF_USER)
    assert list(got) == list(FEATURES)
    assert got == {
        "views_so_far": 1.0,
        "carts_so_far": 1.0,
        "removes_so_far": 0.0,
        "distinct_products_viewed": 1.0,
        "distinct_brands_viewed": 1.0,
        "distinct_categories_viewed": 1.0,
        "seconds_since_session_start": 60.0,
        "seconds_since_last_event": 60.0,
        "cart_price": 10.0,
        "cart_price_rank": 0.0,  # the one view costs the same: not strictly below
        "hour_utc": 10.0,
        "weekday_utc": 4.0,  # Thursday
        "experiment_group": 0.0,
        **{k: float(v) for k, v in HISTORY_OF_USER.items()},
    }


def test_an_instant_after_the_last_event_is_a_time_point() -> None:
    got = features_at(SESSION, 1, None, as_of_us=T0 + 11 * MINUTE)
    assert got["seconds_since_session_start"] == 660.0
    assert got["seconds_since_last_event"] == 600.0  # from the last event to the instant
    assert got["experiment_group"] == 1.0


def test_missing_history_is_missing_not_zero() -> None:
    got = features_at(SESSION, 0, None)
    assert all(math.isnan(got[name]) for name in HISTORY)
    partial = features_at(SESSION, 0, {"prior_sessions": 0})
    assert partial["prior_sessions"] == 0.0 and math.isnan(partial["prior_revenue"])


def test_counts_distincts_and_the_price_rank() -> None:
    events = [
        event(0, "view", 1, 5.0, brand="a", category=1),
        event(1, "view", 2, 20.0, brand=None, category=2),
        event(2, "view", 1, 5.0, brand="b", category=1),
        event(3, "cart", 3, 10.0),
        event(4, "remove_from_cart", 3, 10.0),
        event(5, "cart", 4, 30.0),
    ]
    got = features_at(events, 0)
    assert (got["views_so_far"], got["carts_so_far"], got["removes_so_far"]) == (3, 2, 1)
    assert got["distinct_products_viewed"] == 2
    assert got["distinct_brands_viewed"] == 2  # no brand is not a brand
    assert got["distinct_categories_viewed"] == 2
    assert got["cart_price"] == 30.0  # the latest cart
    assert got["cart_price_rank"] == 1.0  # every view is cheaper than 30


def test_the_first_event_has_no_idle_time_and_no_views_no_rank() -> None:
    got = features_at([event(0, "cart", 1, 3.0)], 0)
    assert math.isnan(got["seconds_since_last_event"]) and math.isnan(got["cart_price_rank"])
    assert got["seconds_since_session_start"] == 0.0


def test_events_out_of_order_are_sorted_by_time_ties_keep_the_callers_order() -> None:
    shuffled = [SESSION[1], SESSION[0]]
    assert features_at(shuffled, 0) == features_at(SESSION, 0)
    tie = [event(0, "view", 1, 1.0), event(0, "cart", 2, 9.0), event(0, "cart", 3, 4.0)]
    assert features_at(tie, 0)["cart_price"] == 4.0  # the last one sent is the latest


def test_weekday_and_hour_cross_midnight_in_utc() -> None:
    sunday_late = epoch_us(datetime(2019, 10, 6, 23, 59, 59, tzinfo=UTC))
    got = features_at([Event(sunday_late, "cart", 1, None, None, 1.0)], 0)
    assert (got["weekday_utc"], got["hour_utc"]) == (7.0, 23.0)
    monday = features_at([Event(sunday_late + 1_000_000, "cart", 1, None, None, 1.0)], 0)
    assert (monday["weekday_utc"], monday["hour_utc"]) == (1.0, 0.0)


@pytest.mark.parametrize(
    ("events", "kwargs", "words"),
    [
        ([], {}, "at least one event"),
        ([event(0, "view")], {}, "no add-to-cart"),
        ([event(0, "cart"), event(1, "purchase")], {}, "already purchased"),
        ([event(0, "view"), event(31, "cart")], {}, "more than one session"),
        ([event(0, "cart")], {"as_of_us": T0 - 1}, "before the last event"),
        ([event(0, "cart")], {"as_of_us": T0 + 31 * MINUTE}, "session has ended"),
        ([event(0, "cart")], {"now_us": T0 - 10 * MINUTE}, "future"),
        ([event(0, "checkout")], {}, "is not one of"),
        ([event(0, "cart", price=math.inf)], {}, "finite"),
        ([event(0, "cart")] * (MAX_EVENTS + 1), {}, "at most"),
    ],
)
def test_sessions_it_cannot_score_say_why(events, kwargs, words) -> None:
    with pytest.raises(MomentInputError, match=words):
        features_at(events, 0, **kwargs)


def test_history_out_of_range_is_refused() -> None:
    with pytest.raises(MomentInputError, match="prior_abandonment_rate"):
        features_at(SESSION, 0, {"prior_abandonment_rate": 1.5})


def test_the_contract_is_ordered_named_once_and_holds_the_seeds_totals_at_the_point() -> None:
    assert len(set(FEATURES)) == len(FEATURES) == len(CONTRACT) == 18
    assert set(SEED_AT_POINT) <= set(FEATURES) and set(HISTORY) <= set(FEATURES)
    assert all(f.minimum <= f.maximum for f in CONTRACT)
    # the session model's contract is untouched: its four whole-session totals
    assert [f.name for f in SESSION_CONTRACT] == [
        "total_views",
        "total_carts",
        "session_duration_minutes",
        "experiment_group",
    ]
