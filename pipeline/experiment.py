"""The experiment's two rules, defined once: who is in Treatment, and which cart events the
redesigned checkout turns into purchases.

Both are pure functions of an event's own content, so they give the same answer in Python,
in a Polars plan (any chunking, any order), and in SQL on DuckDB or BigQuery.
"""

from __future__ import annotations

import hashlib

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash namespace)

CONTROL = "control"
TREATMENT = "treatment"
GROUPS: tuple[str, str] = (CONTROL, TREATMENT)

# Share of Treatment cart events that become purchases (the injected uplift).
UPLIFT_RATE = 0.05
# Salt of the injection draw; part of the experiment's definition, not a runtime knob.
INJECTION_SEED = "ecom-growth-checkout-v2"
_ODD_HEX = ("1", "3", "5", "7", "9", "b", "d", "f")
# Public name of the last md5 hex digits that put a user in Treatment (dbt receives them as a var).
TREATMENT_HEX_DIGITS: tuple[str, ...] = _ODD_HEX
# The draw uses the first 8 hex digits of an MD5 (32 bits) as a uniform number in [0, 1).
_DRAW_HEX_DIGITS = 8
_DRAW_DENOMINATOR = 16**_DRAW_HEX_DIGITS


def assign_group(user_id: int | str) -> str:
    """Treatment when int(md5(str(user_id)), 16) is odd, i.e. the last hex digit is odd."""
    digest = hashlib.md5(str(user_id).encode()).hexdigest()
    return TREATMENT if digest[-1] in _ODD_HEX else CONTROL


def group_expr(user_id: pl.Expr) -> pl.Expr:
    """`assign_group` as a Polars expression (runs in the streaming engine)."""
    last_hex = user_id.cast(pl.String).nchash.md5().str.slice(31, 1)
    return pl.when(last_hex.is_in(_ODD_HEX)).then(pl.lit(TREATMENT)).otherwise(pl.lit(CONTROL))


def injection_key(
    event_time: str, user_id: int | str, product_id: int | str, user_session: str | None
) -> str:
    """The event's identity as hashed by the injection draw (raw text of the identifying fields)."""
    return "|".join((INJECTION_SEED, event_time, str(user_id), str(product_id), user_session or ""))


def injection_draw(
    event_time: str, user_id: int | str, product_id: int | str, user_session: str | None
) -> float:
    """Uniform number in [0, 1) fixed by the event's identity: same event, same draw, always."""
    digest = hashlib.md5(
        injection_key(event_time, user_id, product_id, user_session).encode()
    ).hexdigest()
    return int(digest[:_DRAW_HEX_DIGITS], 16) / _DRAW_DENOMINATOR


def is_injected(
    event_type: str,
    group: str,
    event_time: str,
    user_id: int | str,
    product_id: int | str,
    user_session: str | None,
) -> bool:
    """True when this Treatment cart event is turned into a purchase."""
    if event_type != "cart" or group != TREATMENT:
        return False
    return injection_draw(event_time, user_id, product_id, user_session) < UPLIFT_RATE


def injection_draw_expr(
    event_time: str = "event_time",
    user_id: str = "user_id",
    product_id: str = "product_id",
    user_session: str = "user_session",
) -> pl.Expr:
    """`injection_draw` as a Polars expression over the raw text of the identifying columns.

    `event_time` must be the raw string ("2019-10-01 00:00:04 UTC"), ids their decimal text.
    """
    key = pl.concat_str(
        [
            pl.lit(INJECTION_SEED),
            pl.col(event_time).cast(pl.String),
            pl.col(user_id).cast(pl.String),
            pl.col(product_id).cast(pl.String),
            pl.col(user_session).cast(pl.String).fill_null(""),
        ],
        separator="|",
    )
    prefix = key.nchash.md5().str.slice(0, _DRAW_HEX_DIGITS)
    return prefix.str.to_integer(base=16).cast(pl.Float64) / _DRAW_DENOMINATOR


def is_injected_expr(event_type: pl.Expr, group: pl.Expr, draw: pl.Expr | None = None) -> pl.Expr:
    """`is_injected` as a Polars expression; `draw` defaults to `injection_draw_expr()`."""
    draw = injection_draw_expr() if draw is None else draw
    return (event_type == "cart") & (group == TREATMENT) & (draw < UPLIFT_RATE)
