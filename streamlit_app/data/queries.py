"""The A/B dashboard's queries: aggregates of gold.fct_experiment_users (one row per user in
the experiment), a handful of rows each whatever the data size. The SQL is in sql/dashboard/.

The comparisons are the readout's own queries (pipeline.abtest.queries.readout_queries, for
the selected experiment) with the filters as their `where`, so the page's verdict is `ecom
abtest`'s on the same users. Three more serve what only the dashboard shows:

  funnel      per group: users, those who reached the cart, and of those who bought (each
              step a subset of the one before)
  daily       users who reached the cart, per group and day of their first cart: users, those
              who bought within FOLLOW_UP_DAYS of it, and the follow-up the day has had
  bands       the same users per price band of their first cart and group (a segment dimension)
"""

from __future__ import annotations

from pipeline.abtest import queries as readout_queries
from pipeline.experiment.config import ExperimentSpec
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for
from pipeline.warehouse.templates import render
from streamlit_app.data.filters import Filters, band_sql

TABLE = readout_queries.TABLE  # gold.fct_experiment_users, the readout's table
# The daily chart counts a purchase within this many days of a user's first cart, so every
# day's cohort is measured over the same window (later cohorts have had less time to buy).
FOLLOW_UP_DAYS = 7


def funnel_sql(wh: Warehouse, where: str | None) -> str:
    return _render("funnel", wh, where)


def daily_sql(wh: Warehouse, where: str | None) -> str:
    return _render("daily", wh, where, window_days=FOLLOW_UP_DAYS)


def bands_sql(wh: Warehouse, where: str | None) -> str:
    """Price-band segments in the readout's segment shape (dimension, segment, group, users,
    converters), for users who reached the cart."""
    return _render("price_bands", wh, where, price_band=band_sql())


def bounds_sql(wh: Warehouse, experiment: str) -> str:
    """The entry months and days the experiment covers: the filters' choices and limits."""
    return _render("bounds", wh, readout_queries.experiment_where(experiment))


def _render(name: str, wh: Warehouse, where: str | None, **params: object) -> str:
    return render(
        f"dashboard/{name}.sql",
        dialect_for(wh),
        table=wh.table("gold", TABLE),
        where=where,
        **params,
    )


def page_queries(
    wh: Warehouse,
    filters: Filters,
    spec: ExperimentSpec,
    winsorize_at: float | None = None,
) -> dict:
    """Every query behind one experiment and filter setting, by the name `build_dashboard`
    takes them."""
    where = filters.where(dialect_for(wh))
    scoped = readout_queries.experiment_where(spec.key, where)
    return {
        **readout_queries.readout_queries(
            wh, spec.key, winsorize_at, where, injected=spec.is_injected
        ),
        "bands": bands_sql(wh, scoped),
        "funnel": funnel_sql(wh, scoped),
        "daily": daily_sql(wh, scoped),
    }
