"""What the moment model's tests share: the configured points, and each row's known events.

The points are read from dbt_project.yml (their one definition); the events known at a row's
point are taken from int_session_events by the point's own rule, so the Python builder
(pipeline.serving.moment) can be held against every row dbt built.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from typing import Any

import polars as pl
import yaml

from pipeline.serving.features import GROUP_CODES
from pipeline.serving.moment import FEATURES, HISTORY, Event, epoch_us, features_at
from pipeline.settings import REPO_ROOT


@dataclass(frozen=True)
class Point:
    name: str
    after_events: int | None
    after_minutes: float | None


@cache
def points() -> dict[str, Point]:
    """The `moment_points` var of dbt_project.yml."""
    project = yaml.safe_load((REPO_ROOT / "dbt" / "dbt_project.yml").read_text())
    return {
        p["name"]: Point(p["name"], p.get("after_events"), p.get("after_minutes"))
        for p in project["vars"]["moment_points"]
    }


SessionKey = tuple[int, int]  # (user_id, session_number)


def events_by_session(session_events: pl.DataFrame) -> dict[SessionKey, list[dict[str, Any]]]:
    """int_session_events rows grouped by session, in position order."""
    grouped: dict[SessionKey, list[dict[str, Any]]] = defaultdict(list)
    for row in session_events.sort("user_id", "session_number", "position_in_session").iter_rows(
        named=True
    ):
        grouped[(row["user_id"], row["session_number"])].append(row)
    return grouped


def known_at(events: list[dict[str, Any]], point: Point, point_at_us: int) -> list[dict]:
    """The events known at the point: up to the point event, or at or before the instant."""
    if point.after_events is not None:
        first_cart = next(e for e in events if e["original_event_type"] == "cart")
        last = first_cart["position_in_session"] + point.after_events
        return [e for e in events if e["position_in_session"] <= last]
    return [e for e in events if e["event_time_us"] <= point_at_us]


def live_features(row: dict[str, Any], known: list[dict[str, Any]]) -> dict[str, float]:
    """The builder's features for a warehouse row, from its known events as a tracker sends
    them (the raw type: the point event is the shopper's add-to-cart) and its history."""
    events = [
        Event(
            e["event_time_us"],
            e["original_event_type"],
            e["product_id"],
            e["category_id"],
            e["brand"],
            e["price"],
        )
        for e in known
    ]
    point = points()[row["prediction_point"]]
    as_of = epoch_us(row["point_at"]) if point.after_minutes is not None else None
    history = {name: row[name] for name in HISTORY}
    return features_at(events, GROUP_CODES[row["experiment_group"]], history, as_of_us=as_of)


def warehouse_features(row: dict[str, Any]) -> dict[str, float]:
    """A fct_cart_moments row's features as floats (NULL -> NaN), in contract order."""
    values = {**row, "experiment_group": GROUP_CODES[row["experiment_group"]]}
    return {n: math.nan if values[n] is None else float(values[n]) for n in FEATURES}


def same(a: dict[str, float], b: dict[str, float]) -> list[str]:
    """The features on which two rows differ (NaN equals NaN)."""
    return [n for n in FEATURES if not (a[n] == b[n] or (math.isnan(a[n]) and math.isnan(b[n])))]
