"""A small gold.fct_experiment_users in a real DuckDB file, with the contract's columns, built
from users simulated in Python; the tests recompute every figure from the same frame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

START = date(2019, 10, 1)


@dataclass(frozen=True)
class Gold:
    users: pl.DataFrame


def simulate(
    n_users: int = 4_000,
    *,
    seed: int = 1,
    treatment_share: float = 0.5,
    base_rate: float = 0.25,
    injected_rate: float = 0.08,
    cart_share: float = 0.4,
    days: int = 70,
    returning_share: float = 0.3,
    start: date = START,
    groups: tuple[str, ...] = ("control", "treatment"),
    key: str = "checkout",
) -> Gold:
    """Users of experiment `key` starting on `start`: a share reach the cart; of those, some
    convert on their own and Treatment's also through injected purchases."""
    rng = np.random.default_rng(seed)
    is_treatment = rng.random(n_users) < treatment_share
    if groups == ("control",):
        is_treatment[:] = False
    exposed = rng.random(n_users) < cart_share
    returning = rng.random(n_users) < returning_share
    pre_sessions = np.where(returning, rng.integers(1, 5, n_users), 0)
    pre_purchases = np.where(returning, rng.poisson(0.3 * pre_sessions), 0)
    # Buying propensity rises with past purchases: the pre-period predicts the experiment.
    propensity = np.clip(base_rate * (1 + 0.8 * np.minimum(pre_purchases, 3)), 0, 0.95)
    organic = exposed & (rng.random(n_users) < propensity)
    injected_only = is_treatment & exposed & ~organic & (rng.random(n_users) < injected_rate)
    converted = organic | injected_only
    start_at = datetime.combine(start, datetime.min.time(), UTC)
    entered = np.sort(rng.uniform(0, days * 86_400, n_users))
    carts = np.where(exposed, 1 + rng.poisson(1.5, n_users), 0)
    removes = np.where(exposed, rng.binomial(carts, 0.3), 0)
    items = np.where(converted, 1 + rng.poisson(0.8, n_users), 0)
    orders = np.where(converted, 1 + rng.binomial(items - 1 + (items == 0), 0.2), 0)
    revenue = np.where(converted, np.round(rng.lognormal(2.5, 0.8, n_users) * items, 2), 0.0)
    pre_revenue = np.where(pre_purchases > 0, np.round(rng.lognormal(2.5, 0.8, n_users), 2), 0.0)
    sessions = 1 + rng.poisson(1.0, n_users)
    rows = []
    for i in range(n_users):
        entered_at = start_at + timedelta(seconds=float(entered[i]))
        cart_at = entered_at + timedelta(days=float(rng.uniform(0, 10))) if exposed[i] else None
        bought_at = cart_at + timedelta(minutes=20) if converted[i] else None
        last_seen = max(t for t in (entered_at, cart_at, bought_at) if t is not None)

        def week(t: datetime | None) -> int | None:
            return None if t is None else (t.date() - start).days // 7

        rows.append(
            {
                "experiment_key": key,
                "user_id": i,
                "experiment_group": "treatment" if is_treatment[i] else "control",
                "experiment_start": start,
                "experiment_end": None,
                "entered_at": entered_at,
                "last_seen_at": last_seen + timedelta(minutes=5),
                "first_cart_session_at": cart_at,
                "first_purchase_at": bought_at,
                "entry_month": entered_at.strftime("%Y-%m"),
                "entry_week": week(entered_at),
                "first_cart_week": week(cart_at),
                "first_purchase_week": week(bought_at),
                "is_returning": bool(returning[i]),
                "is_exposed": bool(exposed[i]),
                "converted": bool(converted[i]),
                "converted_without_injection": bool(organic[i]),
                "total_sessions": int(sessions[i]),
                "total_carts": int(carts[i]),
                "total_removes": int(removes[i]),
                "total_purchases": int(items[i]),
                "total_injected_purchases": int(items[i]) if injected_only[i] else 0,
                "total_orders": int(orders[i]),
                "revenue": float(revenue[i]),
                "pre_sessions": int(pre_sessions[i]),
                "pre_carts": int(pre_sessions[i]),
                "pre_purchases": int(pre_purchases[i]),
                "pre_orders": int(min(pre_purchases[i], pre_sessions[i])),
                "pre_converted": bool(pre_purchases[i] > 0),
                "pre_revenue": float(pre_revenue[i]),
            }
        )
    users = pl.DataFrame(rows).with_columns(
        pl.col("first_cart_session_at", "first_purchase_at").cast(pl.Datetime("us", "UTC")),
        pl.col("experiment_end").cast(pl.Date),
    )
    return Gold(users)


def write_gold(gold: Gold, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    users = gold.users  # noqa: F841 (read by DuckDB's replacement scan)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists gold")
        con.execute("create or replace table gold.fct_experiment_users as select * from users")
    return path
