"""The data contracts: the raw CSV layout and the bronze table, defined once."""

from __future__ import annotations

import polars as pl

# Header of the public data set's monthly CSVs, in file order.
RAW_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)
EVENT_TYPES: tuple[str, ...] = ("view", "cart", "remove_from_cart", "purchase")
# Raw timestamps look like "2019-10-01 00:00:04 UTC".
RAW_TIME_FORMAT = "%Y-%m-%d %H:%M:%S UTC"

# Bronze: raw columns with strict types, plus lineage and experiment columns.
BRONZE_SCHEMA = pl.Schema(
    {
        "event_time": pl.Datetime("us", "UTC"),
        "event_type": pl.String,
        "product_id": pl.Int64,
        "category_id": pl.Int64,  # 19 digits, above 2^53: never a float
        "category_code": pl.String,
        "brand": pl.String,
        "price": pl.Float64,
        "user_id": pl.Int64,
        "user_session": pl.String,
        "experiment_group": pl.String,
        "original_event_type": pl.String,
        "is_injected": pl.Boolean,
        "source_file": pl.String,
        "source_line": pl.Int64,
        "ingested_at": pl.Datetime("us", "UTC"),
    }
)

QUARANTINE_SCHEMA = pl.Schema(
    {
        "source_file": pl.String,
        "source_line": pl.Int64,
        "raw_line": pl.String,
        "reason": pl.String,
    }
)
