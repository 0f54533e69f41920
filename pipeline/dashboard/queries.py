"""The A/B dashboard's SQL: a handful of aggregates over the gold layer per filter setting.

Three queries serve the whole page, each returning at most a few thousand rows whatever the
data size (never a row per user or per event):

  user_cells   users per (group, first day seen, day converted), with the sums of revenue,
               orders and their squares and the funnel flags: KPIs, the verdict, the users'
               funnel and the cumulative lift are all sums over these cells
  daily        per (group, day): active users, converters that day, and the sessions' funnel
  segments     users and converters per (dimension, segment, group), one unit per user and
               segment, for month, new vs returning and price band

Engine-neutral SQL except for pipeline.warehouse.dialect's expressions, so the same page runs
on DuckDB and BigQuery. Filter values are checked by `Filters` before they reach the text.
"""

from __future__ import annotations

from pipeline.dashboard.filters import Filters, band_sql
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import Dialect, dialect_for

MICROSECONDS_PER_DAY = 86_400_000_000


def epoch_day(d: Dialect, timestamp: str) -> str:
    """Whole UTC days since 1970-01-01 of a timestamp (null stays null), as a 64-bit integer."""
    return d.cast_bigint(f"floor({d.epoch_us(timestamp)} / {MICROSECONDS_PER_DAY}.0)")


def _needs_user_type(filters: Filters) -> bool:
    return filters.user_type != "all"


def _conditions(filters: Filters) -> list[str]:
    from datetime import date

    epoch = date(1970, 1, 1)
    where = []
    if filters.start is not None:
        where.append(f"session_day >= {(filters.start - epoch).days}")
    if filters.end is not None:
        where.append(f"session_day <= {(filters.end - epoch).days}")
    if filters.months:
        where.append("session_month in (" + ", ".join(f"'{m}'" for m in filters.months) + ")")
    if filters.user_type != "all":
        where.append(f"user_type = '{filters.user_type}'")
    if filters.price_bands:
        where.append("price_band in (" + ", ".join(f"'{b}'" for b in filters.price_bands) + ")")
    return where


def filtered_sessions_ctes(wh: Warehouse, filters: Filters, *, with_user_type: bool) -> str:
    """`sessions` (the gold sessions with the filters' derived columns) and `filtered_sessions`.

    The join to dim_users (for new vs returning) is made only when something reads it: on the
    full data it is the most expensive step of a query.
    """
    d = dialect_for(wh)
    join_users = with_user_type or _needs_user_type(filters)
    user_type = (
        "case when sessions.session_month = users.first_month then 'new' else 'returning' end"
        if join_users
        else "'all'"
    )
    join = (
        f"\n    inner join {wh.table('gold', 'dim_users')} as users"
        "\n        on sessions.user_id = users.user_id"
        if join_users
        else ""
    )
    where = _conditions(filters)
    return f"""sessions as (
    select
        sessions.user_id,
        sessions.experiment_group,
        sessions.session_month,
        {epoch_day(d, "sessions.session_start")} as session_day,
        {epoch_day(d, "sessions.first_purchase_at")} as purchase_day,
        sessions.total_views,
        sessions.total_carts,
        sessions.total_purchases,
        {d.cast_double("sessions.revenue")} as revenue,
        {user_type} as user_type,
        {band_sql("sessions.cart_value", "sessions.total_carts")} as price_band
    from {wh.table("gold", "fact_user_sessions")} as sessions{join}
),
filtered_sessions as (
    select * from sessions{" where " + " and ".join(where) if where else ""}
)"""


