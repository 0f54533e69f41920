"""The readout's SQL: each query returns per-group sufficient statistics from the gold layer.

Everything reads gold.fct_experiment_users (one row per user in the experiment, with the
pre-period covariates and the cart trigger). The warehouse does the scanning and the sums;
Python receives a few dozen rows whatever the data size. SQL is engine-neutral except for the
expressions of pipeline.warehouse.dialect, so BigQuery runs the same builders.

Every builder takes `where`, an optional SQL predicate on that table's columns (e.g.
"entry_month = '2019-12'", "is_returning"): the dashboard's filters. Filters must use what is
known when a user enters the experiment (entry_month, entry_week, is_returning, ...), or the
comparison stops being randomized.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date

import polars as pl

from pipeline.experiment import GROUPS
from pipeline.stats.sufficient import Paired, Proportion, RatioMean, SampleMean
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for

POPULATIONS = ("exposed", "all")  # the primary analysis first
TABLE = "fct_experiment_users"


@dataclass(frozen=True)
class GroupStats:
    """Everything the whole-experiment comparisons need for one group of one population."""

    users: int
    conversion: Paired  # converted (binary) with pre-period conversion as covariate
    converters_without_injection: int
    revenue: Paired  # revenue per user with pre-period revenue as covariate
    revenue_capped: SampleMean
    revenue_per_order: RatioMean  # orders = sessions with a purchase
    revenue_per_item: RatioMean  # items = purchase events (line items)
    sessions: Paired  # sessions per user with pre-period sessions as covariate
    removes_per_cart: RatioMean
    returning: int

    @property
    def proportion(self) -> Proportion:
        metric = self.conversion.metric
        assert isinstance(metric, Proportion)
        return metric

    @property
    def proportion_without_injection(self) -> Proportion:
        return Proportion(self.users, self.converters_without_injection)


@dataclass(frozen=True)
class ExperimentStats:
    """Per population ("exposed", "all") and group: the sufficient statistics; plus the
    experiment window as the warehouse built it and the winsorization cap."""

    groups: dict[tuple[str, str], GroupStats]
    start: date | None
    end: date | None
    revenue_cap: float | None = None
    cap_units: int = 0  # users with non-zero revenue the cap's percentile was taken over

    def group(self, population: str, group: str) -> GroupStats:
        return self.groups.get((population, group), zero_stats())


def _where(where: str | None) -> str:
    return f"where {where}" if where else ""


def _count(condition: str, bigint: str) -> str:
    return f"cast(sum(case when {condition} then 1 else 0 end) as {bigint})"


def totals_sql(wh: Warehouse, winsorize_at: float | None, where: str | None = None) -> str:
    """Per population and group: users, conversions (with and without injected purchases),
    and the sums, sums of squares and cross products of every metric and covariate.

    Winsorization caps per-user revenue at the `winsorize_at` percentile of the users with
    non-zero revenue, both groups pooled (GrowthBook's ignoreZeros: over all users the cap is 0
    whenever fewer than 1 - p of them buy)."""
    d = dialect_for(wh)
    if winsorize_at is None:
        cap_cte = f"""
revenue_cap as (
    select cast(null as {d.double}) as cap, cast(0 as {d.bigint}) as cap_units
),"""
    else:
        buyers = "(select revenue from users where revenue != 0) as buyers"
        cap_cte = f"""
revenue_cap_value as (
    {d.percentile("revenue", winsorize_at, buyers, alias="cap")}
),
revenue_cap as (
    select
        revenue_cap_value.cap,
        (select {_count("revenue != 0", d.bigint)} from users) as cap_units
    from revenue_cap_value
),"""
    b = d.bigint
    return f"""
