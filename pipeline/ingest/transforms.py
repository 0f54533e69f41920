"""Raw lines -> typed bronze rows or quarantine rows.

Pure LazyFrame -> LazyFrame steps (split, parse, enrich) for the streaming plan, and two small
per-batch selections (bronze_rows, quarantine_rows) for the writer.

Every raw field stays text until it is checked, so a bad value never becomes a silent null or a
float: a row either parses strictly into the bronze schema or goes to quarantine with the first
reason that applies (checked in REASONS order).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from pipeline.experiment import (
    TREATMENT,
    Experiment,
    group_expr,
    in_experiment_expr,
    injection_draw_expr,
    is_injected_expr,
)
from pipeline.schema import BRONZE_SCHEMA, EVENT_TYPES, QUARANTINE_SCHEMA, RAW_COLUMNS

LINE = "line"
LINE_INDEX = "line_index"  # 0-based physical line number in the file (the header is 0)
# The one time spelling: "2019-10-01 00:00:04 UTC", every field zero-padded, seconds 00-59.
# (chrono's strptime alone accepts "2019-10-0100:00:04  UTC", "0:00:04", "+019" and 23:59:60,
# which it turns into the next minute, maybe the next month.) The regex fixes the shape, strptime
# the calendar (no 2019-02-29, no hour 24).
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:[0-5]\d UTC$"
# The one price spelling: an optional minus, digits, optionally a point and more digits. No
# "+3", ".5", "5.", exponents ("1e5", "1e-400" would be 0.0), "inf" or "nan"; "-0" is 0.0.
PRICE_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

# Quarantine reasons in the order they are checked (first match wins); see `_checks`.
REASONS: tuple[str, ...] = (
    "bad_encoding",
    "nul_byte",
    "quoted_field",
    "wrong_column_count",
    "bad_event_time",
    "outside_month",
    "unknown_event_type",
    "bad_product_id",
    "bad_category_id",
    "bad_price",
    "empty_user_id",
    "bad_user_id",
)
_REASON_CODES = {name: number for number, name in enumerate(REASONS, start=1)}


def _checks(
    month_start: datetime, month_end: datetime, bad_lines: Sequence[int] | None
) -> dict[str, pl.Expr]:
    """Quarantine reasons and their tests, in REASONS order.

    `bad_encoding` marks the lines whose bytes were not valid UTF-8 (found by index, from the
    bytes; only tested when there are any). A NUL byte is valid UTF-8 but no field may hold one.

    A line holding a double quote is set aside whole: the data set never quotes, and splitting
    a quoted field on its commas would shift every column after it (docs: reference/ingestion-rules.md).

    `outside_month`: the file of a month holds that month's events only (UTC). Another month's
    event belongs to its own file, so it is never written twice, whatever the files overlap.
    """
    raw = pl.col
    checks = {
        "bad_encoding": raw(LINE_INDEX).is_in(
            pl.lit(pl.Series(bad_lines or [], dtype=pl.UInt32)).implode()
        ),
        "nul_byte": raw(LINE).str.contains("\x00", literal=True),
        "quoted_field": raw(LINE).str.contains('"', literal=True),
        "wrong_column_count": raw("user_session").is_null()
        | raw("user_session").str.contains(",", literal=True),
        "bad_event_time": raw("_event_time").is_null()
        | ~raw("event_time").str.contains(TIME_PATTERN),
        "outside_month": (raw("_event_time") < month_start) | (raw("_event_time") >= month_end),
        "unknown_event_type": ~raw("event_type").is_in(EVENT_TYPES),
        "bad_product_id": raw("_product_id").is_null(),
        "bad_category_id": raw("_category_id").is_null(),
        "bad_price": raw("_price").is_null() | ~raw("_price").is_finite(),
        "empty_user_id": raw("user_id") == "",
        "bad_user_id": raw("_user_id").is_null(),
    }
    assert tuple(checks) == REASONS
    if not bad_lines:
        del checks["bad_encoding"]
    return checks


def split_fields(lines: pl.LazyFrame) -> pl.LazyFrame:
    """One text column per raw field.

    `splitn` keeps everything after the 8th comma in the last field, so a line with too many
    fields shows a comma in `user_session` and one with too few a null there.
    """
    fields = pl.col(LINE).str.splitn(",", len(RAW_COLUMNS)).struct.rename_fields(list(RAW_COLUMNS))
    return lines.with_columns(fields.alias("_fields")).unnest("_fields")


def parse(
    fields: pl.LazyFrame,
    *,
    month_start: datetime,
    month_end: datetime,
    bad_lines: Sequence[int] | None = None,
) -> pl.LazyFrame:
    """Add the typed values (`_`-prefixed) and `reason_code`: 0 for a good row, else 1 + the
    index of its reason in REASONS (a UInt8 is much cheaper to carry than text; the name is
    attached to the few quarantined rows only).

    `month_start`/`month_end` bound the file's month (UTC); `bad_lines` are the 0-based
    indices of lines that were not valid UTF-8.
    """
    raw = pl.col
    typed = fields.with_columns(
        _event_time=raw("event_time").str.strptime(
            pl.Datetime("us", "UTC"), "%Y-%m-%d %H:%M:%S UTC", strict=False
        ),
        _product_id=_strict_id("product_id"),
        _category_id=_strict_id("category_id"),
        _user_id=_strict_id("user_id"),
        _price=pl.when(raw("price").str.contains(PRICE_PATTERN)).then(_price_value()),
    )
    checks = _checks(month_start, month_end, bad_lines)
    (first, first_check), *rest = checks.items()
    code = pl.when(first_check).then(pl.lit(_REASON_CODES[first], pl.UInt8))
    for name, check in rest:
        code = code.when(check).then(pl.lit(_REASON_CODES[name], pl.UInt8))
    return typed.with_columns(code.otherwise(pl.lit(0, pl.UInt8)).alias("reason_code"))


def _price_value() -> pl.Expr:
    """The price as a float, with "-0" stored as 0.0 (no negative zero; `x + 0.0` would do it
    in IEEE arithmetic, but Polars simplifies it away)."""
    value = pl.col("price").cast(pl.Float64, strict=False)
    return pl.when(value == 0).then(pl.lit(0.0)).otherwise(value)


def _strict_id(column: str) -> pl.Expr:
    """Canonical decimal text that fits in an Int64, else null.

    `to_integer` also takes a sign and leading zeros; refusing those keeps the raw text equal
    to `str(int(text))`, what the experiment hashes and what SQL sees. (Prefix tests instead
    of a regex: a third of the parse cost less.)
    """
    text = pl.col(column)
    non_canonical = (
        text.str.starts_with("+")
        | text.str.starts_with("-")
        | (text.str.starts_with("0") & (text.str.len_bytes() > 1))
    )
    return pl.when(~non_canonical).then(text.str.to_integer(strict=False))


def _empty_as_null(column: str) -> pl.Expr:
    """ "" -> null. (Not `replace("", None)`: that falls back to the in-memory engine.)"""
    return pl.when(pl.col(column) != "").then(pl.col(column)).alias(column)


def enrich(
    parsed: pl.LazyFrame,
    source_file: str,
    ingested_at: datetime,
    experiment: Experiment,
) -> pl.LazyFrame:
    """Every row, good or bad: the bronze columns, the quarantine columns and `reason`.

    One stream feeds both outputs (`bronze_rows` and `quarantine_rows` split each batch), so a
    file is read and parsed once. Good rows also carry a 64-bit hash of their raw text, to count
    exact duplicates across batches; bad rows carry their raw text.

    The injection draw hashes the raw event_time text and the canonical id text. It is computed
    only for Treatment cart rows (others get a null key, whose MD5 is skipped), which keeps the
    hashing to ~14% of rows without changing the rule in pipeline.experiment. `experiment`
    (experiments.yml's injected experiment) sets the assignment salt, the rate (0: nothing is
    injected, an A/A test) and the window (events before the start day, the pre-period, and
    after the end day are never injected).
    """
    good = pl.col("reason_code") == 0
    grouped = parsed.with_columns(
        group_expr(pl.col("user_id"), experiment.salt).alias("experiment_group")
    )
    candidate = (
        good
        & (pl.col("event_type") == "cart")
        & (pl.col("experiment_group") == TREATMENT)
        & in_experiment_expr(pl.col("_event_time"), experiment)
        & pl.lit(experiment.uplift_rate > 0)
    )
    draw = injection_draw_expr(
        experiment.injection_seed, "_draw_time", "user_id", "product_id", "user_session"
    )
    injected = grouped.with_columns(
        pl.when(candidate).then(pl.col("event_time")).alias("_draw_time")
    ).with_columns(
        is_injected_expr(
            pl.col("event_type"),
            pl.col("experiment_group"),
            experiment,
            draw,
            event_time=pl.col("_event_time"),
        )
        .fill_null(False)
        .alias("is_injected")
    )
    return injected.select(
        event_time="_event_time",
        event_type=pl.when("is_injected").then(pl.lit("purchase")).otherwise("event_type"),
        product_id="_product_id",
        category_id="_category_id",
        category_code=_empty_as_null("category_code"),
        brand=_empty_as_null("brand"),
        price="_price",
        user_id="_user_id",
        user_session=_empty_as_null("user_session"),
        experiment_group="experiment_group",
        original_event_type="event_type",
        is_injected="is_injected",
        source_file=pl.lit(source_file),
        source_line=(pl.col(LINE_INDEX).cast(pl.Int64) + 1),  # 1-based; the header is line 1
        ingested_at=pl.lit(ingested_at, BRONZE_SCHEMA["ingested_at"]),
        raw_line=pl.when(~good).then(pl.col(LINE)),
        reason_code="reason_code",
        line_hash=pl.when(good).then(pl.col(LINE).hash(seed=0)),
    ).cast(dict(BRONZE_SCHEMA))


def bronze_rows(batch: pl.DataFrame) -> pl.DataFrame:
    """The good rows of an enriched batch, in BRONZE_SCHEMA."""
    return batch.filter(pl.col("reason_code") == 0).select(list(BRONZE_SCHEMA))


def quarantine_rows(batch: pl.DataFrame) -> pl.DataFrame:
    """The rejected rows of an enriched batch: exact raw text, file line number and reason."""
    rejected = batch.filter(pl.col("reason_code") != 0)
    reason = pl.col("reason_code").replace_strict(
        list(_REASON_CODES.values()), list(_REASON_CODES), return_dtype=pl.String
    )
    return rejected.with_columns(reason=reason).select(list(QUARANTINE_SCHEMA))
