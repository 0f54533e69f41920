"""The dashboard's queries and numbers, without Streamlit, on a real dbt-built gold layer.

Every count is recomputed here independently, in Polars, from the gold tables read whole; the
filtered statistics are checked against scipy on those independent counts, and the page
against `ecom abtest`'s readout of the same users.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline.abtest import ReadoutConfig, compute_readout
from pipeline.errors import WarehouseError
from pipeline.settings import Settings
from pipeline.warehouse import connect
from pipeline.warehouse.dialect import dialect_for
from streamlit_app.data import metrics, queries
from streamlit_app.data.experiments import Selected, selected
from streamlit_app.data.filters import PRICE_BANDS, Filters
from tests.app.conftest import EXPERIMENT_START, Pipeline

FILTERED = Filters(
    start=date(2019, 11, 5),
    end=date(2020, 2, 10),
    months=("2019-11", "2019-12", "2020-01", "2020-02"),
    user_type="returning",
    price_bands=("2_to_5", "5_to_10", "no_cart"),
)
CASES = [
    Filters(),
    FILTERED,
    Filters(user_type="new", price_bands=("10_plus", "under_2")),
    Filters(start=date(2019, 12, 1), end=date(2019, 12, 1)),
]
CASE_IDS = ["all", "combined", "new-cheap-or-dear", "one-day"]


def read(pipeline_run: Pipeline, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.sql(sql).pl()


@pytest.fixture(scope="module")
def users(pipeline_run: Pipeline) -> pl.DataFrame:
    """gold.fct_experiment_users read whole (fine at this size): the checkout's rows."""
    return read(
        pipeline_run, "select * from gold.fct_experiment_users where experiment_key = 'checkout'"
    )


@pytest.fixture(scope="module")
def warehouse(pipeline_run: Pipeline):
    return connect(pipeline_run.settings)


@pytest.fixture(scope="module")
def experiment(pipeline_run: Pipeline) -> Selected:
    chosen = selected(pipeline_run.settings, "checkout")
    assert chosen.settings_source == "manifests" and not chosen.warnings
    assert chosen.recorded.start == EXPERIMENT_START
    return chosen


def page(warehouse, experiment, f: Filters) -> metrics.Dashboard:
    return metrics.load_dashboard(warehouse, f, ReadoutConfig(), experiment)


def readout_of(warehouse, experiment: Selected, where: str | None = None):
    """`ecom abtest`'s readout of the experiment (on the users `where` selects)."""
    return compute_readout(
        warehouse,
        ReadoutConfig(),
        experiment.spec,
        experiment.recorded,
        where=where,
        settings_source=experiment.settings_source,
        warnings=experiment.warnings,
    )


def band_of(mean_price: float | None) -> str:
    """The price band rule restated by hand: lower edge inclusive, upper exclusive."""
    if mean_price is None:
        return "no_cart"
    for band in PRICE_BANDS:
        if (
            band.key != "no_cart"
            and (band.lower is None or mean_price >= band.lower)
            and (band.upper is None or mean_price < band.upper)
        ):
            return band.key
    raise AssertionError(mean_price)


def select(users: pl.DataFrame, f: Filters) -> pl.DataFrame:
    """The filtered users, computed in Polars from the filters' meaning."""
    frame = users.with_columns(
        entry_day=pl.col("entered_at").dt.date(),
        price_band=pl.struct("first_cart_value", "first_cart_items").map_elements(
            lambda s: band_of(
                s["first_cart_value"] / s["first_cart_items"] if s["first_cart_items"] else None
            ),
            return_dtype=pl.String,
        ),
    )
    if f.start:
        frame = frame.filter(pl.col("entry_day") >= f.start)
    if f.end:
        frame = frame.filter(pl.col("entry_day") <= f.end)
    if f.months:
        frame = frame.filter(pl.col("entry_month").is_in(f.months))
    if f.user_type != "all":
        frame = frame.filter(pl.col("is_returning") == (f.user_type == "returning"))
    if f.price_bands:
        frame = frame.filter(pl.col("price_band").is_in(f.price_bands))
    return frame


