"""The assignment and injection rules: who is in Treatment, and which cart events an
experiment's injected effect turns into purchases.

The rules are pure functions of an event's own content, so they give the same answer in
Python, in a Polars plan (any chunking, any order), and in SQL on DuckDB or BigQuery. What an
experiment sets (its key, assignment salt, window and injected rate) comes from experiments.yml
(pipeline.experiment.config) as an `Experiment`; ingestion records it in every manifest and the
readout quotes it.

This module imports only the standard library at import time: Polars and its hash plugin load
inside the expression builders. The assignment itself is in `pipeline.experiment.assignment`
(standard library only, so the API may import it: the import contracts check it).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pipeline.experiment.assignment import _ODD_HEX, CONTROL, TREATMENT

if TYPE_CHECKING:
    import polars as pl

# The draw uses the first 8 hex digits of an MD5 (32 bits) as a uniform number in [0, 1).
_DRAW_HEX_DIGITS = 8
_DRAW_DENOMINATOR = 16**_DRAW_HEX_DIGITS


@dataclass(frozen=True)
class Experiment:
    """One experiment as the rules see it: its assignment salt, window and injected uplift.

    `salt` prefixes the user id in the assignment hash ("" is the seed's rule, md5 of the id
    alone). `start` and `end` are UTC dates: events on earlier days form the pre-period (no
    injection; the readout uses them as CUPED covariates), None means the data's first day (no
    pre-period) and no end. `uplift_rate` is the share of Treatment cart events the demo
    injects as purchases, drawn with `injection_seed`; 0 (the default) injects nothing.
    """

    key: str = ""
    salt: str = ""
    uplift_rate: float = 0.0
    start: date | None = None
    end: date | None = None
    injection_seed: str = ""

    def __post_init__(self) -> None:
        rate = self.uplift_rate
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
            raise ValueError(f"the uplift rate must be a finite number, got {rate!r}")
        if not 0 <= rate <= 1:
            raise ValueError(f"the uplift rate is a share of cart events in [0, 1], got {rate!r}")
        for name in ("start", "end"):
            day = getattr(self, name)
            if day is not None and (not isinstance(day, date) or isinstance(day, datetime)):
                raise ValueError(f"the experiment {name} must be a date, got {day!r}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"the experiment ends ({self.end}) before it starts ({self.start})")

    @property
    def is_aa(self) -> bool:
        """No injected effect: Treatment and Control differ only by chance."""
        return self.uplift_rate == 0

    @property
    def start_at(self) -> datetime | None:
        """The first instant of the experiment (UTC midnight of `start`)."""
        return None if self.start is None else _midnight(self.start)

    @property
    def end_before(self) -> datetime | None:
        """The first instant after the experiment (UTC midnight after `end`)."""
        return None if self.end is None else _midnight(self.end + timedelta(days=1))

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as recorded in manifests and in the readout."""
        out = asdict(self)
        for name in ("start", "end"):
            out[name] = None if out[name] is None else out[name].isoformat()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Experiment:
        """The JSON form back; a missing field takes the value manifests written before it
        existed were ingested with (LEGACY)."""
        legacy = LEGACY.to_dict() if "key" not in data else cls().to_dict()
        merged = {**legacy, **{k: v for k, v in data.items() if k in legacy}}
        return cls(
            key=str(merged["key"]),
            salt=str(merged["salt"]),
            uplift_rate=float(merged["uplift_rate"]),
            start=_day(merged["start"]),
            end=_day(merged["end"]),
            injection_seed=str(merged["injection_seed"]),
        )


def _day(text: Any) -> date | None:
    return None if text in (None, "") else date.fromisoformat(str(text))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


# What manifests written before an experiment carried a key were ingested with: the seed's
# rule (no salt), 5% of Treatment's cart events injected from the data's first day. Only
# reading those old manifests needs it; the experiments themselves come from experiments.yml.
LEGACY = Experiment(key="checkout", uplift_rate=0.05, injection_seed="ecom-growth-checkout-v2")


