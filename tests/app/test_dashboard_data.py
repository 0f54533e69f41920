"""The dashboard's queries and numbers, without Streamlit, on a real dbt-built gold layer.

Every count is recomputed here independently, in Polars, from the gold tables read whole; the
statistics are checked against scipy on those independent counts, and the unfiltered page
against `ecom abtest`'s readout of the same warehouse.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline.abtest import ReadoutConfig, compute_readout
from pipeline.dashboard import metrics, queries
from pipeline.dashboard.filters import PRICE_BANDS, Filters
from pipeline.errors import WarehouseError
from pipeline.settings import Settings
from pipeline.warehouse import connect
from tests.app.conftest import Pipeline

FILTERED = Filters(
    start=date(2019, 10, 20),
    end=date(2020, 1, 31),
    months=("2019-11", "2019-12", "2020-01"),
    user_type="returning",
    price_bands=("2_to_5", "5_to_10", "no_cart"),
)


@pytest.fixture(scope="module")
def gold(pipeline_run: Pipeline) -> pl.DataFrame:
    """Every gold session with its user's first month, read whole (fine at this size)."""
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        sessions = con.sql("select * from gold.fact_user_sessions").pl()
        users = con.sql("select user_id, first_month from gold.dim_users").pl()
    return sessions.join(users, on="user_id", how="inner")


def band_of(mean_price: float | None) -> str:
    """The price band rule restated by hand: lower edge inclusive, upper exclusive."""
    if mean_price is None:
        return "no_cart"
    for band in PRICE_BANDS:
        if band.key == "no_cart":
            continue
        if (band.lower is None or mean_price >= band.lower) and (
            band.upper is None or mean_price < band.upper
        ):
            return band.key
    raise AssertionError(mean_price)


def select(gold: pl.DataFrame, f: Filters) -> pl.DataFrame:
    """The filtered sessions, computed in Polars from the filter's meaning."""
    frame = gold.with_columns(
        day=pl.col("session_start").dt.date(),
        user_type=pl.when(pl.col("session_month") == pl.col("first_month"))
        .then(pl.lit("new"))
        .otherwise(pl.lit("returning")),
        price_band=pl.struct("cart_value", "total_carts").map_elements(
            lambda s: band_of(s["cart_value"] / s["total_carts"] if s["total_carts"] else None),
            return_dtype=pl.String,
        ),
    )
    if f.start:
        frame = frame.filter(pl.col("day") >= f.start)
    if f.end:
        frame = frame.filter(pl.col("day") <= f.end)
    if f.months:
        frame = frame.filter(pl.col("session_month").is_in(f.months))
    if f.user_type != "all":
        frame = frame.filter(pl.col("user_type") == f.user_type)
    if f.price_bands:
        frame = frame.filter(pl.col("price_band").is_in(f.price_bands))
    return frame


def per_user(sessions: pl.DataFrame) -> pl.DataFrame:
    return sessions.group_by("user_id", "experiment_group").agg(
        revenue=pl.col("revenue").sum(),
        orders=pl.col("total_purchases").sum(),
        converted=(pl.col("total_purchases") > 0).any(),
        viewed=(pl.col("total_views") > 0).any(),
        carted=(pl.col("total_carts") > 0).any(),
    )


@pytest.fixture(scope="module")
def warehouse(pipeline_run: Pipeline):
    return connect(pipeline_run.settings)


def test_cart_value_is_the_sum_of_raw_cart_prices(pipeline_run: Pipeline) -> None:
    """gold's cart_value (which the price bands read) against silver's cart events."""
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        totals = con.execute(
            "select (select sum(cart_value) from gold.fact_user_sessions) as gold, "
            "(select sum(price) from silver.stg_events where original_event_type = 'cart') "
            "as silver, (select count(*) from gold.fact_user_sessions where total_carts = 0 "
            "and cart_value != 0) as stray"
        ).fetchone()
    assert totals[0] == pytest.approx(totals[1], rel=1e-12)
    assert totals[2] == 0


def test_unfiltered_page_is_the_readout(warehouse) -> None:
    page = metrics.load_dashboard(warehouse, Filters())
    readout = compute_readout(warehouse, ReadoutConfig())
    assert page.comparison.verdict == readout.verdict
    assert page.comparison.conversion.p_value == pytest.approx(readout.conversion.p_value)
    for group, proportion in (
        ("control", readout.conversion.control),
        ("treatment", readout.conversion.treatment),
    ):
        assert page.kpis[group].users == proportion.n
        assert page.kpis[group].converters == proportion.successes
    assert page.comparison.revenue_per_user.treatment_mean == pytest.approx(
        readout.revenue.treatment_mean
    )
    assert page.comparison.revenue_per_purchase.control_mean == pytest.approx(
        readout.order_value.control_mean
    )
    # The injected uplift is there, as the readout finds it.
    assert page.comparison.conversion.significant
    assert page.kpis["treatment"].conversion > page.kpis["control"].conversion