def test_the_dashboards_user_columns_equal_the_sessions(pipeline_run: Pipeline, users) -> None:
    """fct_experiment_users' funnel and first-cart columns, recomputed from the sessions."""
    sessions = read(pipeline_run, "select * from gold.fact_user_sessions").filter(
        pl.col("session_end").dt.date() >= EXPERIMENT_START
    )
    expected = (
        sessions.sort("session_start")
        .group_by("user_id")
        .agg(
            total_views=pl.col("total_views").sum(),
            viewed_sessions=(pl.col("total_views") > 0).sum(),
            cart_sessions=(pl.col("total_carts") > 0).sum(),
            first_cart_value=pl.col("cart_value").filter(pl.col("total_carts") > 0).first(),
            first_cart_items=pl.col("total_carts").filter(pl.col("total_carts") > 0).first(),
        )
    )
    columns = ["total_views", "viewed_sessions", "cart_sessions", "first_cart_value",
               "first_cart_items"]  # fmt: skip
    joined = users.select("user_id", *columns).join(expected, on="user_id", suffix="_expected")
    assert joined.height == users.height == expected.height
    for column in columns:
        got, want = joined[column], joined[f"{column}_expected"].cast(joined[column].dtype)
        assert (got.is_null() == want.is_null()).all(), column
        assert ((got - want).abs().fill_null(0) < 1e-9).all(), column
    # gold's cart_value (which the first cart's band reads) against silver's cart events.
    totals = read(
        pipeline_run,
        "select (select sum(cart_value) from gold.fact_user_sessions) as gold, "
        "(select sum(price) from silver.stg_events where original_event_type = 'cart') as silver",
    )
    assert totals["gold"][0] == pytest.approx(totals["silver"][0], rel=1e-12)


def test_unfiltered_page_is_the_readout(warehouse, experiment) -> None:
    p = page(warehouse, experiment, Filters())
    readout = readout_of(warehouse, experiment)
    assert p.readout.verdict == readout.verdict
    assert p.readout.decision == readout.decision
    assert p.readout.primary.conversion.p_value == readout.primary.conversion.p_value
    for group, proportion in (
        ("control", readout.primary.conversion.control),
        ("treatment", readout.primary.conversion.treatment),
    ):
        assert p.kpis[group].exposed == proportion.n
        assert p.kpis[group].converters == proportion.successes
    assert p.readout.revenue.treatment_mean == pytest.approx(readout.revenue.treatment_mean)
    # The injected uplift is found, as the readout finds it.
    assert p.readout.primary.conversion.significant
    assert p.kpis["treatment"].conversion > p.kpis["control"].conversion


def test_a_filtered_page_is_the_readout_of_those_users(warehouse, experiment) -> None:
    p = page(warehouse, experiment, FILTERED)
    readout = readout_of(warehouse, experiment, FILTERED.where(dialect_for(warehouse)))
    assert p.readout.verdict == readout.verdict
    assert p.readout.primary.conversion.p_value == readout.primary.conversion.p_value
    raw = {(s.dimension, s.segment): s.result.p_value for s in readout.segments if s.result}
    shown = {
        (r["dimension"], r["segment"]): r["p_value"]
        for r in p.segments.iter_rows(named=True)
        if r["dimension"] != "price_band"
    }
    assert shown == raw


@pytest.mark.parametrize("f", CASES, ids=CASE_IDS)
def test_kpis_and_funnel_equal_an_independent_count(warehouse, experiment, users, f) -> None:
    p = page(warehouse, experiment, f)
    chosen = select(users, f)
    assert chosen.height > 0
    for group in ("control", "treatment"):
        u = chosen.filter(pl.col("experiment_group") == group)
        exposed = u.filter(pl.col("is_exposed"))
        k = p.kpis[group]
        assert (k.users, k.exposed, k.converters) == (
            u.height,
            exposed.height,
            exposed["converted"].sum(),
        )
        assert k.revenue == pytest.approx(u["revenue"].sum(), abs=1e-6)
        assert k.orders == u["total_orders"].sum()
        funnel = p.funnel.filter(pl.col("experiment_group") == group)
        counts = dict(zip(funnel["stage"], funnel["count"], strict=True))
        assert counts == {
            "users": u.height,
            "reached_cart": exposed.height,
            "bought": exposed["converted"].sum(),
        }
        # A funnel: every step within the one before, the last share the Conversion tile.
        assert funnel["count"].to_list() == sorted(funnel["count"].to_list(), reverse=True)
        shares = funnel["share_of_previous"].to_list()
        assert shares[1] == pytest.approx(exposed.height / u.height)
        assert shares[2] == pytest.approx(k.conversion)