with users as (
    select
        experiment_group,
        is_exposed,
        is_returning,
        case when converted then 1 else 0 end as converted,
        case when converted_without_injection then 1 else 0 end as converted_without_injection,
        case when pre_converted then 1 else 0 end as pre_converted,
        cast(revenue as {d.double}) as revenue,
        cast(pre_revenue as {d.double}) as pre_revenue,
        cast(total_orders as {d.double}) as orders,
        cast(total_purchases as {d.double}) as items,
        cast(total_sessions as {d.double}) as sessions,
        cast(pre_sessions as {d.double}) as pre_sessions,
        cast(total_removes as {d.double}) as removes,
        cast(total_carts as {d.double}) as carts
    from {wh.table("gold", TABLE)}
    {_where(where)}
),
{cap_cte}
users_capped as (
    select
        users.*,
        case when revenue_cap.cap is null then revenue
            when revenue > revenue_cap.cap then revenue_cap.cap
            else revenue end as capped_revenue
    from users
    cross join revenue_cap
),
populations as (
    select 'all' as population, users_capped.* from users_capped
    union all
    select 'exposed' as population, users_capped.* from users_capped where is_exposed
)
select
    population,
    experiment_group,
    cast(count(*) as {b}) as users,
    cast(sum(converted) as {b}) as converters,
    cast(sum(converted_without_injection) as {b}) as converters_without_injection,
    cast(sum(pre_converted) as {b}) as pre_converters,
    cast(sum(converted * pre_converted) as {b}) as converted_pre_converted,
    {_count("is_returning", b)} as returning_users,
    sum(revenue) as revenue_sum,
    sum(revenue * revenue) as revenue_sum_squares,
    sum(pre_revenue) as pre_revenue_sum,
    sum(pre_revenue * pre_revenue) as pre_revenue_sum_squares,
    sum(revenue * pre_revenue) as revenue_pre_revenue_sum,
    sum(capped_revenue) as capped_revenue_sum,
    sum(capped_revenue * capped_revenue) as capped_revenue_sum_squares,
    sum(orders) as orders_sum,
    sum(orders * orders) as orders_sum_squares,
    sum(revenue * orders) as revenue_orders_sum,
    sum(items) as items_sum,
    sum(items * items) as items_sum_squares,
    sum(revenue * items) as revenue_items_sum,
    sum(sessions) as sessions_sum,
    sum(sessions * sessions) as sessions_sum_squares,
    sum(pre_sessions) as pre_sessions_sum,
    sum(pre_sessions * pre_sessions) as pre_sessions_sum_squares,
    sum(sessions * pre_sessions) as sessions_pre_sessions_sum,
    sum(removes) as removes_sum,
    sum(removes * removes) as removes_sum_squares,
    sum(carts) as carts_sum,
    sum(carts * carts) as carts_sum_squares,
    sum(removes * carts) as removes_carts_sum,
    max(revenue_cap.cap) as revenue_cap,
    max(revenue_cap.cap_units) as cap_units
from populations
cross join revenue_cap
group by population, experiment_group
order by population, experiment_group
"""


def window_sql(wh: Warehouse, where: str | None = None) -> str:
    """The experiment's first day as the warehouse built it, and the data's last day."""
    d = dialect_for(wh)
    return f"""
select
    min(experiment_start) as experiment_start,
    max(last_seen_at) as last_seen_at,
    cast(count(*) as {d.bigint}) as users
