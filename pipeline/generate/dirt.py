"""The real files' dirt, added on purpose so that cleaning is exercised and measurable.

Repeated rows, zero and negative prices, missing sessions, and malformed lines of known kinds.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline.generate import calibration as cal
from pipeline.schema import EVENT_TYPES

MALFORMED_KINDS: tuple[str, ...] = (
    "wrong_column_count",
    "unparsable_time",
    "unparsable_price",
    "unknown_event_type",
    "empty_user_id",
)
_BAD_TIMES = ("2019-13-45 25:61:00 UTC", "yesterday", "10/01/2019 12:00", "2019-10-01T00:00")
_BAD_PRICES = ("abc", "1.2.3", "€4.05", "-")
_BAD_TYPES = ("click", "add_to_wishlist", "VIEW", "purchased")


def repeat_type_share() -> float:
    """Expected share of rows that are repeats, given the event mix."""
    return sum(cal.EVENT_MIX[t] * cal.REPEAT_INJECTED[t] for t in EVENT_TYPES)


def prices(
    rng: np.random.Generator, base: np.ndarray, etype: np.ndarray, month: str, scale: float
) -> np.ndarray:
    """Product prices with the real zero share and a handful of negatives, mostly purchases."""
    price = base.copy()
    zero_share = cal.ZERO_PRICE_SHARE_BY_MONTH.get(month, cal.ZERO_PRICE_SHARE)
    price[rng.random(len(price)) < zero_share] = 0.0
    expected = cal.NEGATIVE_PRICE_ROWS * scale * cal.MONTH_ROWS[month] / cal.TOTAL_ROWS
    n_neg = max(1, round(expected))
    purchases = np.flatnonzero(etype == EVENT_TYPES.index("purchase"))
    n_on_purchase = min(len(purchases), round(n_neg * cal.NEGATIVE_ON_PURCHASE))
    others = np.flatnonzero(etype != EVENT_TYPES.index("purchase"))
    neg = np.concatenate(
        [
            rng.choice(purchases, size=n_on_purchase, replace=False),
            rng.choice(others, size=n_neg - n_on_purchase, replace=False),
        ]
    )
    price[neg] = -np.round(rng.uniform(0.5, 79.37, size=len(neg)), 2)
    return price


def repeats(rng: np.random.Generator, etype: np.ndarray, n_rows: int) -> np.ndarray:
    """Indices of base events to write twice, so that the month has exactly n_rows rows."""
    picks = []
    for code, name in enumerate(EVENT_TYPES):
        if name == "remove_from_cart":
            continue
        share = cal.REPEAT_INJECTED[name]
        pool = np.flatnonzero(etype == code)
        k = round(len(pool) * share / (1 - share))
        picks.append(rng.choice(pool, size=k, replace=True))
    removes = np.flatnonzero(etype == EVENT_TYPES.index("remove_from_cart"))
    k_remove = max(0, n_rows - len(etype) - sum(len(p) for p in picks))
    picks.append(rng.choice(removes, size=k_remove, replace=True))
    return np.concatenate(picks)


def null_session_rows(
    rng: np.random.Generator, n_rows: int, month: str, scale: float
) -> np.ndarray:
    expected = cal.NULL_SESSION_ROWS * scale * cal.MONTH_ROWS[month] / cal.TOTAL_ROWS
    return rng.choice(n_rows, size=min(n_rows, round(expected)), replace=False)


def malformed_rows(rng: np.random.Generator, n_rows: int, share: float) -> dict[str, np.ndarray]:
    """Which data rows become malformed, split as evenly as possible over the kinds."""
    k = min(n_rows, round(n_rows * share))
    rows = np.sort(rng.choice(n_rows, size=k, replace=False))
    kind = rng.permutation(np.arange(k) % len(MALFORMED_KINDS))
    return {name: rows[kind == i] for i, name in enumerate(MALFORMED_KINDS)}


def _field(i: int) -> str:
    """Regex matching the first i fields of a CSV line (no quoted fields in these files)."""
    return "^((?:[^,]*,){" + str(i) + "})[^,]*"


def malformed_lines(good_lines: pl.Series, kinds: pl.Series) -> pl.Series:
    """Corrupt well-formed CSV lines according to their kind (vectorised Polars string ops)."""
    variant = pl.int_range(pl.len()) % 4
    bad_time = pl.lit(pl.Series(_BAD_TIMES)).gather(variant)
    bad_price = pl.lit(pl.Series(_BAD_PRICES)).gather(variant)
    bad_type = pl.lit(pl.Series(_BAD_TYPES)).gather(variant)
    line = pl.col("line")
    fields = line.str.split(",")

    def rest(i: int) -> pl.Expr:  # the line after field i, starting at its comma
        return line.str.replace(_field(i), "")

    out = (
        pl.DataFrame({"line": good_lines, "kind": kinds})
        .with_columns(variant=variant)
        .select(
            pl.when(pl.col("kind") == "wrong_column_count")
            .then(
                pl.when(pl.col("variant") % 2 == 0)
                .then(line + ",extra")
                .otherwise(fields.list.head(6).list.join(","))
            )
            .when(pl.col("kind") == "unparsable_time")
            .then(pl.concat_str(bad_time, rest(0)))
            .when(pl.col("kind") == "unparsable_price")
            .then(pl.concat_str(line.str.extract(_field(6), 1), bad_price, rest(6)))
            .when(pl.col("kind") == "unknown_event_type")
            .then(pl.concat_str(line.str.extract(_field(1), 1), bad_type, rest(1)))
            .otherwise(pl.concat_str(line.str.extract(_field(7), 1), rest(7)))
            .alias("line")
        )
    )
    return out["line"]
