"""A small gold layer in a real DuckDB file, with the contract's columns, built from users
simulated in Python; the tests recompute every count from the same frames independently."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

START = datetime(2019, 10, 1, 3, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Gold:
    users: pl.DataFrame
    sessions: pl.DataFrame


def simulate(
    n_users: int = 4_000,
    *,
    seed: int = 1,
    treatment_share: float = 0.5,
    base_rate: float = 0.08,
    injected_rate: float = 0.04,
    days: int = 70,
    groups: tuple[str, ...] = ("control", "treatment"),
) -> Gold:
    rng = np.random.default_rng(seed)
    is_treatment = rng.random(n_users) < treatment_share
    group = np.where(is_treatment, "treatment", "control")
    if groups == ("control",):
        group[:] = "control"
    converted_organic = rng.random(n_users) < base_rate
    injected_only = is_treatment & ~converted_organic & (rng.random(n_users) < injected_rate)
    converted = converted_organic | injected_only
    first_seen = [
        START + timedelta(seconds=float(s)) for s in rng.uniform(0, days * 86400, n_users)
    ]
    n_sessions = rng.integers(1, 4, n_users)
    session_rows = []
    user_rows = []
    for i in range(n_users):
        later = rng.uniform(0.1, 60, n_sessions[i] - 1)
        starts = [first_seen[i], *sorted(first_seen[i] + timedelta(days=float(d)) for d in later)]
        buy_session = int(rng.integers(0, len(starts))) if converted[i] else -1
        purchases = int(1 + rng.poisson(0.6)) if converted[i] else 0
        revenue = float(np.round(rng.lognormal(2.5, 0.8) * purchases, 2)) if purchases else 0.0
        for j, start in enumerate(starts):
            bought = j == buy_session
            session_rows.append(
                {
                    "session_id": f"{i}-{j + 1}",
                    "user_id": i,
                    "experiment_group": group[i],
                    "session_number": j + 1,
                    "session_start": start,
                    "session_end": start + timedelta(minutes=5),
                    "session_month": start.strftime("%Y-%m"),
                    "session_duration_minutes": 5.0,
                    "total_views": 3,
                    "total_carts": 1,
                    "total_removes": 0,
                    "total_purchases": purchases if bought else 0,
                    "total_injected_purchases": purchases if bought and injected_only[i] else 0,
                    "revenue": revenue if bought else 0.0,
                    "event_count": 4 + (purchases if bought else 0),
                }
            )
        user_rows.append(
            {
                "user_id": i,
                "experiment_group": group[i],
                "first_seen_at": starts[0],
                "last_seen_at": starts[-1] + timedelta(minutes=5),
                "first_purchase_at": starts[buy_session] if converted[i] else None,
                "first_month": starts[0].strftime("%Y-%m"),
                "total_sessions": len(starts),
                "total_purchases": purchases,
                "total_injected_purchases": purchases if injected_only[i] else 0,
                "lifetime_value": revenue,
                "converted": bool(converted[i]),
                "converted_without_injection": bool(converted_organic[i]),
                "days_since_last_session": 0,
            }
        )
    # The contract's types even when every value is null (no purchase at all).
    users = pl.DataFrame(user_rows).with_columns(
        pl.col("first_purchase_at").cast(pl.Datetime("us", "UTC"))
    )
    return Gold(users, pl.DataFrame(session_rows))


def write_gold(gold: Gold, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    users, sessions = gold.users, gold.sessions  # noqa: F841 (read by DuckDB's replacement scan)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists gold")
        con.execute("create or replace table gold.dim_users as select * from users")
        con.execute("create or replace table gold.fact_user_sessions as select * from sessions")
    return path
