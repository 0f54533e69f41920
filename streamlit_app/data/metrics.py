"""The dashboard's numbers: the readout on the filtered users, plus the views only the
dashboard shows (funnel, daily effect, price-band segments).

The comparisons, the decision, the weekly looks and the segments are the readout's own
(`pipeline.abtest.build_readout` on the readout's queries with the filters as `where`), so the
page and `ecom abtest` say the same thing about the same users; the rest uses pipeline.stats.
A rate without a denominator is None (shown "–"), never 0. This module only lays the results
out as frames the page draws and downloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from pipeline.abtest import build_readout
from pipeline.abtest import queries as readout_queries
from pipeline.abtest.readout import Readout, ReadoutConfig
from pipeline.experiment import CONTROL, GROUPS, TREATMENT
from pipeline.stats.frequentist import compare_conversion
from pipeline.stats.sufficient import Proportion
from streamlit_app.data.experiments import Selected
from streamlit_app.data.filters import Filters
from streamlit_app.data.queries import FOLLOW_UP_DAYS
from streamlit_app.data.segments import segment_table

EPOCH = date(1970, 1, 1)
# Each step a subset of the one before; the last step's share is the Conversion tile.
FUNNEL_STAGES = ("users", "reached_cart", "bought")


def day_of(epoch_day: int) -> date:
    return EPOCH + timedelta(days=int(epoch_day))


@dataclass(frozen=True)
class GroupKpis:
    """One group's tiles: all its users, those who reached the cart (the primary population)
    and, of those, who bought; revenue over all its users."""

    group: str
    users: int
    exposed: int
    converters: int
    revenue: float
    orders: float

    @property
    def conversion(self) -> float | None:
        """The primary metric: converters among the users who reached the cart (None when
        nobody did: undefined, not zero)."""
        return self.converters / self.exposed if self.exposed else None

    @property
    def revenue_per_user(self) -> float | None:
        return self.revenue / self.users if self.users else None

    @property
    def revenue_per_purchase(self) -> float | None:
        """Revenue per order (a session with a purchase); None without orders."""
        return self.revenue / self.orders if self.orders else None


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    readout: Readout
    kpis: dict[str, GroupKpis]
    funnel: pl.DataFrame  # group, stage, count, share of the previous step
    cumulative: pl.DataFrame  # one row per weekly look: counts, lift, both intervals
    daily: pl.DataFrame  # one row per day of first cart with full follow-up: conversion, lift
    segments: pl.DataFrame  # one row per segment: both groups, lift, adjusted p

    @property
    def is_empty(self) -> bool:
        return sum(k.users for k in self.kpis.values()) == 0

    @property
    def has_primary(self) -> bool:
        """Whether both groups have users who reached the cart: without them the primary
        metric is undefined and the page makes no decision."""
        return all(k.exposed > 0 for k in self.kpis.values())

    def kpi_frame(self) -> pl.DataFrame:
        """The tiles as a table (for the download)."""
        rows = [
            {
                "experiment_group": k.group,
                "users": k.users,
                "reached_cart": k.exposed,
                "converters": k.converters,
                "conversion": k.conversion,
                "revenue": k.revenue,
                "orders": k.orders,
                "revenue_per_user": k.revenue_per_user,
                "revenue_per_purchase": k.revenue_per_purchase,
            }
            for k in (self.kpis[g] for g in GROUPS)
        ]
        floats = ("conversion", "revenue_per_user", "revenue_per_purchase")
        return pl.DataFrame(rows, schema_overrides=dict.fromkeys(floats, pl.Float64))


# ---------------------------------------------------------------------------- pieces


def group_kpis(stats: readout_queries.ExperimentStats) -> dict[str, GroupKpis]:
    out = {}
    for group in GROUPS:
        everyone = stats.group("all", group)
        exposed = stats.group("exposed", group)
        out[group] = GroupKpis(
            group,
            everyone.users,
            exposed.users,
            exposed.proportion.successes,
            everyone.revenue.metric.sum,
            everyone.revenue_per_order.denominator_sum,
        )
    return out


FUNNEL_SCHEMA = {
    "experiment_group": pl.String,
    "stage": pl.String,
    "count": pl.Int64,
    "share_of_previous": pl.Float64,
}


def funnel(frame: pl.DataFrame) -> pl.DataFrame:
    """Users -> reached the cart -> bought, per group; each step's share of the one before
    (None when the step before is empty)."""
    found = {row["experiment_group"]: row for row in frame.iter_rows(named=True)}
    rows = []
    for group in GROUPS:
        row = found.get(group, {})
        previous = None
        for stage in FUNNEL_STAGES:
            count = int(row.get(stage) or 0)
            share = None if previous is None else (count / previous if previous else None)
            rows.append(
                {
                    "experiment_group": group,
                    "stage": stage,
                    "count": count,
                    "share_of_previous": 1.0 if previous is None and count else share,
                }
            )
            previous = count
    return pl.DataFrame(rows, schema=FUNNEL_SCHEMA)


CUMULATIVE_SCHEMA = {
    "week": pl.Int64,
    "week_end": pl.Date,
    "control_users": pl.Int64,
    "control_converters": pl.Int64,
    "treatment_users": pl.Int64,
    "treatment_converters": pl.Int64,
    "lift": pl.Float64,
    "fixed_lower": pl.Float64,
    "fixed_upper": pl.Float64,
    "fixed_p": pl.Float64,
    "sequential_lower": pl.Float64,
    "sequential_upper": pl.Float64,
    "sequential_p": pl.Float64,
}


def cumulative_lift(readout: Readout) -> pl.DataFrame:
    """The readout's weekly looks (users who reached the cart by each week's end): the
    cumulative lift, its fixed-horizon interval and the always-valid confidence sequence."""
    rows = []
    ends = readout.week_ends
    for look in readout.sequential.looks:
        ok = look.message == "ok"
        rows.append(
            {
                "week": look.week + 1,
                "week_end": date.fromisoformat(ends[look.week]) if look.week < len(ends) else None,
                "control_users": look.control.n,
                "control_converters": look.control.successes,
                "treatment_users": look.treatment.n,
                "treatment_converters": look.treatment.successes,
                "lift": look.estimate if ok else None,
                "fixed_lower": look.fixed_ci.lower if ok else None,
                "fixed_upper": look.fixed_ci.upper if ok else None,
                "fixed_p": look.fixed_p if ok else None,
                "sequential_lower": look.sequential_ci.lower if ok else None,
                "sequential_upper": look.sequential_ci.upper if ok else None,
                "sequential_p": look.sequential_p if ok else None,
            }
        )
    return pl.DataFrame(rows, schema=CUMULATIVE_SCHEMA)


DAILY_SCHEMA = {
    "day": pl.Date,
    "follow_up_days": pl.Float64,
    "control_users": pl.Int64,
    "control_converters": pl.Int64,
    "control_conversion": pl.Float64,
    "treatment_users": pl.Int64,
    "treatment_converters": pl.Int64,
    "treatment_conversion": pl.Float64,
    "lift": pl.Float64,
    "lift_lower": pl.Float64,
    "lift_upper": pl.Float64,
    "p_value": pl.Float64,
}


def daily_effect(frame: pl.DataFrame, alpha: float) -> pl.DataFrame:
    """Per day of first cart: the share of that day's new cart users in each group who bought
    within FOLLOW_UP_DAYS of their first cart, and the difference with its interval. Days whose
    cohort has had less follow-up than that are left out (they have not had the time to buy),
    so a later day is measured like an earlier one. Noisy by design: it shows when an effect
    appears and whether it holds."""
    by_day: dict[int, dict[str, Proportion]] = {}
    follow_up: dict[int, float] = {}
    for row in frame.iter_rows(named=True):
        if row["experiment_group"] in GROUPS and row["first_cart_day"] is not None:
            day = int(row["first_cart_day"])
            by_day.setdefault(day, {})[row["experiment_group"]] = Proportion(
                int(row["users"]), int(row["converters"])
            )
            seen = float(row["follow_up_days"])
            follow_up[day] = min(seen, follow_up.get(day, seen))
    rows = []
    for day in sorted(by_day):
        if follow_up[day] < FOLLOW_UP_DAYS:
            continue
        control = by_day[day].get(CONTROL, Proportion(0, 0))
        treatment = by_day[day].get(TREATMENT, Proportion(0, 0))
        lift = compare_conversion(control, treatment, alpha).absolute
        rows.append(
            {
                "day": day_of(day),
                "follow_up_days": follow_up[day],
                "control_users": control.n,
                "control_converters": control.successes,
                "control_conversion": control.mean if control.n else None,
                "treatment_users": treatment.n,
                "treatment_converters": treatment.successes,
                "treatment_conversion": treatment.mean if treatment.n else None,
                "lift": None if lift is None else lift.estimate,
                "lift_lower": None if lift is None else lift.ci.lower,
                "lift_upper": None if lift is None else lift.ci.upper,
                "p_value": None if lift is None else lift.p_value,
            }
        )
    return pl.DataFrame(rows, schema=DAILY_SCHEMA)


# ---------------------------------------------------------------------------- the page


def build_dashboard(
    filters: Filters,
    frames: dict[str, pl.DataFrame],
    config: ReadoutConfig,
    experiment: Selected,
) -> Dashboard:
    """Everything the page shows, from the results of `queries.page_queries`."""
    # The readout's segments only: its family of tests, adjusted as `ecom abtest` adjusts it;
    # the price bands are the dashboard's own view, each tested alone.
    data = readout_queries.data_from_frames(frames)
    counts = data.segments
    bands = readout_queries.segments_from_frame(frames["bands"])
    readout = build_readout(
        data,
        config,
        experiment.spec,
        experiment.recorded,
        experiment.settings_source,
        experiment.warnings,
    )
    stats = data.stats
    return Dashboard(
        filters=filters,
        readout=readout,
        kpis=group_kpis(stats),
        funnel=funnel(frames["funnel"]),
        cumulative=cumulative_lift(readout),
        daily=daily_effect(frames["daily"], config.alpha),
        segments=segment_table(readout, counts, bands),
    )


def load_dashboard(
    wh,
    filters: Filters,
    config: ReadoutConfig,
    experiment: Selected,
    query=None,
) -> Dashboard:
    """Run the page's queries (through `query`; default `wh.query`), a few at a time: each is
    small (a scan of one table) and opens its own connection, so they overlap well."""
    from concurrent.futures import ThreadPoolExecutor

    from streamlit_app.data.queries import page_queries

    run = query or wh.query
    sqls = page_queries(wh, filters, experiment.spec, config.winsorize_at)
    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        results = pool.map(run, sqls.values())
        frames = dict(zip(sqls, results, strict=True))
    return build_dashboard(filters, frames, config, experiment)


QUERY_THREADS = 4


def load_bounds_and_dashboard(
    wh,
    config: ReadoutConfig,
    experiment: Selected,
) -> tuple[Bounds, Dashboard | None]:
    """The filters' range and the default (unfiltered) page from one pool of queries: a first
    visit needs both, and the bounds query no longer runs alone before the page's. The page is
    None when its part failed (the caller loads it again alone, to report that failure)."""
    from concurrent.futures import ThreadPoolExecutor

    from streamlit_app.data.queries import bounds_sql, page_queries

    sqls = page_queries(wh, Filters(), experiment.spec, config.winsorize_at)
    with ThreadPoolExecutor(max_workers=QUERY_THREADS) as pool:
        bounds_future = pool.submit(wh.query, bounds_sql(wh, experiment.spec.key))
        futures = {name: pool.submit(wh.query, sql) for name, sql in sqls.items()}
        bounds = bounds_from_frame(bounds_future.result())
        try:
            frames = {name: future.result() for name, future in futures.items()}
            page = build_dashboard(Filters(), frames, config, experiment)
        except Exception:  # reported by the caller's own load of the page
            page = None
    return bounds, page


# ---------------------------------------------------------------------------- the filters' range


@dataclass(frozen=True)
class Bounds:
    """What the experiment covers: entry months, the first and last entry day, the users and
    how many were seen before it started (no returning users without a pre-period)."""

    months: tuple[str, ...]
    first_day: date | None
    last_day: date | None
    users: int
    returning_users: int

    @property
    def is_empty(self) -> bool:
        return self.users == 0


def bounds_from_frame(frame: pl.DataFrame) -> Bounds:
    if frame.height == 0:
        return Bounds((), None, None, 0, 0)
    return Bounds(
        tuple(str(m) for m in frame["entry_month"].to_list()),
        day_of(int(frame["first_day"].min())),
        day_of(int(frame["last_day"].max())),
        int(frame["users"].sum()),
        int(frame["returning_users"].sum()),
    )