def group_expr(user_id: pl.Expr, salt: str | pl.Expr = "") -> pl.Expr:
    """`assign_group` as a Polars expression (runs in the streaming engine); `salt` is a text
    or a column of them (many experiments' assignments at once)."""
    pl = _polars()
    text = user_id.cast(pl.String)
    if isinstance(salt, pl.Expr):
        text = salt + text
    elif salt:
        text = pl.lit(salt) + text
    last_hex = text.nchash.md5().str.slice(31, 1)
    return pl.when(last_hex.is_in(_ODD_HEX)).then(pl.lit(TREATMENT)).otherwise(pl.lit(CONTROL))


def injection_key(
    event_time: str,
    user_id: int | str,
    product_id: int | str,
    user_session: str | None,
    seed: str,
) -> str:
    """The event's identity as hashed by the injection draw (raw text of the identifying fields)."""
    return "|".join((seed, event_time, str(user_id), str(product_id), user_session or ""))


def injection_draw(
    event_time: str,
    user_id: int | str,
    product_id: int | str,
    user_session: str | None,
    seed: str,
) -> float:
    """Uniform number in [0, 1) fixed by the event's identity: same event, same draw, always."""
    digest = hashlib.md5(
        injection_key(event_time, user_id, product_id, user_session, seed).encode()
    ).hexdigest()
    return int(digest[:_DRAW_HEX_DIGITS], 16) / _DRAW_DENOMINATOR


def in_experiment(event_time: str, experiment: Experiment) -> bool:
    """True when a raw event time ("2019-10-01 00:00:04 UTC") falls in the experiment's days.

    The raw text starts with the ISO date, so comparing its first ten characters is exact."""
    day = event_time[:10]
    after_start = experiment.start is None or day >= experiment.start.isoformat()
    return after_start and (experiment.end is None or day <= experiment.end.isoformat())


def is_injected(
    event_type: str,
    group: str,
    event_time: str,
    user_id: int | str,
    product_id: int | str,
    user_session: str | None,
    experiment: Experiment,
) -> bool:
    """True when this Treatment cart event, in the experiment period, becomes a purchase."""
    if event_type != "cart" or group != TREATMENT or not in_experiment(event_time, experiment):
        return False
    draw = injection_draw(event_time, user_id, product_id, user_session, experiment.injection_seed)
    return draw < experiment.uplift_rate


def injection_draw_expr(
    seed: str,
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
            pl.lit(seed),
            pl.col(event_time).cast(pl.String),
            pl.col(user_id).cast(pl.String),
            pl.col(product_id).cast(pl.String),
            pl.col(user_session).cast(pl.String).fill_null(""),
        ],
        separator="|",
    )
    prefix = key.nchash.md5().str.slice(0, _DRAW_HEX_DIGITS)
    return prefix.str.to_integer(base=16).cast(pl.Float64) / _DRAW_DENOMINATOR


def in_experiment_expr(event_time: pl.Expr, experiment: Experiment) -> pl.Expr:
    """`in_experiment` on a typed UTC datetime column (true everywhere without a window)."""
    pl = _polars()
    inside = pl.lit(True)
    if experiment.start_at is not None:
        inside = inside & (event_time >= pl.lit(experiment.start_at))
    if experiment.end_before is not None:
        inside = inside & (event_time < pl.lit(experiment.end_before))
    return inside


def is_injected_expr(
    event_type: pl.Expr,
    group: pl.Expr,
    experiment: Experiment,
    draw: pl.Expr | None = None,
    *,
    event_time: pl.Expr | None = None,
) -> pl.Expr:
    """`is_injected` as a Polars expression; `draw` defaults to the experiment's
    `injection_draw_expr`.

    With a start or end date, `event_time` (a typed UTC datetime) must be given."""
    draw = injection_draw_expr(experiment.injection_seed) if draw is None else draw
    rule = (event_type == "cart") & (group == TREATMENT) & (draw < experiment.uplift_rate)
    if experiment.start is None and experiment.end is None:
        return rule
    if event_time is None:
        raise ValueError("an experiment with a start or end date needs the typed event_time")
    return rule & in_experiment_expr(event_time, experiment)


def _polars():
    """Polars with the MD5 plugin registered (loaded on first use, see the module docstring)."""
    import polars as pl
    import polars_hash  # noqa: F401  (registers the .nchash namespace)

    return pl
