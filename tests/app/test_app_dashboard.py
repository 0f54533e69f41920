"""The A/B Test Dashboard tab through Streamlit's AppTest: tiles, filters, the funnel's radio,
downloads, and a warehouse that is missing or empty."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal

from pipeline.abtest import ReadoutConfig, compute_readout
from pipeline.warehouse import connect
from streamlit_app.data import metrics
from streamlit_app.data.experiments import selected
from streamlit_app.data.filters import Filters
from tests.app.apptest import Downloads, metric, no_exception, open_app, switch_tab, texts
from tests.app.conftest import Pipeline

DASHBOARD = "A/B Test Dashboard"


def load(pipeline_run: Pipeline, f: Filters) -> metrics.Dashboard:
    """The page's numbers computed without the app, for the experiment as ingested."""
    s = pipeline_run.settings
    return metrics.load_dashboard(connect(s), f, ReadoutConfig(), selected(s, "checkout"))


def tiles(at) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for m in at.metric:
        found.setdefault(m.label, []).append(m.value)
    return found


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


def test_funnel_radio_switches_users_and_sessions(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    page = load(pipeline_run, Filters())

    def funnel_counts(unit: str) -> list[int]:
        rows = page.funnel.filter(
            (pl.col("unit") == unit) & (pl.col("experiment_group") == "control")
        )
        return rows["count"].to_list()

    def shown() -> list[int]:
        chart = at.get("vega_lite_chart")[0].proto  # the funnel: the page's first chart
        data = pl.from_arrow(pa.ipc.open_stream(chart.data.data).read_all())
        return data.filter(pl.col("group") == "Control")["count"].to_list()

    assert shown() == funnel_counts("users")
    at.radio(key="funnel_unit").set_value("sessions").run()
    no_exception(at)
    assert shown() == funnel_counts("sessions")


def test_every_chart_downloads_its_data(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    downloads = Downloads(monkeypatch)
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url)
    at.sidebar.radio(key="f_user_type").set_value("new").run()
    page = load(pipeline_run, Filters(user_type="new"))
    expected = {
        "dl_kpis": ("kpis.csv", page.kpi_frame()),
        "dl_funnel": ("funnel.csv", page.funnel),
        "dl_cumulative": ("cumulative_lift.csv", page.cumulative),
        "dl_daily": ("daily_effect.csv", page.daily),
        "dl_segments": ("segments.csv", page.segments),
    }
    for key, (name, frame) in expected.items():
        got = downloads.of(at.download_button(key=key))
        assert got.file_name == name
        assert got.mimetype == "text/csv"
        shown = pl.read_csv(
            got.data, schema=frame.schema
        )  # parsed: float sums may differ in the last bit
        assert_frame_equal(shown, frame, rel_tol=1e-9)
    segments = pl.read_csv(downloads.of(at.download_button(key="dl_segments")).data)
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