def test_filtered_statistics_match_scipy_on_independent_counts(warehouse, experiment, users):
    p = page(warehouse, experiment, FILTERED)
    chosen = select(users, FILTERED)
    c = chosen.filter((pl.col("experiment_group") == "control") & pl.col("is_exposed"))
    t = chosen.filter((pl.col("experiment_group") == "treatment") & pl.col("is_exposed"))
    pc, pt = c["converted"].mean(), t["converted"].mean()
    se = math.sqrt(pc * (1 - pc) / c.height + pt * (1 - pt) / t.height)
    wald_p = 2 * stats.norm.sf(abs(pt - pc) / se)  # the primary test: unpooled Wald z
    assert p.readout.primary.conversion.p_value == pytest.approx(wald_p, rel=1e-9)
    everyone = chosen.partition_by("experiment_group", as_dict=True)
    rev_c = everyone[("control",)]["revenue"].to_numpy()
    rev_t = everyone[("treatment",)]["revenue"].to_numpy()
    welch = stats.ttest_ind(rev_t, rev_c, equal_var=False)
    assert p.readout.revenue.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    srm = stats.chisquare([c.height, t.height])
    assert p.readout.primary.srm.p_value == pytest.approx(srm.pvalue, rel=1e-9)
    treated = everyone[("treatment",)]
    assert p.kpis["treatment"].revenue_per_purchase == pytest.approx(
        treated["revenue"].sum() / treated["total_orders"].sum()
    )


def test_weekly_looks_end_at_the_totals_and_the_band_is_wider(warehouse, experiment) -> None:
    p = page(warehouse, experiment, FILTERED)
    looks = p.cumulative
    assert looks["week"].to_list() == list(range(1, looks.height + 1))
    last = looks.row(-1, named=True)
    assert last["control_users"] == p.kpis["control"].exposed
    assert last["treatment_converters"] == p.kpis["treatment"].converters
    assert last["lift"] == pytest.approx(
        p.kpis["treatment"].conversion - p.kpis["control"].conversion
    )
    assert last["week_end"] <= date(2020, 2, 29)
    ok = looks.drop_nulls("lift")
    widths = ok["sequential_upper"] - ok["sequential_lower"]
    assert (widths > ok["fixed_upper"] - ok["fixed_lower"]).all()


def test_daily_effect_counts_a_fixed_window_after_each_first_cart(
    warehouse, experiment, users
) -> None:
    """Each day's cohort: bought within FOLLOW_UP_DAYS of the first cart; days without that
    much follow-up before the data's last event are left out."""
    p = page(warehouse, experiment, FILTERED)
    window = timedelta(days=queries.FOLLOW_UP_DAYS)
    data_end = users["last_seen_at"].max()
    exposed = select(users, FILTERED).filter(pl.col("is_exposed"))
    daily = (
        exposed.with_columns(
            day=pl.col("first_cart_session_at").dt.date(),
            in_window=pl.col("first_purchase_at").is_not_null()
            & (pl.col("first_purchase_at") - pl.col("first_cart_session_at") < window),
        )
        .group_by("day", "experiment_group")
        .agg(
            users=pl.len(),
            converters=pl.col("in_window").sum(),
            latest=pl.col("first_cart_session_at").max(),
        )
    )
    complete = (
        daily.group_by("day")
        .agg(pl.col("latest").max())
        .filter(data_end - pl.col("latest") >= window)
    )
    assert p.daily["day"].to_list() == sorted(complete["day"].to_list())
    assert p.daily["day"].max() <= (data_end - window).date()
    assert (p.daily["follow_up_days"] >= queries.FOLLOW_UP_DAYS).all()
    for row in p.daily.sample(8, seed=1).iter_rows(named=True):
        for group in ("control", "treatment"):
            want = daily.filter(
                (pl.col("day") == row["day"]) & (pl.col("experiment_group") == group)
            )
            assert row[f"{group}_users"] == (want["users"].item() if want.height else 0)
            assert row[f"{group}_converters"] == (want["converters"].item() if want.height else 0)


