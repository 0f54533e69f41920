"""Silver and sessionization in Polars: a reference implementation for checking the dbt models.

A test oracle, not shipped with the pipeline. The warehouse tests (tests/warehouse/test_build.py) compare the dbt
build with it, and the warehouse benchmark (benchmarks/bench_warehouse.py) times it as the
baseline, so both check dbt against one independent statement of the rules in DESIGN.md:
silver drops rows without a user or a session (or with the tracker's 'unknown' placeholder)
and keeps each exact duplicate once; a user's session ends when the next event comes more
than the timeout later; carts count raw cart events, purchases include injected ones.
"""

from __future__ import annotations

from typing import Literal

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

from pipeline.sessions import SESSION_TIMEOUT_MINUTES

# The columns whose equality makes two rows copies of one event (stg_events' rule): the raw
# event type, so an injected purchase (a raw cart) never absorbs a real purchase.
DEDUP_KEY: tuple[str, ...] = (
    "event_time",
    "original_event_type",
    "product_id",
    "user_id",
    "user_session",
    "price",
)
# The tracker's placeholder for a missing session: treated like a null session.
UNKNOWN_SESSION = "unknown"


def silver_events(bronze: pl.LazyFrame, *, keep: Literal["first", "any"] = "first") -> pl.LazyFrame:
    """stg_events' rows: known user and session, each exact duplicate once.

    keep="first" keeps the first copy by source file and line, as dbt does (the lineage
    columns then match row for row); keep="any" skips that sort, which changes no session total.
    """
    known = bronze.filter(
        pl.col("user_id").is_not_null()
        & pl.col("user_session").is_not_null()
        & (pl.col("user_session") != "")
        & (pl.col("user_session") != UNKNOWN_SESSION)
    )
    if keep == "first":
        known = known.sort("source_file", "source_line")
        return known.unique(subset=list(DEDUP_KEY), keep="first", maintain_order=True)
    return known.unique(subset=list(DEDUP_KEY), keep="any")


def session_id_expr(user_id: str = "user_id", session_start: str = "session_start") -> pl.Expr:
    """fact_user_sessions.session_id: md5 of '<user_id>-<session start in epoch microseconds>'."""
    start_us = pl.col(session_start).dt.epoch("us").cast(pl.String)
    return pl.concat_str([pl.col(user_id).cast(pl.String), pl.lit("-"), start_us]).nchash.md5()


def sessionize(
    silver: pl.LazyFrame, *, timeout_minutes: int = SESSION_TIMEOUT_MINUTES
) -> pl.LazyFrame:
    """fact_user_sessions' numbers per (user_id, session_number), from silver events.

    Sorted by user, time, source file and line (the dbt model's order); a gap of more than the
    timeout starts a session; a running sum of those starts numbers them.
    """
    timeout_us = timeout_minutes * 60 * 1_000_000
    gap_us = pl.col("event_time").diff().dt.total_microseconds().over("user_id")
    numbered = silver.sort("user_id", "event_time", "source_file", "source_line").with_columns(
        session_number=(gap_us.is_null() | (gap_us > timeout_us))
        .cast(pl.Int64)
        .cum_sum()
        .over("user_id")
    )

    def count(condition: pl.Expr) -> pl.Expr:
        return condition.sum().cast(pl.Int64)

    is_purchase = pl.col("event_type") == "purchase"
    return numbered.group_by("user_id", "session_number").agg(
        experiment_group=pl.col("experiment_group").min(),
        session_start=pl.col("event_time").min(),
        session_end=pl.col("event_time").max(),
        total_views=count(pl.col("event_type") == "view"),
        # A cart the redesigned checkout turned into a purchase was still a cart.
        total_carts=count(pl.col("original_event_type") == "cart"),
        total_removes=count(pl.col("event_type") == "remove_from_cart"),
        total_purchases=count(is_purchase),
        total_injected_purchases=count(is_purchase & pl.col("is_injected")),
        revenue=pl.col("price").filter(is_purchase).sum(),
        cart_value=pl.col("price").filter(pl.col("original_event_type") == "cart").sum(),
        event_count=pl.len().cast(pl.Int64),
    )


__all__ = ["DEDUP_KEY", "UNKNOWN_SESSION", "session_id_expr", "sessionize", "silver_events"]
