"""The A/B dashboard's SQL: aggregates of gold.fct_experiment_users (one row per user in the
experiment), a handful of rows each whatever the data size.

The comparisons are the readout's own queries (pipeline.abtest.queries: totals, window, weekly
looks, segments) with the filters as their `where`, so the page's verdict is `ecom abtest`'s on
the same users. Three more serve what only the dashboard shows:

  funnel      per group: users who viewed, carted and bought; sessions with a view, a cart, a
              purchase
  daily       users who reached the cart, per group and day of their first cart: users and
              converters (the daily effect, by trigger day)
  bands       the same users per price band of their first cart and group (a segment dimension)

Engine-neutral SQL except for pipeline.warehouse.dialect's expressions.
"""

from __future__ import annotations

from pipeline.abtest import queries as readout_queries
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for
from streamlit_app.data.filters import Filters, band_sql, epoch_day

TABLE = readout_queries.TABLE  # gold.fct_experiment_users, the readout's table


def _where(where: str | None, *more: str) -> str:
    parts = [p for p in (*more, f"({where})" if where else "") if p]
    return f"where {' and '.join(parts)}" if parts else ""


def funnel_sql(wh: Warehouse, where: str | None) -> str:
    d = dialect_for(wh)
    b = d.bigint
    return f"""
select
    experiment_group,
    cast(count(*) as {b}) as users,
    cast(sum(case when total_views > 0 then 1 else 0 end) as {b}) as viewers,
    cast(sum(case when is_exposed then 1 else 0 end) as {b}) as carters,
    cast(sum(case when converted then 1 else 0 end) as {b}) as buyers,
    cast(sum(total_sessions) as {b}) as sessions,
    cast(sum(viewed_sessions) as {b}) as viewed_sessions,
    cast(sum(cart_sessions) as {b}) as cart_sessions,
    cast(sum(total_orders) as {b}) as purchase_sessions
from {wh.table("gold", TABLE)}
{_where(where)}
group by experiment_group
order by experiment_group
"""


def daily_sql(wh: Warehouse, where: str | None) -> str:
    d = dialect_for(wh)
    return f"""
with exposed as (
    select
        experiment_group,
        {epoch_day(d, "first_cart_session_at")} as first_cart_day,
        case when converted then 1 else 0 end as converted
    from {wh.table("gold", TABLE)}
    {_where(where, "is_exposed")}
)
select
    experiment_group,
    first_cart_day,
    cast(count(*) as {d.bigint}) as users,
    cast(sum(converted) as {d.bigint}) as converters
from exposed
group by experiment_group, first_cart_day
order by experiment_group, first_cart_day
"""


def bands_sql(wh: Warehouse, where: str | None) -> str:
    """Price-band segments in the readout's segment shape (dimension, segment, group, users,
    converters), for users who reached the cart."""
    d = dialect_for(wh)
    return f"""
with exposed as (
    select
        experiment_group,
        {band_sql()} as price_band,
        case when converted then 1 else 0 end as converted
    from {wh.table("gold", TABLE)}
    {_where(where, "is_exposed")}
)
select
    'price_band' as dimension,
    price_band as segment,
    experiment_group,
    cast(count(*) as {d.bigint}) as users,
    cast(sum(converted) as {d.bigint}) as converters
from exposed
group by price_band, experiment_group
order by price_band, experiment_group
"""


def bounds_sql(wh: Warehouse) -> str:
    """The entry months and days the experiment covers: the filters' choices and limits."""
    d = dialect_for(wh)
    return f"""
select
    entry_month,
    min({epoch_day(d, "entered_at")}) as first_day,
    max({epoch_day(d, "entered_at")}) as last_day,
    cast(count(*) as {d.bigint}) as users,
    cast(sum(case when is_returning then 1 else 0 end) as {d.bigint}) as returning_users
from {wh.table("gold", TABLE)}
group by entry_month
order by entry_month
"""


def page_queries(wh: Warehouse, filters: Filters, winsorize_at: float | None = None) -> dict:
    """Every query behind one filter setting, by the name `build_dashboard` takes them."""
    where = filters.where(dialect_for(wh))
    return {
        "totals": readout_queries.totals_sql(wh, winsorize_at, where),
        "window": readout_queries.window_sql(wh, where),
        "weekly": readout_queries.weekly_sql(wh, where),
        "segments": readout_queries.segments_sql(wh, where),
        "bands": bands_sql(wh, where),
        "funnel": funnel_sql(wh, where),
        "daily": daily_sql(wh, where),
    }