@pytest.mark.parametrize(
    "f",
    [
        Filters(),
        FILTERED,
        Filters(user_type="new", price_bands=("10_plus",)),
        Filters(start=date(2019, 12, 1), end=date(2019, 12, 1)),
    ],
    ids=["all", "combined", "new-10plus", "one-day"],
)
def test_kpis_and_funnel_equal_an_independent_count(warehouse, gold, f: Filters) -> None:
    page = metrics.load_dashboard(warehouse, f)
    sessions = select(gold, f)
    users = per_user(sessions)
    assert sessions.height > 0
    for group in ("control", "treatment"):
        u = users.filter(pl.col("experiment_group") == group)
        s = sessions.filter(pl.col("experiment_group") == group)
        k = page.kpis[group]
        assert k.users == u.height
        assert k.converters == u["converted"].sum()
        assert k.revenue == pytest.approx(u["revenue"].sum(), abs=1e-6)
        assert k.purchases == u["orders"].sum()
        funnel = page.funnel.filter(pl.col("experiment_group") == group)
        as_users = dict(
            funnel.filter(pl.col("unit") == "users").select("stage", "count").iter_rows()
        )
        assert as_users == {
            "viewed": u["viewed"].sum(),
            "carted": u["carted"].sum(),
            "purchased": u["converted"].sum(),
        }
        as_sessions = dict(
            funnel.filter(pl.col("unit") == "sessions").select("stage", "count").iter_rows()
        )
        assert as_sessions == {
            "viewed": (s["total_views"] > 0).sum(),
            "carted": (s["total_carts"] > 0).sum(),
            "purchased": (s["total_purchases"] > 0).sum(),
        }


def test_filtered_statistics_match_scipy_on_independent_counts(warehouse, gold) -> None:
    page = metrics.load_dashboard(warehouse, FILTERED)
    users = per_user(select(gold, FILTERED))
    c = users.filter(pl.col("experiment_group") == "control")
    t = users.filter(pl.col("experiment_group") == "treatment")
    table = [
        [c["converted"].sum(), c.height - c["converted"].sum()],
        [t["converted"].sum(), t.height - t["converted"].sum()],
    ]
    _, p_yates, _, _ = stats.chi2_contingency(table, correction=True)
    assert page.comparison.conversion.p_value == pytest.approx(p_yates, rel=1e-9)
    welch = stats.ttest_ind(t["revenue"].to_numpy(), c["revenue"].to_numpy(), equal_var=False)
    assert page.comparison.revenue_per_user.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    srm = stats.chisquare([c.height, t.height])
    assert page.comparison.srm.p_value == pytest.approx(srm.pvalue, rel=1e-9)
    aov = t["revenue"].sum() / t["orders"].sum()
    assert page.kpis["treatment"].revenue_per_purchase == pytest.approx(aov)


