"""gold.fct_cart_moments on a real dbt build: every row equals the live builder, rows exist
exactly where the rule says, the labels and history are right, and nothing after the point
changes a row (the leakage test: events after the point and later sessions are deleted,
shuffled and altered in bronze, the warehouse rebuilt, and the sampled rows compared)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from pipeline.serving.moment import FEATURES, epoch_us
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.build import build_warehouse
from tests.warehouse.dbt_sample import Built, write_bronze
from tests.warehouse.moments import (
    events_by_session,
    known_at,
    live_features,
    points,
    same,
    warehouse_features,
)

DAY_US = 86_400_000_000


def read(settings: Settings, sql: str) -> pl.DataFrame:
    return connect(settings).query(sql)


@pytest.fixture(scope="module")
def moments(built: Built) -> pl.DataFrame:
    return read(
        built.settings,
        "select m.*, s.session_number from gold.fct_cart_moments m "
        "join gold.fact_user_sessions s on m.session_id = s.session_id",
    )


@pytest.fixture(scope="module")
def session_events(built: Built) -> pl.DataFrame:
    return read(built.settings, "select * from silver.int_session_events")


def test_every_row_equals_the_live_builder(moments, session_events) -> None:
    by_session = events_by_session(session_events)
    assert moments.height > 200 and set(moments["prediction_point"]) == set(points())
    for row in moments.iter_rows(named=True):
        events = by_session[(row["user_id"], row["session_number"])]
        known = known_at(events, points()[row["prediction_point"]], epoch_us(row["point_at"]))
        differ = same(warehouse_features(row), live_features(row, known))
        assert not differ, (row["session_id"], row["prediction_point"], differ)


def test_rows_exist_exactly_where_the_session_had_a_cart_and_no_purchase_yet(
    moments, session_events
) -> None:
    expected = set()
    for (user, number), events in events_by_session(session_events).items():
        carts = [e for e in events if e["original_event_type"] == "cart"]
        if not carts:
            continue
        first = carts[0]
        for point in points().values():
            if point.after_events is not None:
                position = first["position_in_session"] + point.after_events
                at = [e for e in events if e["position_in_session"] == position]
                if not at:
                    continue
                before = [e for e in events if e["position_in_session"] < position]
                bought = any(e["event_type"] == "purchase" for e in before) or (
                    at[0]["original_event_type"] == "purchase"
                )
            else:
                instant = first["event_time_us"] + int(point.after_minutes * 60_000_000)
                known = [e for e in events if e["event_time_us"] <= instant]
                if instant - known[-1]["event_time_us"] > 30 * 60_000_000:
                    continue  # the session was over by then
                bought = any(e["event_type"] == "purchase" for e in known)
            if not bought:
                expected.add((user, number, point.name))
    got = set(moments.select("user_id", "session_number", "prediction_point").iter_rows())
    assert got == expected


def test_labels_the_rest_of_the_session_and_the_next_24_hours(moments, built: Built) -> None:
    sessions = read(
        built.settings, "select session_id, total_purchases from gold.fact_user_sessions"
    )
    purchases = read(
        built.settings,
        "select user_id, event_time_us from silver.int_session_events "
        "where event_type = 'purchase'",
    )
    bought_at: dict[int, list[int]] = {}
    for user, at in purchases.iter_rows():
        bought_at.setdefault(user, []).append(at)
    total = dict(sessions.iter_rows())
    for row in moments.iter_rows(named=True):
        assert row["abandoned"] == (total[row["session_id"]] == 0)
        point = epoch_us(row["point_at"])
        within = any(point <= t <= point + DAY_US for t in bought_at.get(row["user_id"], []))
        assert row["purchased_within_24h"] == within
    assert 0 < moments["abandoned"].mean() < 1


def test_history_is_the_users_earlier_sessions_only(moments, built: Built) -> None:
    sessions = read(
        built.settings,
        "select user_id, session_id, session_start, session_end, total_carts, "
        "total_purchases, revenue from gold.fact_user_sessions order by user_id, session_start",
    )
    history = {}
    for (_user,), group in sessions.group_by(["user_id"], maintain_order=True):
        rows = group.to_dicts()
        for i, row in enumerate(rows):
            earlier = rows[:i]
            carted = [s for s in earlier if s["total_carts"] > 0]
            history[row["session_id"]] = {
                "prior_sessions": len(earlier),
                "prior_purchasing_sessions": sum(s["total_purchases"] > 0 for s in earlier),
                "prior_abandonment_rate": (
                    sum(s["total_purchases"] == 0 for s in carted) / len(carted) if carted else None
                ),
                "days_since_previous_session": (
                    (row["session_start"] - earlier[-1]["session_end"]) / timedelta(days=1)
                    if earlier
                    else None
                ),
                "prior_revenue": sum(s["revenue"] for s in earlier),
            }
    for row in moments.iter_rows(named=True):
        for name, want in history[row["session_id"]].items():
            got = row[name]
            assert (got is None) == (want is None), (row["session_id"], name)
            if want is not None:
                assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9), (name, got, want)


def _leak(bronze: pl.DataFrame, session_events: pl.DataFrame, sampled: list[dict]) -> pl.DataFrame:
    """Bronze with, for each sampled row, every event after its point deleted, altered or
    shifted later, and the user's later sessions deleted or altered."""
    rng = np.random.default_rng(20)
    by_session = events_by_session(session_events)
    after: set[tuple[str, int]] = set()  # (source_file, source_line) of events after points
    later_users: dict[int, int] = {}  # user -> last session number left intact
    for row in sampled:
        events = by_session[(row["user_id"], row["session_number"])]
        known = known_at(events, points()[row["prediction_point"]], epoch_us(row["point_at"]))
        last = known[-1]["position_in_session"]
        after |= {
            (e["source_file"], e["source_line"]) for e in events if e["position_in_session"] > last
        }
        later_users[row["user_id"]] = row["session_number"]
    later = session_events.filter(
        pl.struct("user_id", "session_number").map_elements(
            lambda s: (
                s["user_id"] in later_users and s["session_number"] > later_users[s["user_id"]]
            ),
            return_dtype=pl.Boolean,
        )
    )
    after |= set(later.select("source_file", "source_line").iter_rows())
    key = pl.struct("source_file", "source_line").map_elements(
        lambda k: (k["source_file"], k["source_line"]) in after, return_dtype=pl.Boolean
    )
    draw = pl.Series("draw", rng.integers(0, 3, bronze.height))
    marked = bronze.with_columns(is_after=key, draw=draw)
    kept = marked.filter(~(pl.col("is_after") & (pl.col("draw") == 0)))  # a third deleted
    altered = kept.with_columns(
        # a third become purchases at ten times the price (what the label would see)
        event_type=pl.when(pl.col("is_after") & (pl.col("draw") == 1))
        .then(pl.lit("purchase"))
        .otherwise(pl.col("event_type")),
        original_event_type=pl.when(pl.col("is_after") & (pl.col("draw") == 1))
        .then(pl.lit("purchase"))
        .otherwise(pl.col("original_event_type")),
        is_injected=pl.when(pl.col("is_after") & (pl.col("draw") == 1))
        .then(pl.lit(False))
        .otherwise(pl.col("is_injected")),
        price=pl.when(pl.col("is_after")).then(pl.col("price") * 10).otherwise(pl.col("price")),
        product_id=pl.when(pl.col("is_after"))
        .then(pl.col("product_id") + 1)
        .otherwise(pl.col("product_id")),
        # every event after a point moves one second later (ties with the point broken)
        event_time=pl.when(pl.col("is_after"))
        .then(pl.col("event_time") + timedelta(seconds=1))
        .otherwise(pl.col("event_time")),
    )
    return altered.drop("is_after", "draw")


