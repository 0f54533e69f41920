"""The Predictor's live mode, without Streamlit: sessions to replay from the warehouse, sessions
built event by event, and the /sessions/score requests that score them after each event.

A replay sends what a live tracker would have sent at each moment: the events so far with the
type the shopper produced (`original_event_type`), the shopper's history and group. It starts
at the first add-to-cart (the moment model scores carts) and ends at the first purchase (after
it there is nothing to save): before a real one, after an add-to-cart the redesigned checkout
converted (an injected purchase, whose click was the add-to-cart). The SQL is in sql/app/.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for
from pipeline.warehouse.templates import render

HISTORY = (
    "prior_sessions",
    "prior_purchasing_sessions",
    "prior_abandonment_rate",
    "days_since_previous_session",
    "prior_revenue",
)
# Sessions offered per outcome; the shortest (a replay worth watching) and the longest one
# offered (each event is one API call).
PER_OUTCOME = 40
MIN_EVENTS = 4
MAX_EVENTS = 60
EVENT_LABELS = {
    "view": "View",
    "cart": "Add to cart",
    "remove_from_cart": "Remove from cart",
    "purchase": "Purchase",
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sessions_sql(wh: Warehouse, per_outcome: int = PER_OUTCOME) -> str:
    return render(
        "app/live_sessions.sql",
        dialect_for(wh),
        moments=wh.table("gold", "fct_cart_moments"),
        sessions=wh.table("gold", "fact_user_sessions"),
        per_outcome=int(per_outcome),
        min_events=MIN_EVENTS,
        max_events=MAX_EVENTS,
    )


def events_sql(wh: Warehouse, user_id: int, session_number: int) -> str:
    return render(
        "app/session_events.sql",
        dialect_for(wh),
        events=wh.table("silver", "int_session_events"),
        user_id=int(user_id),
        session_number=int(session_number),
    )


def session_label(row: dict[str, Any]) -> str:
    """'2020-02-29 14:02 UTC · 12 events · abandoned · user 512475445'."""
    start = row["session_start"]
    outcome = "abandoned" if row["abandoned"] else "bought"
    return (
        f"{start:%Y-%m-%d %H:%M} UTC · {row['event_count']} events · {outcome} · "
        f"user {row['user_id']}"
    )


def iso(us: int) -> str:
    """Exact microseconds since the epoch as ISO 8601 UTC."""
    return (_EPOCH + timedelta(microseconds=int(us))).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Step:
    """The session as known after one event: the request that scores it."""

    number: int  # 1-based position of the event in the session
    event_type: str
    body: dict[str, Any]

    @property
    def key(self) -> str:
        """The body as canonical JSON (a cache key)."""
        return json.dumps(self.body, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Replay:
    """A warehouse session as a series of steps, and what happened in it."""

    steps: tuple[Step, ...]
    events: pl.DataFrame  # the session's events, for display
    bought_at: int | None  # 1-based position of the first purchase, if any
    abandoned: bool


def _history(row: dict[str, Any]) -> dict[str, Any] | None:
    values = {name: row.get(name) for name in HISTORY}
    return None if all(v is None for v in values.values()) else values


def replay(choice: dict[str, Any], events: pl.DataFrame) -> Replay:
    """The steps of a warehouse session: one per event from the first add-to-cart to the
    first purchase (see the module's docstring)."""
    tracked = [
        {
            "event_time": iso(e["event_time_us"]),
            "event_type": e["original_event_type"],
            "product_id": e["product_id"],
            "category_id": e["category_id"],
            "brand": e["brand"],
            "price": e["price"],
        }
        for e in events.iter_rows(named=True)
    ]
    recorded = events["event_type"].to_list()
    raw = events["original_event_type"].to_list()
    bought = next(
        (i for i, (r, o) in enumerate(zip(recorded, raw, strict=True)) if "purchase" in (r, o)),
        None,
    )
    first_cart = next((i for i, t in enumerate(raw) if t == "cart"), None)
    steps = []
    if first_cart is not None:
        # A real purchase ends the replay before it; an injected one (the redesigned checkout
        # converting an add-to-cart) after it: the shopper's click was the add-to-cart.
        end = len(tracked) if bought is None else bought + (raw[bought] != "purchase")
        for i in range(first_cart, end):
            body = {
                "events": tracked[: i + 1],
                "history": _history(choice),
                "experiment_group": choice["experiment_group"],
            }
            steps.append(Step(i + 1, raw[i], body))
    return Replay(
        tuple(steps), events, None if bought is None else bought + 1, bool(choice["abandoned"])
    )


# ----------------------------------------------------------------------------- the builder


@dataclass(frozen=True)
class Built:
    """A session built with the buttons: events one after another, `gap` seconds apart."""

    start: datetime
    group: str = "control"
    history: dict[str, Any] | None = None
    events: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def add(self, kind: str, price: float, gap_seconds: float) -> Built:
        """A view of a new product; an add-to-cart of the last viewed product (or a new one
        at `price`); a removal of the last product in the cart (refused when it is empty)."""
        at = self.start if not self.events else self._last_time() + timedelta(seconds=gap_seconds)
        product = 1 + sum(e["event_type"] == "view" for e in self.events)
        if kind == "cart":
            viewed = [e for e in self.events if e["event_type"] == "view"]
            if viewed:
                product, price = viewed[-1]["product_id"], viewed[-1]["price"]
        elif kind == "remove_from_cart":
            in_cart = self.in_cart()
            if not in_cart:
                raise ValueError("the cart is empty: add something first")
            product, price = in_cart[-1]["product_id"], in_cart[-1]["price"]
        event = {
            "event_time": at.isoformat().replace("+00:00", "Z"),
            "event_type": kind,
            "product_id": int(product),
            "category_id": 1_000 + int(product) % 4,
            "brand": None,
            "price": round(float(price), 2),
        }
        return replace(self, events=(*self.events, event))

    def undo(self) -> Built:
        return replace(self, events=self.events[:-1])

    def in_cart(self) -> list[dict[str, Any]]:
        cart: list[dict[str, Any]] = []
        for e in self.events:
            if e["event_type"] == "cart":
                cart.append(e)
            elif e["event_type"] == "remove_from_cart":
                cart = [c for c in cart if c["product_id"] != e["product_id"]]
        return cart

    def _last_time(self) -> datetime:
        return datetime.fromisoformat(self.events[-1]["event_time"])

    def steps(self) -> tuple[Step, ...]:
        types = [e["event_type"] for e in self.events]
        if "cart" not in types:
            return ()
        return tuple(
            Step(
                i + 1,
                types[i],
                {
                    "events": list(self.events[: i + 1]),
                    "history": self.history,
                    "experiment_group": self.group,
                },
            )
            for i in range(types.index("cart"), len(types))
        )


def trajectory(steps: tuple[Step, ...], answers: list[dict[str, Any]]) -> pl.DataFrame:
    """One row per scored step: the event, P(abandon), the break-even P and the decision."""
    rows = []
    for step, answer in zip(steps, answers, strict=True):
        decision = answer["decision"]
        rows.append(
            {
                "event": step.number,
                "event_type": EVENT_LABELS.get(step.event_type, step.event_type),
                "probability": answer["abandonment_probability"],
                "break_even": decision["break_even_probability"],
                "intervene": decision["intervene"],
                "expected_value": decision["expected_value"],
                "cart_price": decision["cart_price"],
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "event": pl.Int64,
            "event_type": pl.String,
            "probability": pl.Float64,
            "break_even": pl.Float64,
            "intervene": pl.Boolean,
            "expected_value": pl.Float64,
            "cart_price": pl.Float64,
        },
    )


def describe_trajectory(frame: pl.DataFrame) -> str:
    """The trajectory chart in words (its alt text)."""
    if frame.is_empty():
        return "No score yet: the moment model scores a session from its first add-to-cart."
    first, last = frame.row(0, named=True), frame.row(-1, named=True)
    above = int(frame["intervene"].sum())
    threshold = (
        "no intervention pays for this cart at any probability"
        if last["break_even"] is None or math.isnan(last["break_even"])
        else f"intervening pays above {last['break_even']:.0%} for the cart now"
    )
    return (
        f"Line chart of the probability that the cart is abandoned after each event: "
        f"{first['probability']:.0%} at the first add-to-cart (event {first['event']}), "
        f"{last['probability']:.0%} after event {last['event']}; {threshold}. The rule says "
        f"intervene after {above} of the {frame.height} scored events."
    )
