"""The dashboard's four defects found by trying it as a first-time growth analyst would (issue
22, "Wrong or misleading today"), each driven through the app with AppTest and checked against
numbers computed here from the gold table or the readout. Each failed before its fix."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl
import pytest

from pipeline.abtest import ReadoutConfig, compute_readout
from pipeline.warehouse import connect
from pipeline.warehouse.dialect import dialect_for
from streamlit_app.data.experiments import selected
from streamlit_app.data.filters import Filters
from tests.app.apptest import chart_titled, charts, no_exception, open_app, texts, tiles
from tests.app.conftest import Pipeline

DECISION_WORDS = ("SHIP", "KEEP RUNNING", "DO NOT SHIP")


@pytest.fixture(scope="module")
def users(pipeline_run: Pipeline) -> pl.DataFrame:
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        # the page's default experiment (the table holds a row per user and experiment)
        return con.sql(
            "select * from gold.fct_experiment_users where experiment_key = 'checkout'"
        ).pl()


def test_1_users_without_a_cart_get_no_decision_and_no_made_up_rates(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str, users
) -> None:
    """Price band "No cart": the banner said KEEP RUNNING ("a group has no users") beside
    tiles of thousands of users, conversion read 0.00% where it is undefined, and the charts
    were empty with a lone "0.000000" tick."""
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    at.sidebar.multiselect(key="f_bands").set_value(["no_cart"]).run()
    no_exception(at)
    no_cart = users.filter(pl.col("first_cart_items").is_null() | (pl.col("first_cart_items") == 0))
    per_group = dict(no_cart.group_by("experiment_group").len().iter_rows())
    assert tiles(at)["Users"] == [f"{per_group['control']:,}", f"{per_group['treatment']:,}"]
    banners = texts(at, "success") + texts(at, "warning") + texts(at, "error")
    assert not any(word in b for b in banners for word in DECISION_WORDS), banners
    assert any("reached the cart" in i and "undefined" in i for i in texts(at, "info"))
    assert tiles(at)["Conversion"] == ["–", "–"]
    assert tiles(at)["Reached the cart"] == ["0", "0"]
    # Only charts with something to draw: no lift chart over nothing.
    drawn = charts(at)
    assert drawn and all(data.height > 0 for _, data in drawn)
    assert not any("lift" in str(spec.get("title", "")).lower() for spec, _ in drawn)


def test_2_the_daily_chart_gives_every_cohort_the_same_time_to_buy(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str, users
) -> None:
    """ "Conversion of the day's active users" grouped users by the day of their first cart,
    and later cohorts had less time to buy, so both lines fell toward February. The chart now
    counts a purchase within a fixed window after the first cart and leaves out the days that
    have not had that window yet."""
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    no_exception(at)
    spec, data = chart_titled(at, "by day of first cart, %")
    window = int(spec["title"]["text"].split("within ")[1].split(" days")[0])
    assert window >= 7
    data_end = users["last_seen_at"].max()
    exposed = users.filter(pl.col("is_exposed")).with_columns(
        day=pl.col("first_cart_session_at").dt.date(),
        bought=pl.col("first_purchase_at").is_not_null()
        & (pl.col("first_purchase_at") - pl.col("first_cart_session_at") < timedelta(days=window)),
    )
    # A day is shown once its latest first cart has had the whole window before the data ends.
    latest = exposed.group_by("day").agg(pl.col("first_cart_session_at").max())
    days = sorted(
        latest.filter(data_end - pl.col("first_cart_session_at") >= timedelta(days=window))["day"]
    )
    shown = data.sort("day")
    assert shown["day"].to_list()[-1] <= (data_end - timedelta(days=window)).date()
    assert shown["day"].to_list() == days
    for day in (days[2], days[len(days) // 2], days[-1]):
        cohort = exposed.filter(
            (pl.col("day") == day) & (pl.col("experiment_group") == "treatment")
        )
        row = shown.filter(pl.col("day") == day)
        assert row["Treatment"].item() == pytest.approx(cohort["bought"].mean() * 100)


def test_3_the_funnel_is_a_funnel_ending_at_the_conversion_tile(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    """With Price band = Under $2 the funnel said "Added to cart 3,300 (108.8%)", and its
    purchase shares used another base than the Conversion tile beside it."""
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    at.sidebar.multiselect(key="f_bands").set_value(["under_2"]).run()
    no_exception(at)
    _, funnel = chart_titled(at, "funnel")
    conversion = tiles(at)["Conversion"]
    for i, group in enumerate(("Control", "Treatment")):
        steps = funnel.filter(pl.col("group") == group)
        counts = steps["count"].to_list()
        assert counts == sorted(counts, reverse=True), counts
        assert all(0 <= share <= 1 for share in steps["share"].drop_nulls())
        assert f"{steps['share'].to_list()[-1] * 100:.2f}%" == conversion[i]
        assert steps["label"].to_list()[-1].endswith(conversion[i])


def test_4_segments_use_the_readouts_one_family_stated_on_the_page(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    """The segment table's Holm adjustment covered 10 tests (the price bands too) while the
    readout's covered 6: the page now uses the readout's family and says which it is."""
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    at.sidebar.radio(key="f_user_type").set_value("new").run()
    no_exception(at)
    s = pipeline_run.settings
    wh = connect(s)
    checkout = selected(s, "checkout")
    readout = compute_readout(
        wh,
        ReadoutConfig(),
        checkout.spec,
        checkout.recorded,
        where=Filters(user_type="new").where(dialect_for(wh)),
    )
    family = [seg for seg in readout.segments if seg.adjusted_p is not None]
    stated = [c for c in texts(at, "caption") if "segment tests" in c]
    assert stated and f"family of {len(family)} segment tests" in stated[0], stated
    (table,) = [t.value for t in at.table if "Significant" in t.value.columns]

    def shown(p: float) -> str:
        return "< 0.001" if p < 0.001 else f"{p:.3f}"

    labels = {"entry_month": "Month", "user_type": "User type"}
    got = {
        (row["Dimension"], row["p"]): row["p (Holm)"]
        for _, row in table.iterrows()
        if row["Dimension"] in labels.values()
    }
    want = {
        (labels[seg.dimension], shown(seg.result.p_value)): shown(seg.adjusted_p) for seg in family
    }
    assert got == want
    bands = table[table["Dimension"] == "Price band"]
    assert len(bands) > 0 and set(bands["p (Holm)"]) == {"not adjusted"}
