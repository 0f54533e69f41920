"""The readout's SQL: each query returns per-group sufficient statistics from the gold layer.

The warehouse does the scanning and the sums; Python receives a few dozen rows whatever the
data size. SQL is engine-neutral except for the expressions of pipeline.warehouse.dialect (epoch
microseconds, the type names, a percentile).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipeline.experiment import GROUPS
from pipeline.stats.sufficient import Proportion, RatioMean, SampleMean
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for

MICROSECONDS_PER_DAY = 86_400_000_000
MICROSECONDS_PER_WEEK = 7 * MICROSECONDS_PER_DAY


@dataclass(frozen=True)
class GroupTotals:
    """Everything the whole-experiment comparisons need for one group."""

    conversion: Proportion
    conversion_without_injection: Proportion
    revenue: SampleMean
    revenue_winsorized: SampleMean
    order_value: RatioMean
    revenue_cap: float | None


def group_totals_sql(wh: Warehouse, winsorize_at: float | None) -> str:
    """Users, converters (with and without the injected purchases), revenue and order sums.

    Winsorization caps per-user revenue at the `winsorize_at` percentile of both groups
    pooled (upper tail only: revenue's long tail is on the right).
    """
    d = dialect_for(wh)
    if winsorize_at is None:
        cap_cte = ""
        capped = f"""select users.*, revenue as capped_revenue, cast(null as {d.double}) as revenue_cap
    from users"""
    else:
        cap_cte = f"""
revenue_cap as (
    {d.percentile("revenue", winsorize_at, "users", alias="cap")}
),
"""
        capped = """select users.*, least(revenue, revenue_cap.cap) as capped_revenue,
        revenue_cap.cap as revenue_cap
    from users
    cross join revenue_cap"""
    return f"""
with users as (
    select
        experiment_group,
        converted,
        converted_without_injection,
        cast(coalesce(lifetime_value, 0) as {d.double}) as revenue,
        cast(coalesce(total_purchases, 0) as {d.double}) as orders
    from {wh.table("gold", "dim_users")}
),
{cap_cte}
users_capped as (
    {capped}
)
select
    experiment_group,
    cast(count(*) as {d.bigint}) as users,
    cast(sum(case when converted then 1 else 0 end) as {d.bigint}) as converters,
    cast(sum(case when converted_without_injection then 1 else 0 end) as {d.bigint})
        as converters_without_injection,
    sum(revenue) as revenue_sum,
    sum(revenue * revenue) as revenue_sum_squares,
    sum(capped_revenue) as capped_revenue_sum,
    sum(capped_revenue * capped_revenue) as capped_revenue_sum_squares,
    sum(orders) as orders_sum,
    sum(orders * orders) as orders_sum_squares,
    sum(revenue * orders) as revenue_orders_sum,
    max(revenue_cap) as revenue_cap
from users_capped
group by experiment_group
order by experiment_group
"""


def weekly_sql(wh: Warehouse) -> str:
    """Users by (group, week first seen, week converted), weeks counted from the UTC day of
    the first user's arrival. A user counts at look w if first seen by the end of week w and
    as converted if first_purchase_at is by the end of week w (week_converted <= w).
    `ended_us` is the data's last event (latest last_seen_at): the last look ends there, not
    at the end of its (usually partial) week."""
    d = dialect_for(wh)
    seen = d.epoch_us("first_seen_at")
    purchased = d.epoch_us("first_purchase_at")
    last_seen = d.epoch_us("last_seen_at")
    return f"""
with users as (
    select
        experiment_group,
        {seen} as seen_us,
        {purchased} as purchased_us,
        {last_seen} as last_seen_us
    from {wh.table("gold", "dim_users")}
),
experiment_start as (
    select
        floor(min(seen_us) / {MICROSECONDS_PER_DAY}.0) * {MICROSECONDS_PER_DAY} as started_us,
        coalesce(max(last_seen_us), max(purchased_us), max(seen_us)) as ended_us
    from users
),
user_weeks as (
    select
        users.experiment_group,
        experiment_start.started_us,
        experiment_start.ended_us,
        cast(floor((users.seen_us - experiment_start.started_us) / {MICROSECONDS_PER_WEEK}.0)
            as {d.bigint}) as week_seen,
        cast(floor((users.purchased_us - experiment_start.started_us) / {MICROSECONDS_PER_WEEK}.0)
            as {d.bigint}) as week_converted
    from users
    cross join experiment_start
)
select
    experiment_group,
    cast(started_us as {d.bigint}) as started_us,
    cast(ended_us as {d.bigint}) as ended_us,
    week_seen,
    week_converted,
    cast(count(*) as {d.bigint}) as users
from user_weeks
group by experiment_group, started_us, ended_us, week_seen, week_converted
order by experiment_group, week_seen, week_converted
"""


def segments_sql(wh: Warehouse) -> str:
    """Users and converters per segment and group, one unit per user in each segment.

    month: users active in the month, converted = a purchase in that month.
    user_type 'new': every user in their first month, converted = a purchase that month.
    user_type 'returning': users active after their first month, converted = a purchase then.
    """
    d = dialect_for(wh)
    return f"""
with sessions as (
    select user_id, experiment_group, session_month, total_purchases
    from {wh.table("gold", "fact_user_sessions")}
),
users as (
    select user_id, first_month
    from {wh.table("gold", "dim_users")}
),
user_months as (
    select
        user_id,
        experiment_group,
        session_month,
        max(case when total_purchases > 0 then 1 else 0 end) as converted
    from sessions
    group by user_id, experiment_group, session_month
),
user_months_typed as (
    select
        user_months.user_id,
        user_months.experiment_group,
        user_months.session_month,
        user_months.converted,
        user_months.session_month = users.first_month as is_first_month
    from user_months
    inner join users on user_months.user_id = users.user_id
),
returning_users as (
    select user_id, experiment_group, max(converted) as converted
    from user_months_typed
    where not is_first_month
    group by user_id, experiment_group
),
by_month as (
    select 'month' as dimension, session_month as segment, experiment_group, converted
    from user_months_typed
),
by_user_type as (
    select 'user_type' as dimension, 'new' as segment, experiment_group, converted
    from user_months_typed
    where is_first_month
    union all
    select 'user_type' as dimension, 'returning' as segment, experiment_group, converted
    from returning_users
),
segment_units as (
    select * from by_month
    union all
    select * from by_user_type
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


def _zero_totals() -> GroupTotals:
    return GroupTotals(
        Proportion(0, 0),
        Proportion(0, 0),
        SampleMean(0, 0.0, 0.0),
        SampleMean(0, 0.0, 0.0),
        RatioMean(0, 0.0, 0.0, 0.0, 0.0, 0.0),
        None,
    )


def totals_from_frame(frame: pl.DataFrame) -> dict[str, GroupTotals]:
    """One GroupTotals per design group; a group with no rows gets zeros (reported, not
    raised, by the readout)."""
    totals = {group: _zero_totals() for group in GROUPS}
    for row in frame.iter_rows(named=True):
        if row["experiment_group"] not in totals:
            continue
        n = int(row["users"])
        cap = row["revenue_cap"]
        totals[row["experiment_group"]] = GroupTotals(
            Proportion(n, int(row["converters"])),
            Proportion(n, int(row["converters_without_injection"])),
            SampleMean(n, float(row["revenue_sum"]), float(row["revenue_sum_squares"])),
            SampleMean(
                n, float(row["capped_revenue_sum"]), float(row["capped_revenue_sum_squares"])
            ),
            RatioMean(
                n,
                float(row["revenue_sum"]),
                float(row["revenue_sum_squares"]),
                float(row["orders_sum"]),
                float(row["orders_sum_squares"]),
                float(row["revenue_orders_sum"]),
            ),
            None if cap is None else float(cap),
        )
    return totals


@dataclass(frozen=True)
class WeeklyCounts:
    started_us: int | None
    looks: tuple[tuple[Proportion, Proportion], ...]  # cumulative (control, treatment) per week
    ended_us: int | None = None  # the data's last event; the last look ends there


def weekly_from_frame(frame: pl.DataFrame) -> WeeklyCounts:
    """Cumulative per-week counts: users first seen by week w, converted by week w."""
    frame = frame.filter(pl.col("experiment_group").is_in(GROUPS))
    if frame.height == 0:
        return WeeklyCounts(None, ())
    # Looks run to the last event either kind: the final look holds every user and converter.
    last_converted = frame["week_converted"].max()
    weeks = (
        max(int(frame["week_seen"].max()), -1 if last_converted is None else int(last_converted))
        + 1
    )
    started_us = int(frame["started_us"][0])
    ended = frame["ended_us"][0] if "ended_us" in frame.columns else None
    cumulative: dict[str, list[Proportion]] = {}
    for group in GROUPS:
        rows = frame.filter(pl.col("experiment_group") == group)
        seen = [0] * weeks
        converted = [0] * weeks
        for row in rows.iter_rows(named=True):
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
    return WeeklyCounts(
        started_us,
        tuple(zip(cumulative[control], cumulative[treatment], strict=True)),
        None if ended is None else int(ended),
    )


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
