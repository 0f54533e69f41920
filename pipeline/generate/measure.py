"""Measure generated (or real) raw files the way statistics.md describes the real set.

Used by the generator's statistics test and its benchmark to compare against the targets.
Malformed lines are skipped: a line counts when its time, type, price and user parse.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl

from pipeline.schema import EVENT_TYPES, RAW_COLUMNS, RAW_TIME_FORMAT
from pipeline.sessions import SESSION_TIMEOUT_MINUTES


def scan_valid(paths: Sequence[Path]) -> pl.LazyFrame:
    """Well-formed rows of raw CSVs, typed; each row tagged with its file's month."""
    frames = []
    for path in paths:
        raw = pl.scan_csv(
            path,
            schema=dict.fromkeys(RAW_COLUMNS, pl.String),
            truncate_ragged_lines=True,
            has_header=True,
        )
        frames.append(raw.with_columns(month=pl.lit(path.stem)))
    typed = pl.concat(frames).with_columns(
        event_time=pl.col("event_time").str.strptime(
            pl.Datetime("us"), RAW_TIME_FORMAT, strict=False
        ),
        product_id=pl.col("product_id").cast(pl.Int64, strict=False),
        category_id=pl.col("category_id").cast(pl.Int64, strict=False),
        price=pl.col("price").cast(pl.Float64, strict=False),
        user_id=pl.col("user_id").cast(pl.Int64, strict=False),
    )
    return typed.filter(
        pl.col("event_time").is_not_null()
        & pl.col("event_type").is_in(EVENT_TYPES)
        & pl.col("price").is_not_null()
        & pl.col("user_id").is_not_null()
        & pl.col("category_id").is_not_null()
    )


def measure(paths: Sequence[Path]) -> dict[str, object]:
    """The statistics.md figures for these files (valid rows only)."""
    lf = scan_valid(paths)
    df = lf.collect()
    n = df.height
    stats: dict[str, object] = {"rows": n}
    stats["rows_per_month"] = dict(df.group_by("month").len().sort("month").iter_rows())
    stats["users"] = df["user_id"].n_unique()
    stats["sessions"] = df["user_session"].drop_nulls().n_unique()
    stats["products"] = df["product_id"].n_unique()
    monthly = df.group_by("month").agg(
        users=pl.col("user_id").n_unique(), sessions=pl.col("user_session").drop_nulls().n_unique()
    )
    stats["monthly_users"] = dict(monthly.select("month", "users").iter_rows())
    stats["monthly_sessions"] = dict(monthly.select("month", "sessions").iter_rows())
    mix = df.group_by("event_type").len()
    stats["event_mix"] = {t: c / n for t, c in mix.iter_rows()}
    stats["null_brand_share"] = df["brand"].null_count() / n
    stats["null_category_code_share"] = df["category_code"].null_count() / n
    stats["null_session_rows"] = df["user_session"].null_count()
    buyers = df.filter(pl.col("event_type") == "purchase")["user_id"].n_unique()
    stats["buyers"] = buyers
    stats["buyer_share"] = buyers / stats["users"]
    # Row hashes instead of multi-column distinct: 20M rows of strings, collisions negligible.
    stats["duplicate_rows"] = n - df.select(pl.struct(RAW_COLUMNS).hash()).n_unique()
    key = ["user_session", "event_time", "product_id", "event_type"]
    rep = (
        df.filter(pl.col("event_type").is_in(["cart", "remove_from_cart"]))
        .with_columns(rep=~pl.struct(key).hash().is_first_distinct())
        .group_by("event_type")
        .agg(pl.col("rep").mean())
    )
    stats["repeated_share"] = dict(rep.iter_rows())
    price = df["price"]
    stats["price"] = {
        "mean": price.mean(),
        "p25": price.quantile(0.25),
        "median": price.median(),
        "p75": price.quantile(0.75),
        "min": price.min(),
        "max": price.max(),
        "zero_share": (price == 0).mean(),
        "negative": int((price < 0).sum()),
        "negative_purchases": df.filter(
            (pl.col("price") < 0) & (pl.col("event_type") == "purchase")
        ).height,
    }
    stats["zero_price_share_by_month"] = dict(
        df.group_by("month").agg((pl.col("price") == 0).mean()).sort("month").iter_rows()
    )
    sess = (
        df.filter(pl.col("user_session").is_not_null())
        .group_by("user_session")
        .agg(
            events=pl.len(),
            minutes=(pl.col("event_time").max() - pl.col("event_time").min()).dt.total_seconds()
            / 60,
            users=pl.col("user_id").n_unique(),
            views=(pl.col("event_type") == "view").sum(),
            carts=(pl.col("event_type") == "cart").sum(),
            purchases=(pl.col("event_type") == "purchase").sum(),
        )
    )
    carts = sess.filter(pl.col("carts") > 0)
    purchases = sess.filter(pl.col("purchases") > 0)
    stats["sessions_detail"] = {
        "events_mean": sess["events"].mean(),
        "duration_median_min": sess["minutes"].median(),
        "duration_p75_min": sess["minutes"].quantile(0.75),
        "over_a_day_share": (sess["minutes"] > 24 * 60).mean(),
        "multi_user_values": sess.filter(pl.col("users") > 1).height,
        "cart_without_view_share": (carts["views"] == 0).mean(),
        "purchase_without_cart_share": (purchases["carts"] == 0).mean(),
        "with_purchase_share": purchases.height / sess.height,
    }
    stats["purchase_per_cart"] = stats["event_mix"].get("purchase", 0) / max(
        stats["event_mix"].get("cart", 1e-9), 1e-9
    )
    prod = df.group_by("product_id").agg(
        cats=pl.col("category_id").n_unique(), brands=pl.col("brand").n_unique()
    )
    stats["products_multi_category"] = prod.filter(pl.col("cats") > 1).height
    stats["products_multi_brand"] = prod.filter(pl.col("brands") > 1).height
    gap = pl.duration(minutes=SESSION_TIMEOUT_MINUTES)
    rule = (
        df.select("user_id", "event_time")
        .sort("user_id", "event_time")
        .with_columns(new=(pl.col("event_time").diff().over("user_id") > gap).fill_null(True))
    )
    stats["sessions_30min_rule"] = int(rule["new"].sum())
    return stats