def user_cells_sql(wh: Warehouse, filters: Filters) -> str:
    """Users per (group, first day in the filtered sessions, first day with a purchase).

    A user converts when any of their filtered sessions has a purchase; revenue and orders are
    summed over those sessions, so per-group totals, sums of squares and the cross sum (for
    the ratio metric's delta method) add up across cells.
    """
    d = dialect_for(wh)
    return f"""
with {filtered_sessions_ctes(wh, filters, with_user_type=False)},
users as (
    select
        user_id,
        experiment_group,
        min(session_day) as first_day,
        min(purchase_day) as converted_day,
        sum(revenue) as revenue,
        {d.cast_double("sum(total_purchases)")} as orders,
        max(case when total_views > 0 then 1 else 0 end) as viewed,
        max(case when total_carts > 0 then 1 else 0 end) as carted,
        max(case when total_purchases > 0 then 1 else 0 end) as purchased
    from filtered_sessions
    group by user_id, experiment_group
)
select
    experiment_group,
    first_day,
    converted_day,
    {d.cast_bigint("count(*)")} as users,
    {d.cast_bigint("sum(viewed)")} as viewers,
    {d.cast_bigint("sum(carted)")} as carters,
    {d.cast_bigint("sum(purchased)")} as converters,
    sum(revenue) as revenue_sum,
    sum(revenue * revenue) as revenue_sum_squares,
    sum(orders) as orders_sum,
    sum(orders * orders) as orders_sum_squares,
    sum(revenue * orders) as revenue_orders_sum
from users
group by experiment_group, first_day, converted_day
order by experiment_group, first_day, converted_day
"""


def daily_sql(wh: Warehouse, filters: Filters) -> str:
    """Per (group, day): users with a filtered session that day, those who bought that day,
    and the day's sessions with a view, a cart and a purchase."""
    d = dialect_for(wh)
    return f"""
with {filtered_sessions_ctes(wh, filters, with_user_type=False)},
user_days as (
    select
        user_id,
        experiment_group,
        session_day,
        max(case when total_purchases > 0 then 1 else 0 end) as converted,
        count(*) as sessions,
        sum(case when total_views > 0 then 1 else 0 end) as sessions_viewed,
        sum(case when total_carts > 0 then 1 else 0 end) as sessions_carted,
        sum(case when total_purchases > 0 then 1 else 0 end) as sessions_purchased,
        sum(revenue) as revenue
    from filtered_sessions
    group by user_id, experiment_group, session_day
)
select
    experiment_group,
    session_day,
    {d.cast_bigint("count(*)")} as users,
    {d.cast_bigint("sum(converted)")} as converters,
    {d.cast_bigint("sum(sessions)")} as sessions,
    {d.cast_bigint("sum(sessions_viewed)")} as sessions_viewed,
    {d.cast_bigint("sum(sessions_carted)")} as sessions_carted,
    {d.cast_bigint("sum(sessions_purchased)")} as sessions_purchased,
    sum(revenue) as revenue
from user_days
group by experiment_group, session_day
order by experiment_group, session_day
"""


def segments_sql(wh: Warehouse, filters: Filters) -> str:
    """Users and converters per segment and group within the filters: a user counts once in
    each month, user type and price band they had a filtered session in, and converts there
    when one of those sessions has a purchase."""
    d = dialect_for(wh)
    units = []
    for dimension in ("session_month", "user_type", "price_band"):
        units.append(
            f"""    select
        '{dimension.removeprefix("session_")}' as dimension,
        {dimension} as segment,
        experiment_group,
        max(case when total_purchases > 0 then 1 else 0 end) as converted
    from filtered_sessions
    group by user_id, experiment_group, {dimension}"""
        )
    union = "\n    union all\n".join(units)
    return f"""
with {filtered_sessions_ctes(wh, filters, with_user_type=True)},
segment_units as (
{union}
)
select
    dimension,
    segment,
    experiment_group,
    {d.cast_bigint("count(*)")} as users,
    {d.cast_bigint("sum(converted)")} as converters
from segment_units
group by dimension, segment, experiment_group
order by dimension, segment, experiment_group
"""


def bounds_sql(wh: Warehouse) -> str:
    """The months and UTC days the sessions cover: the filters' choices and limits."""
    d = dialect_for(wh)
    return f"""
select
    session_month,
    min({epoch_day(d, "session_start")}) as first_day,
    max({epoch_day(d, "session_start")}) as last_day,
    {d.cast_bigint("count(*)")} as sessions
from {wh.table("gold", "fact_user_sessions")}
group by session_month
order by session_month
"""


def page_queries(wh: Warehouse, filters: Filters) -> dict[str, str]:
    """The three queries behind one filter setting, by the name `build_dashboard` takes them."""
    return {
        "cells": user_cells_sql(wh, filters),
        "daily": daily_sql(wh, filters),
        "segments": segments_sql(wh, filters),
    }
