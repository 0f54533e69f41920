"""The A/B Test Dashboard tab through Streamlit's AppTest: tiles, filters, the funnel's radio,
downloads, and a warehouse that is missing or empty."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.abtest import ReadoutConfig, compute_readout
from pipeline.warehouse import connect
from streamlit_app.data import metrics
from streamlit_app.data.experiments import selected
from streamlit_app.data.filters import Filters
from tests.app.apptest import (
    Downloads,
    metric,
    no_exception,
    open_app,
    switch_tab,
    texts,
    tiles,
)
from tests.app.conftest import Pipeline

DASHBOARD = "A/B Test Dashboard"


def load(pipeline_run: Pipeline, f: Filters) -> metrics.Dashboard:
    """The page's numbers computed without the app, for the experiment as ingested."""
    s = pipeline_run.settings
    return metrics.load_dashboard(connect(s), f, ReadoutConfig(), selected(s, "checkout"))


def test_default_page_shows_the_readouts_numbers_and_verdict(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    """With the API down the dashboard still renders: it never calls the API."""
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    no_exception(at)
    checkout = selected(pipeline_run.settings, "checkout")
    readout = compute_readout(
        connect(pipeline_run.settings), ReadoutConfig(), checkout.spec, checkout.recorded
    )
    shown = tiles(at)
    assert shown["Users"] == [
        f"{readout.all_users.conversion.control.n:,}",
        f"{readout.all_users.conversion.treatment.n:,}",
    ]
    assert shown["Reached the cart"] == [
        f"{readout.primary.conversion.control.n:,}",
        f"{readout.primary.conversion.treatment.n:,}",
    ]
    assert shown["Conversion"] == [
        f"{readout.primary.conversion.control.mean * 100:.2f}%",
        f"{readout.primary.conversion.treatment.mean * 100:.2f}%",
    ]
    style = {"ship": "success", "keep_running": "warning", "do_not_ship": "error"}
    decision = readout.decision
    assert texts(at, style[decision.outcome]) == [f"**{decision.words}.** {readout.verdict}"]
    assert readout.primary.conversion.significant  # the injected uplift, found
    manifests = [
        json.loads(p.read_text()) for p in pipeline_run.settings.manifest_dir.glob("*.json")
    ]
    stamp = f"({sum(m['rows_written'] for m in manifests):,} rows"
    assert any(stamp in c and "Data as of 2020-Feb" in c for c in texts(at, "caption"))


def test_filters_change_the_kpis(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    before = tiles(at)["Users"]

    at.sidebar.radio(key="f_user_type").set_value("returning").run()
    no_exception(at)
    returning = load(pipeline_run, Filters(user_type="returning"))
    assert returning.kpis["control"].users > 0
    assert tiles(at)["Users"] == [f"{returning.kpis[g].users:,}" for g in ("control", "treatment")]
    assert tiles(at)["Users"] != before

    at.sidebar.multiselect(key="f_months").set_value(["2019-11", "2019-12"]).run()
    at.sidebar.multiselect(key="f_bands").set_value(["2_to_5", "5_to_10"]).run()
    at.sidebar.date_input(key="f_dates").set_value((date(2019, 11, 10), date(2019, 12, 20))).run()
    no_exception(at)
    f = Filters(
        start=date(2019, 11, 10),
        end=date(2019, 12, 20),
        months=("2019-11", "2019-12"),
        user_type="returning",
        price_bands=("2_to_5", "5_to_10"),
    )
    expected = load(pipeline_run, f)
    assert tiles(at)["Conversion"] == [
        f"{expected.kpis[g].conversion * 100:.2f}%" for g in ("control", "treatment")
    ]
    assert any(f.describe() in c for c in texts(at, "caption"))

    at.sidebar.button[0].click().run()  # Reset filters
    no_exception(at)
    assert tiles(at)["Users"] == before


def test_every_chart_downloads_its_data_named_for_its_filters(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    downloads = Downloads(monkeypatch)
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    at.sidebar.radio(key="f_user_type").set_value("new").run()
    f = Filters(user_type="new")
    page = load(pipeline_run, f)
    expected = {
        "dl_kpis": ("kpis", page.kpi_frame()),
        "dl_funnel": ("funnel", page.funnel),
        "dl_cumulative_lift": ("cumulative_lift", page.cumulative),
        "dl_daily_effect": ("daily_effect", page.daily),
        "dl_segments": ("segments", page.segments),
    }
    through = "2020-02-29"
    for key, (view, frame) in expected.items():
        got = downloads.of(at.download_button(key=key))
        assert got.file_name == f"{view}_new-users_through-{through}.csv"
        assert got.mimetype == "text/csv"
        first = got.data.decode().splitlines()[0]
        assert first.startswith("# ") and f.describe() in first and f"through {through}" in first
        # parsed: float sums may differ in the last bit
        shown = pl.read_csv(got.data, schema=frame.schema, comment_prefix="#")
        assert_frame_equal(shown, frame, rel_tol=1e-9)
    segments = pl.read_csv(
        downloads.of(at.download_button(key="dl_segments")).data, comment_prefix="#"
    )
    assert set(segments["dimension"]) == {"entry_month", "user_type", "price_band"}
    assert set(segments.filter(pl.col("dimension") == "user_type")["segment"]) == {"new"}


def test_no_warehouse_says_what_to_run_and_other_tabs_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, api_server, pipeline_run: Pipeline
) -> None:
    at = open_app(monkeypatch, tmp_path / "empty", api_server.url)
    no_exception(at)
    assert any("No warehouse at" in w and "ecom ingest" in w for w in texts(at, "warning"))
    # The predictor does not need the warehouse (its live mode's replays do: it says so).
    at = switch_tab(at, "Real-Time Predictor")
    no_exception(at)
    assert any("No sessions to replay" in w for w in texts(at, "warning"))
    at = at.radio(key="p_mode").set_value("finished").run()
    assert metric(at, "Probability the cart is abandoned").endswith("%")


def test_gold_not_built_yet(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, refused_url: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute("create schema bronze")
    at = open_app(monkeypatch, data, refused_url)
    no_exception(at)
    assert any("does not exist" in w and "ecom warehouse" in w for w in texts(at, "warning"))


def test_empty_gold_and_a_filter_matching_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, pipeline_run: Pipeline, refused_url: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute(f"attach '{pipeline_run.settings.warehouse_path}' as built (read_only)")
        con.execute("create schema gold")
        con.execute(
            "create table gold.fct_experiment_users as "
            "select * from built.gold.fct_experiment_users limit 0"
        )
    at = open_app(monkeypatch, data, refused_url)
    no_exception(at)
    assert any("no experiment users yet" in i for i in texts(at, "info"))

    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    at.sidebar.multiselect(key="f_months").set_value(["2020-02"]).run()
    at.sidebar.date_input(key="f_dates").set_value((date(2019, 11, 5), date(2019, 11, 6))).run()
    no_exception(at)
    assert any("No users match these filters" in i for i in texts(at, "info"))
    assert not at.metric


def test_a_shared_link_opens_the_same_filtered_view(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    """Filters live in the URL: a link opens them, a change writes them, bad values are said
    and ignored."""
    query = {"month": ["2019-12", "2020-01"], "users": "returning", "band": "2_to_5"}
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url, query=query)
    no_exception(at)
    f = Filters(months=("2019-12", "2020-01"), user_type="returning", price_bands=("2_to_5",))
    expected = load(pipeline_run, f)
    assert tiles(at)["Users"] == [f"{expected.kpis[g].users:,}" for g in ("control", "treatment")]
    assert at.sidebar.multiselect(key="f_months").value == ["2019-12", "2020-01"]
    assert at.sidebar.radio(key="f_user_type").value == "returning"

    at.sidebar.radio(key="f_user_type").set_value("new").run()
    assert at.query_params["users"] == "new"
    assert at.query_params["month"] == ["2019-12", "2020-01"]
    at.sidebar.button[0].click().run()  # Reset filters: the link carries no filter
    assert not any(at.query_params.get(k) for k in ("month", "users", "band", "from", "to"))

    at = open_app(
        monkeypatch, pipeline_run.data_dir, refused_url, query={"users": "loyal", "band": "2_to_5"}
    )
    no_exception(at)
    assert any("users='loyal'" in c for c in texts(at, "caption"))
    assert at.sidebar.multiselect(key="f_bands").value == ["2_to_5"]


def test_a_shared_link_carries_its_experiment(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    """A link to the A/A check opens the A/A check with its filters; choosing the first
    experiment again drops the parameter; an unknown one is said and ignored."""
    query = {"experiment": "aa-standing", "users": "new"}
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url, query=query)
    no_exception(at)
    assert at.selectbox(key="f_experiment").value == "aa-standing"
    assert any("Standing A/A check" in h.value for h in at.subheader)
    s = pipeline_run.settings
    aa = metrics.load_dashboard(
        connect(s), Filters(user_type="new"), ReadoutConfig(), selected(s, "aa-standing")
    )
    assert tiles(at)["Users"] == [f"{aa.kpis[g].users:,}" for g in ("control", "treatment")]
    assert tiles(at)["Users"] != [
        f"{load(pipeline_run, Filters(user_type='new')).kpis[g].users:,}"
        for g in ("control", "treatment")
    ]
    at.selectbox(key="f_experiment").set_value("checkout").run()
    assert "experiment" not in at.query_params and at.query_params["users"] == "new"
    at.selectbox(key="f_experiment").set_value("aa-standing").run()
    assert at.query_params["experiment"] == "aa-standing"

    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url, query={"experiment": "nope"})
    no_exception(at)
    assert at.selectbox(key="f_experiment").value == "checkout"
    assert any("experiment=nope" in c for c in texts(at, "caption"))


def test_a_date_range_applies_once_both_days_are_picked(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    before = tiles(at)["Users"]
    at.sidebar.date_input(key="f_dates").set_value((date(2019, 12, 1),)).run()  # first click
    no_exception(at)
    assert tiles(at)["Users"] == before
    at.sidebar.date_input(key="f_dates").set_value((date(2019, 12, 1), date(2019, 12, 10))).run()
    f = Filters(start=date(2019, 12, 1), end=date(2019, 12, 10))
    assert tiles(at)["Users"] == [
        f"{load(pipeline_run, f).kpis[g].users:,}" for g in ("control", "treatment")
    ]
    assert (at.query_params["from"], at.query_params["to"]) == ("2019-12-01", "2019-12-10")


def test_the_evidence_is_on_the_page_in_words_people_read(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    """Guardrails with values and margins, the sample ratio check, chance to beat Control,
    power: outside "Why"; p-values as "< 0.001"; no developer wording."""
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    no_exception(at)
    s = pipeline_run.settings
    checkout = selected(s, "checkout")
    readout = compute_readout(connect(s), ReadoutConfig(), checkout.spec, checkout.recorded)
    tables = {t.value.index.name: t.value for t in at.table}
    guardrails = tables["Guardrail"]
    assert list(guardrails.index) == [g.label.capitalize() for g in readout.guardrails]
    revenue = guardrails.loc["Revenue per user"]
    assert revenue["Control"] == f"${readout.revenue.control_mean:,.2f}"
    assert revenue["Margin"] == "may fall at most 2%"  # experiments.yml's margin for checkout
    srm = tables["Population"]
    assert srm.loc["Users who reached the cart", "Control"] == (
        f"{readout.primary.srm.observed[0]:,}"
    )
    chance = tables["Outcome"]
    assert chance.loc["Conversion", "Chance"] == "over 99.9%"  # the injected uplift
    markdown = " ".join(texts(at, "markdown"))
    assert f"{readout.power.mde_relative * 100:+.1f}% relative" in markdown
    # Revenue per purchase falls with the injected single-item purchases: said beside it.
    change = readout.revenue_per_order.relative.estimate
    assert change < 0
    (note,) = [c for c in texts(at, "caption") if c.startswith("Revenue per purchase is")]
    assert f"{change * 100:+.1f}%" in note and "injected purchase is one carted item" in note
    shown = " ".join(texts(at, "caption") + texts(at, "markdown") + texts(at, "info"))
    for developer in ("duckdb", "`ecom abtest`", "pipeline.stats", "warehouse ·"):
        assert developer not in shown
    (segments,) = [t.value for t in at.table if "Significant" in t.value.columns]
    assert "< 0.001" in set(segments["p"])
    assert {"Nov 2019", "New users", "Under $2"} <= set(segments["Segment"])
    new = next(seg.result for seg in readout.segments if seg.segment == "new")
    row = segments[segments["Segment"] == "New users"].iloc[0]
    assert row["Users (C / T)"] == f"{new.control.n:,} / {new.treatment.n:,}"
    assert row["Conversion (C → T)"] == (
        f"{new.control.mean * 100:.2f}% → {new.treatment.mean * 100:.2f}%"
    )