from {wh.table("gold", TABLE)}
{_where(where)}
"""


def weekly_sql(wh: Warehouse, where: str | None = None) -> str:
    """The primary population by (group, week of the first cart, week converted), weeks
    counted from the experiment's start day. A user counts at look w once their first cart
    session falls in week w or earlier, and as converted once their first purchase does too
    (a purchase before the first cart counts from the cart's week)."""
    d = dialect_for(wh)
    return f"""
with exposed as (
    select experiment_group, first_cart_week, first_purchase_week
    from {wh.table("gold", TABLE)}
    where is_exposed{f" and ({where})" if where else ""}
),
exposed_weeks as (
    select
        experiment_group,
        first_cart_week as week_seen,
        case
            when first_purchase_week is null then null
            when first_purchase_week < first_cart_week then first_cart_week
            else first_purchase_week
        end as week_converted
    from exposed
)
select
    experiment_group,
    week_seen,
    week_converted,
    cast(count(*) as {d.bigint}) as users
from exposed_weeks
group by experiment_group, week_seen, week_converted
order by experiment_group, week_seen, week_converted
"""


def segments_sql(wh: Warehouse, where: str | None = None) -> str:
    """Primary-population users and converters per segment and group. Segments use only what
    is known when a user enters the experiment: the month of entry, and whether they were
    seen before the start day (returning) or not (new)."""
    d = dialect_for(wh)
    return f"""
with exposed as (
    select
        experiment_group,
        entry_month,
        is_returning,
        case when converted then 1 else 0 end as converted
    from {wh.table("gold", TABLE)}
    where is_exposed{f" and ({where})" if where else ""}
),
segment_units as (
    select 'entry_month' as dimension, entry_month as segment, experiment_group, converted
    from exposed
    union all
    select
        'user_type' as dimension,
        case when is_returning then 'returning' else 'new' end as segment,
        experiment_group,
        converted
    from exposed
)
select
    dimension,
    segment,
    experiment_group,
    cast(count(*) as {d.bigint}) as users,
    cast(sum(converted) as {d.bigint}) as converters
from segment_units
group by dimension, segment, experiment_group
order by dimension, segment, experiment_group
"""


def zero_stats() -> GroupStats:
    empty = SampleMean(0, 0.0, 0.0)
    ratio = RatioMean(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return GroupStats(
        0,
        Paired(Proportion(0, 0), Proportion(0, 0), 0.0),
        0,
        Paired(empty, empty, 0.0),
        empty,
        ratio,
        ratio,
        Paired(empty, empty, 0.0),
        ratio,
        0,
    )


def _f(row: dict, name: str) -> float:
    value = row[name]
    return 0.0 if value is None else float(value)


def group_stats_from_row(row: dict) -> GroupStats:
    """One row of `totals_sql` as sufficient statistics."""
    n = int(row["users"])
    revenue = SampleMean(n, _f(row, "revenue_sum"), _f(row, "revenue_sum_squares"))
    sessions = SampleMean(n, _f(row, "sessions_sum"), _f(row, "sessions_sum_squares"))
    return GroupStats(
        users=n,
        conversion=Paired(
            Proportion(n, int(row["converters"])),
            Proportion(n, int(row["pre_converters"])),
            _f(row, "converted_pre_converted"),
        ),
        converters_without_injection=int(row["converters_without_injection"]),
        revenue=Paired(
            revenue,
            SampleMean(n, _f(row, "pre_revenue_sum"), _f(row, "pre_revenue_sum_squares")),
            _f(row, "revenue_pre_revenue_sum"),
        ),
        revenue_capped=SampleMean(
            n, _f(row, "capped_revenue_sum"), _f(row, "capped_revenue_sum_squares")
        ),
        revenue_per_order=RatioMean(
            n,
            revenue.sum,
            revenue.sum_squares,
            _f(row, "orders_sum"),
            _f(row, "orders_sum_squares"),
            _f(row, "revenue_orders_sum"),
        ),
        revenue_per_item=RatioMean(
            n,
            revenue.sum,
            revenue.sum_squares,
            _f(row, "items_sum"),
            _f(row, "items_sum_squares"),
            _f(row, "revenue_items_sum"),
        ),
        sessions=Paired(
            sessions,
            SampleMean(n, _f(row, "pre_sessions_sum"), _f(row, "pre_sessions_sum_squares")),
            _f(row, "sessions_pre_sessions_sum"),
        ),
        removes_per_cart=RatioMean(
            n,
            _f(row, "removes_sum"),
            _f(row, "removes_sum_squares"),
            _f(row, "carts_sum"),
            _f(row, "carts_sum_squares"),
            _f(row, "removes_carts_sum"),
        ),
        returning=int(row["returning_users"]),
    )


def _as_date(value) -> date | None:
    if value is None:
        return None
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return value


def stats_from_frames(totals: pl.DataFrame, window: pl.DataFrame) -> ExperimentStats:
    """The two queries' results as ExperimentStats; absent groups get zeros (reported, not
    raised, by the readout)."""
    groups: dict[tuple[str, str], GroupStats] = {}
    cap, cap_units = None, 0
    for row in totals.iter_rows(named=True):
        if row["experiment_group"] not in GROUPS or row["population"] not in POPULATIONS:
            continue
        groups[(row["population"], row["experiment_group"])] = group_stats_from_row(row)
        if row["revenue_cap"] is not None:
            cap = float(row["revenue_cap"])
        cap_units = max(cap_units, int(row["cap_units"] or 0))
    start = end = None
    if window.height:
        w = window.row(0, named=True)
        start, last = _as_date(w["experiment_start"]), w["last_seen_at"]
        end = None if last is None else _utc_day(last)
    return ExperimentStats(groups, start, end, cap, cap_units)


def _utc_day(instant) -> date:
    if getattr(instant, "tzinfo", None) is not None:
        return instant.astimezone(UTC).date()
    return instant.date()


@dataclass(frozen=True)
class WeeklyCounts:
    looks: tuple[tuple[Proportion, Proportion], ...]  # cumulative (control, treatment) per week


def weekly_from_frame(frame: pl.DataFrame) -> WeeklyCounts:
    """Cumulative per-week counts: users with a first cart by week w, converted by week w."""
    frame = frame.filter(pl.col("experiment_group").is_in(GROUPS))
    if frame.height == 0:
        return WeeklyCounts(())
    last_converted = frame["week_converted"].max()
    weeks = (
        max(int(frame["week_seen"].max()), -1 if last_converted is None else int(last_converted))
        + 1
    )
    cumulative: dict[str, list[Proportion]] = {}
    for group in GROUPS:
        seen = [0] * weeks
        converted = [0] * weeks
        for row in frame.filter(pl.col("experiment_group") == group).iter_rows(named=True):
            seen[int(row["week_seen"])] += int(row["users"])
            if row["week_converted"] is not None:
                converted[int(row["week_converted"])] += int(row["users"])
        n = c = 0
        cumulative[group] = []
        for week in range(weeks):
            n += seen[week]
            c += converted[week]
            cumulative[group].append(Proportion(n, c))
    control, treatment = GROUPS
    return WeeklyCounts(tuple(zip(cumulative[control], cumulative[treatment], strict=True)))


@dataclass(frozen=True)
class SegmentCounts:
    dimension: str
    segment: str
    control: Proportion | None
    treatment: Proportion | None


def segments_from_frame(frame: pl.DataFrame) -> list[SegmentCounts]:
    """One entry per segment; a group absent from a segment is None (reported, not raised)."""
    control_name, treatment_name = GROUPS
    found: dict[tuple[str, str], dict[str, Proportion]] = {}
    for row in frame.iter_rows(named=True):
        if row["experiment_group"] not in GROUPS:
            continue
        key = (row["dimension"], row["segment"])
        found.setdefault(key, {})[row["experiment_group"]] = Proportion(
            int(row["users"]), int(row["converters"])
        )
    return [
        SegmentCounts(dim, seg, groups.get(control_name), groups.get(treatment_name))
        for (dim, seg), groups in sorted(found.items())
    ]
