"""The experiment, defined once: who is in Treatment, when the experiment starts, and which
cart events the redesigned checkout turns into purchases.

The rules are pure functions of an event's own content, so they give the same answer in
Python, in a Polars plan (any chunking, any order), and in SQL on DuckDB or BigQuery. The two
settings a team changes (the uplift rate and the start date) form `Experiment`; ingestion
records it in every manifest and the readout quotes it.

This module imports only the standard library at import time (pipeline.settings imports it, and
the API imports the settings): Polars and its hash plugin load inside the expression builders.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

CONTROL = "control"
TREATMENT = "treatment"
GROUPS: tuple[str, str] = (CONTROL, TREATMENT)

# Share of Treatment cart events that become purchases (the injected uplift): the seed's 5%.
UPLIFT_RATE = 0.05
# Salt of the injection draw; part of the experiment's definition, not a runtime knob.
INJECTION_SEED = "ecom-growth-checkout-v2"
# What the redesign is expected to do, quoted at the top of the readout.
HYPOTHESIS = (
    "The redesigned checkout raises the share of users who reach the cart and then buy "
    "(primary metric: conversion of users with at least one cart event), without lowering "
    "revenue per user, raising cart removals or reducing visits."
)
_ODD_HEX = ("1", "3", "5", "7", "9", "b", "d", "f")
# Public name of the last md5 hex digits that put a user in Treatment (dbt receives them as a var).
TREATMENT_HEX_DIGITS: tuple[str, ...] = _ODD_HEX
# The draw uses the first 8 hex digits of an MD5 (32 bits) as a uniform number in [0, 1).
_DRAW_HEX_DIGITS = 8
_DRAW_DENOMINATOR = 16**_DRAW_HEX_DIGITS


@dataclass(frozen=True)
class Experiment:
    """The experiment's settings: the injected uplift and the first day of exposure.

    `start` is a UTC date: events on earlier days form the pre-period (no injection; the
    readout uses them as CUPED covariates). None means the data's first day (no pre-period).
    An `uplift_rate` of 0 makes the whole pipeline a real A/A test.
    """

    uplift_rate: float = UPLIFT_RATE
    start: date | None = None
    injection_seed: str = INJECTION_SEED

    def __post_init__(self) -> None:
        rate = self.uplift_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
            raise ValueError(f"the uplift rate must be a finite number, got {rate!r}")
        if not 0 <= rate <= 1:
            raise ValueError(f"the uplift rate is a share of cart events in [0, 1], got {rate!r}")
        if self.start is not None and not isinstance(self.start, date):
            raise ValueError(f"the experiment start must be a date, got {self.start!r}")

    @property
    def is_aa(self) -> bool:
        """No injected effect: Treatment and Control differ only by chance."""
        return self.uplift_rate == 0

    @property
    def start_at(self) -> datetime | None:
        """The first instant of the experiment (UTC midnight of `start`)."""
        return (
            None if self.start is None else datetime.combine(self.start, datetime.min.time(), UTC)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as recorded in manifests and in the readout."""
        out = asdict(self)
        out["start"] = None if self.start is None else self.start.isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        start = data.get("start")
        return cls(
            uplift_rate=float(data.get("uplift_rate", UPLIFT_RATE)),
            start=None if start in (None, "") else date.fromisoformat(str(start)),
            injection_seed=str(data.get("injection_seed", INJECTION_SEED)),
        )


# The seed's experiment: 5% uplift from the data's first day (what manifests without an
# `experiment` field were ingested with).
DEFAULT_EXPERIMENT = Experiment()


def assign_group(user_id: int | str) -> str:
    """Treatment when int(md5(str(user_id)), 16) is odd, i.e. the last hex digit is odd."""
    digest = hashlib.md5(str(user_id).encode()).hexdigest()
    return TREATMENT if digest[-1] in _ODD_HEX else CONTROL


def group_expr(user_id: pl.Expr) -> pl.Expr:
    """`assign_group` as a Polars expression (runs in the streaming engine)."""
    pl = _polars()
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


def in_experiment(event_time: str, experiment: Experiment = DEFAULT_EXPERIMENT) -> bool:
    """True when a raw event time ("2019-10-01 00:00:04 UTC") falls on or after the start day.

    The raw text starts with the ISO date, so comparing its first ten characters is exact."""
    return experiment.start is None or event_time[:10] >= experiment.start.isoformat()


def is_injected(
    event_type: str,
    group: str,
    event_time: str,
    user_id: int | str,
    product_id: int | str,
    user_session: str | None,
    experiment: Experiment = DEFAULT_EXPERIMENT,
) -> bool:
    """True when this Treatment cart event, in the experiment period, becomes a purchase."""
    if event_type != "cart" or group != TREATMENT or not in_experiment(event_time, experiment):
        return False
    return injection_draw(event_time, user_id, product_id, user_session) < experiment.uplift_rate


def injection_draw_expr(
    event_time: str = "event_time",
    user_id: str = "user_id",
    product_id: str = "product_id",
    user_session: str = "user_session",
) -> pl.Expr:
    """`injection_draw` as a Polars expression over the raw text of the identifying columns.

    `event_time` must be the raw string ("2019-10-01 00:00:04 UTC"), ids their decimal text.
    """
    pl = _polars()
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


def in_experiment_expr(event_time: pl.Expr, experiment: Experiment = DEFAULT_EXPERIMENT) -> pl.Expr:
    """`in_experiment` on a typed UTC datetime column (true everywhere without a start)."""
    pl = _polars()
    if experiment.start_at is None:
        return pl.lit(True)
    return event_time >= pl.lit(experiment.start_at)


def is_injected_expr(
    event_type: pl.Expr,
    group: pl.Expr,
    draw: pl.Expr | None = None,
    *,
    experiment: Experiment = DEFAULT_EXPERIMENT,
    event_time: pl.Expr | None = None,
) -> pl.Expr:
    """`is_injected` as a Polars expression; `draw` defaults to `injection_draw_expr()`.

    With a start date, `event_time` (a typed UTC datetime) must be given."""
    draw = injection_draw_expr() if draw is None else draw
    rule = (event_type == "cart") & (group == TREATMENT) & (draw < experiment.uplift_rate)
    if experiment.start is None:
        return rule
    if event_time is None:
        raise ValueError("an experiment with a start date needs the typed event_time expression")
    return rule & in_experiment_expr(event_time, experiment)


def _polars():
    """Polars with the MD5 plugin registered (loaded on first use, see the module docstring)."""
    import polars as pl
    import polars_hash  # noqa: F401  (registers the .nchash namespace)

    return pl