def test_nothing_after_the_point_changes_a_row(
    built: Built, moments, session_events, tmp_path
) -> None:
    # one row per user (a user's later sessions are mutated, so no other sampled row may be
    # among them), spread over the points
    sampled = (
        moments.sort("user_id", "session_number")
        .filter(pl.int_range(pl.len()).over("user_id") == 0)
        .sample(n=min(60, moments["user_id"].n_unique()), seed=3)
        .to_dicts()
    )
    assert len({r["prediction_point"] for r in sampled}) == len(points())
    settings = Settings(data_dir=tmp_path / "leaked")
    write_bronze(settings.warehouse_path, _leak(built.bronze, session_events, sampled))
    build_warehouse(settings)
    rebuilt = {
        (r["session_id"], r["prediction_point"]): r
        for r in read(settings, "select * from gold.fct_cart_moments").iter_rows(named=True)
    }
    labels_changed = 0
    for row in sampled:
        again = rebuilt.get((row["session_id"], row["prediction_point"]))
        assert again is not None, (row["session_id"], row["prediction_point"])
        differ = same(warehouse_features(row), warehouse_features(again))
        assert not differ, (row["session_id"], row["prediction_point"], differ)
        labels_changed += row["abandoned"] != again["abandoned"]
    assert labels_changed > 0  # the mutation reached what came after: only labels moved
    assert set(FEATURES) <= set(next(iter(rebuilt.values())))