def test_segments_count_each_user_once_and_adjust_as_the_readout(
    warehouse, experiment, users
) -> None:
    f = Filters(months=("2019-12", "2020-01"))
    p = page(warehouse, experiment, f)
    exposed = select(users, f).filter(pl.col("is_exposed"))
    for dimension, column in (("entry_month", "entry_month"), ("price_band", "price_band")):
        expected = exposed.group_by(column, "experiment_group").agg(
            users=pl.len(), converters=pl.col("converted").sum()
        )
        shown = p.segments.filter(pl.col("dimension") == dimension)
        assert set(shown["segment"]) == set(expected[column])
        for row in shown.iter_rows(named=True):
            want = expected.filter(
                (pl.col(column) == row["segment"]) & (pl.col("experiment_group") == "treatment")
            )
            assert row["treatment_users"] == want["users"].item()
            assert row["treatment_conversion"] == pytest.approx(
                want["converters"].item() / want["users"].item()
            )
    assert set(p.segments["dimension"]) == {"entry_month", "user_type", "price_band"}
    # One family, the readout's: its segments' adjusted p-values, as `ecom abtest` gives them.
    readout = readout_of(warehouse, experiment, f.where(dialect_for(warehouse)))
    family = p.segments.filter(pl.col("in_family"))
    assert {
        (r["dimension"], r["segment"]): r["adjusted_p"] for r in family.iter_rows(named=True)
    } == {(s.dimension, s.segment): s.adjusted_p for s in readout.segments}
    tested = family.drop_nulls("p_value")
    assert (tested["adjusted_p"] >= tested["p_value"] - 1e-15).all()
    order = np.argsort(tested["p_value"].to_numpy())
    assert (np.diff(tested["adjusted_p"].to_numpy()[order]) >= -1e-15).all()  # Holm's monotony
    bands = p.segments.filter(pl.col("dimension") == "price_band")
    assert not bands["in_family"].any() and bands["adjusted_p"].is_null().all()
    assert bands["significant"].is_null().all()


def test_bounds_are_the_experiment_window(warehouse, users) -> None:
    bounds = metrics.bounds_from_frame(warehouse.query(queries.bounds_sql(warehouse, "checkout")))
    assert bounds.months == tuple(sorted(users["entry_month"].unique()))
    assert bounds.first_day == users["entered_at"].min().date()
    assert bounds.last_day == users["entered_at"].max().date()
    assert (bounds.users, bounds.returning_users) == (users.height, users["is_returning"].sum())
    assert bounds.returning_users > 0  # the pre-period makes returning users


def test_a_filter_that_matches_nobody_gives_an_empty_page(warehouse, experiment) -> None:
    nobody = Filters(start=date(2019, 11, 2), end=date(2019, 11, 2), months=("2020-02",))
    p = page(warehouse, experiment, nobody)
    assert p.is_empty
    assert p.readout.primary.conversion.message == "empty_group"
    assert p.readout.decision.outcome == "keep_running"
    assert p.cumulative.height == 0 and p.daily.height == 0


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
    assert Filters().where(dialect_for(connect(Settings()))) is None


def test_missing_gold_says_which_command_to_run(settings: Settings, experiment) -> None:
    wh = connect(settings)
    with pytest.raises(WarehouseError, match=r"Run `ecom ingest`"):
        metrics.load_dashboard(wh, Filters(), ReadoutConfig(), experiment)
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema gold")
    with pytest.raises(WarehouseError, match=r"gold\.\w+ does not exist.*ecom warehouse"):
        metrics.load_dashboard(wh, Filters(), ReadoutConfig(), experiment)


def test_empty_gold_gives_an_empty_page(
    settings: Settings, pipeline_run: Pipeline, experiment
) -> None:
    """The table with the contract's columns and no rows: zeros and messages, no exception."""
    settings.warehouse_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(f"attach '{pipeline_run.settings.warehouse_path}' as built (read_only)")
        con.execute("create schema gold")
        con.execute(
            "create table gold.fct_experiment_users as "
            "select * from built.gold.fct_experiment_users limit 0"
        )
    wh = connect(settings)
    assert metrics.bounds_from_frame(wh.query(queries.bounds_sql(wh, "checkout"))).is_empty
    p = metrics.load_dashboard(wh, Filters(), ReadoutConfig(), experiment)
    assert p.is_empty
    assert p.kpi_frame()["users"].to_list() == [0, 0]
    assert p.readout.primary.srm.message == "empty_group"