def test_cumulative_lift_ends_at_the_total_and_the_band_is_wider(warehouse, gold) -> None:
    page = metrics.load_dashboard(warehouse, FILTERED)
    sessions = select(gold, FILTERED)
    firsts = sessions.group_by("user_id", "experiment_group").agg(
        first=pl.col("day").min(),
        bought=pl.col("first_purchase_at").min().dt.date(),
    )
    cumulative = page.cumulative
    assert cumulative["day"].to_list() == sorted(cumulative["day"].to_list())
    # Day by day: users first seen by that day, converted by that day (independent count).
    some_day = cumulative["day"][len(cumulative) // 2]
    seen = firsts.filter(pl.col("first") <= some_day)
    row = cumulative.filter(pl.col("day") == some_day).row(0, named=True)
    for group in ("control", "treatment"):
        g = seen.filter(pl.col("experiment_group") == group)
        assert row[f"{group}_users"] == g.height
        bought = firsts.filter(
            (pl.col("experiment_group") == group) & (pl.col("bought") <= some_day)
        )
        assert row[f"{group}_converters"] == bought.height
    last = cumulative.row(-1, named=True)
    assert last["control_users"] == page.kpis["control"].users
    assert last["treatment_converters"] == page.kpis["treatment"].converters
    assert last["lift"] == pytest.approx(
        page.kpis["treatment"].conversion - page.kpis["control"].conversion
    )
    ok = cumulative.drop_nulls("lift")
    assert (
        (ok["sequential_upper"] - ok["sequential_lower"]) > (ok["fixed_upper"] - ok["fixed_lower"])
    ).all()


def test_daily_effect_counts_each_days_active_users(warehouse, gold) -> None:
    page = metrics.load_dashboard(warehouse, FILTERED)
    daily = (
        select(gold, FILTERED)
        .group_by("day", "experiment_group", "user_id")
        .agg(bought=(pl.col("total_purchases") > 0).any())
        .group_by("day", "experiment_group")
        .agg(users=pl.len(), converters=pl.col("bought").sum())
    )
    for row in page.daily.sample(5, seed=1).iter_rows(named=True):
        for group in ("control", "treatment"):
            expected = daily.filter(
                (pl.col("day") == row["day"]) & (pl.col("experiment_group") == group)
            )
            users = expected["users"].sum() if expected.height else 0
            assert row[f"{group}_users"] == users
            assert row[f"{group}_converters"] == (expected["converters"].sum() if users else 0)


def test_segments_count_each_user_once_per_segment(warehouse, gold) -> None:
    page = metrics.load_dashboard(warehouse, Filters(months=("2019-12", "2020-01")))
    sessions = select(gold, Filters(months=("2019-12", "2020-01")))
    for dimension, column in (
        ("month", "session_month"),
        ("user_type", "user_type"),
        ("price_band", "price_band"),
    ):
        expected = (
            sessions.group_by(column, "experiment_group", "user_id")
            .agg(bought=(pl.col("total_purchases") > 0).any())
            .group_by(column, "experiment_group")
            .agg(users=pl.len(), converters=pl.col("bought").sum())
        )
        shown = page.segments.filter(pl.col("dimension") == dimension)
        assert set(shown["segment"]) == set(expected[column])
        for row in shown.iter_rows(named=True):
            c = expected.filter(
                (pl.col(column) == row["segment"]) & (pl.col("experiment_group") == "control")
            )
            assert row["control_users"] == c["users"].item()
            assert row["control_conversion"] == pytest.approx(
                c["converters"].item() / c["users"].item()
            )
    # Holm across every testable segment: adjusted p >= raw p, and ordered the same way.
    tested = page.segments.drop_nulls("p_value")
    assert (tested["adjusted_p"] >= tested["p_value"] - 1e-15).all()
    order = np.argsort(tested["p_value"].to_numpy())
    assert (np.diff(tested["adjusted_p"].to_numpy()[order]) >= -1e-15).all()


def test_bounds_are_the_data_window(warehouse, gold) -> None:
    bounds = metrics.bounds_from_frame(warehouse.query(queries.bounds_sql(warehouse)))
    assert bounds.months == tuple(sorted(gold["session_month"].unique()))
    assert bounds.first_day == gold["session_start"].min().date()
    assert bounds.last_day == gold["session_start"].max().date()
    assert bounds.sessions == gold.height


def test_a_filter_that_matches_nothing_gives_an_empty_page(warehouse) -> None:
    nothing = Filters(start=date(2019, 10, 2), end=date(2019, 10, 2), months=("2020-02",))
    page = metrics.load_dashboard(warehouse, nothing)
    assert page.is_empty
    assert page.comparison.conversion.message == "empty_group"
    assert page.comparison.verdict.startswith("No verdict")
    assert page.cumulative.height == 0 and page.daily.height == 0 and page.segments.height == 0


def test_filters_refuse_what_would_make_bad_sql() -> None:
    with pytest.raises(ValueError, match="YYYY-MM"):
        Filters(months=("2019-11'; drop table x; --",))
    with pytest.raises(ValueError, match="unknown price band"):
        Filters(price_bands=("cheap",))
    with pytest.raises(ValueError, match="starts after it ends"):
        Filters(start=date(2020, 1, 2), end=date(2020, 1, 1))
    with pytest.raises(ValueError, match="user type"):
        Filters(user_type="loyal")  # type: ignore[arg-type]
    # Canonical: order and duplicates do not matter; every band is no band filter.
    assert Filters(months=("2019-12", "2019-11", "2019-12")) == Filters(
        months=("2019-11", "2019-12")
    )
    assert Filters(price_bands=tuple(b.key for b in PRICE_BANDS)) == Filters()
    assert Filters(start=date(2019, 10, 1) + timedelta(days=1)).describe().startswith("2019-10-02")


def test_missing_gold_says_which_command_to_run(settings: Settings) -> None:
    wh = connect(settings)
    with pytest.raises(WarehouseError, match=r"Run `ecom ingest`"):
        metrics.load_dashboard(wh, Filters())
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema gold")
    with pytest.raises(WarehouseError, match=r"gold\.\w+ does not exist.*ecom warehouse"):
        metrics.load_dashboard(wh, Filters())


def test_empty_gold_tables_give_an_empty_page(settings: Settings, pipeline_run: Pipeline) -> None:
    """Tables with the contract's columns and no rows: zeros and messages, no exception."""
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"attach '{pipeline_run.settings.warehouse_path}' as built (read_only)")
        con.execute("create schema gold")
        for table in ("fact_user_sessions", "dim_users"):
            con.execute(f"create table gold.{table} as select * from built.gold.{table} limit 0")
    wh = connect(settings)
    assert metrics.bounds_from_frame(wh.query(queries.bounds_sql(wh))).is_empty
    page = metrics.load_dashboard(wh, Filters())
    assert page.is_empty
    assert page.kpi_frame()["users"].to_list() == [0, 0]
    assert page.comparison.srm.message == "empty_group"
