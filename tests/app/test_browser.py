"""End to end in a real browser, as a growth analyst meets the app: the API and the app served
as `ecom demo` serves them, Debian's chromium, a person's clicks and links, at 1,400 px and at
390 px; nothing fetched from outside the machine; Ctrl-C last. The stage and the helpers are in
tests/app/browser.py. With ECOM_UPDATE_SCREENSHOTS=1 the screenshots replace docs/screenshots/.
"""

from __future__ import annotations

import re
import signal
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import httpx
import pytest

from pipeline.abtest import ReadoutConfig
from pipeline.services import port_is_free
from pipeline.serving import registry
from pipeline.warehouse import connect
from streamlit_app.data import live, metrics
from streamlit_app.data.experiments import selected
from streamlit_app.data.filters import Filters
from tests.app.browser import (  # noqa: F401  (the *_fixture names are fixtures)
    HEADER,
    NARROW,
    SCREENSHOT_NAMES,
    UPLOAD_LIMIT_MB,
    WIDE,
    Stack,
    browser_fixture,
    chart_text,
    contrast,
    metric_value,
    new_page,
    open_tab,
    page_fixture,
    rgb_of,
    screenshot,
    settle,
    shots_fixture,
    stack_fixture,
    wait_for_metric,
)
from tests.app.conftest import KEY_HEADER, Pipeline

WHITE = (255.0, 255.0, 255.0)
AA = 4.5  # WCAG 2 AA, normal text


def load(pipeline_run: Pipeline, f: Filters) -> metrics.Dashboard:
    s = pipeline_run.settings
    return metrics.load_dashboard(connect(s), f, ReadoutConfig(), selected(s, "checkout"))


def users_shown(page) -> tuple[str, str]:
    return metric_value(page, "Users", 0), metric_value(page, "Users", 1)


def expected_users(pipeline_run: Pipeline, f: Filters) -> tuple[str, str]:
    kpis = load(pipeline_run, f).kpis
    return f"{kpis['control'].users:,}", f"{kpis['treatment'].users:,}"


def test_the_dashboard_fits_reads_well_and_steps_back(
    page, shots: Path, pipeline_run: Pipeline
) -> None:
    every = expected_users(pipeline_run, Filters())
    page.get_by_text("Treatment — redesigned checkout").wait_for()
    assert users_shown(page) == every
    page.locator('[data-testid="stVegaLiteChart"] svg').nth(3).wait_for()
    screenshot(page, "A/B Test Dashboard", shots)
    # 1,400 px: nothing scrolls sideways, the segment table included.
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDE["width"]
    table = page.locator('[data-testid="stTable"]').filter(has_text="Significant")
    assert table.evaluate("e => e.scrollWidth <= e.clientWidth + 1")
    main = page.get_by_test_id("stMainBlockContainer").bounding_box()
    box = table.bounding_box()
    assert box["x"] + box["width"] <= main["x"] + main["width"] + 1
    # Chart text at WCAG AA; the funnel's labels inside their chart; months on time axes.
    texts = chart_text(page)
    low = [t["text"] for t in texts if t["opacity"] < 1 or contrast(rgb_of(t["fill"]), WHITE) < AA]
    assert texts and low == [], low
    funnel = [t for t in texts if t["chart"] == 0 and " · " in t["text"]]
    assert len(funnel) == 4  # each group's share after the first step
    clipped = [
        (t["text"], t["chart"], round(t["left"]), round(t["right"]), round(t["width"]))
        for t in texts
        if t["right"] > t["width"] + 0.5 or t["left"] < -2
    ]
    assert clipped == [], clipped
    assert {"Dec 2019", "Jan 2020"} <= {t["text"] for t in texts}

    # A filter goes into the URL, and Back brings the previous view.
    page.get_by_test_id("stSidebar").get_by_text("Returning (seen before it started)").click()
    returning = expected_users(pipeline_run, Filters(user_type="returning"))
    wait_for_metric(page, "Users", returning[1])
    assert users_shown(page) == returning != every
    page.wait_for_url(re.compile(r"users=returning"))
    page.go_back()
    wait_for_metric(page, "Users", every[1])
    assert "users=" not in page.url
    chosen = page.get_by_test_id("stSidebar").locator(
        '[data-testid="stRadioOption"][data-selected="true"]'
    )
    from playwright.sync_api import expect  # the browser fixture skips without playwright

    expect(chosen).to_have_text("All users")
    settle(page)


def test_a_shared_link_opens_the_same_filtered_view(
    browser, stack: Stack, pipeline_run: Pipeline
) -> None:
    link = "/?month=2019-12&month=2020-01&users=returning&band=2_to_5"
    f = Filters(months=("2019-12", "2020-01"), user_type="returning", price_bands=("2_to_5",))
    expected = expected_users(pipeline_run, f)
    page = new_page(browser, stack, WIDE, link)
    try:
        wait_for_metric(page, "Users", expected[1])
        assert users_shown(page) == expected
        caption = page.get_by_text(re.compile(r"^Showing: ")).inner_text()
        assert f.describe() in caption
        page.reload()  # survives a reload
        wait_for_metric(page, "Users", expected[1])
        assert users_shown(page) == expected
    finally:
        page.context.close()


def test_a_segment_bar_filters_the_page(page, pipeline_run: Pipeline) -> None:
    chart = page.locator('[data-testid="stVegaLiteChart"]').filter(has_text="Lift by segment")
    chart.scroll_into_view_if_needed()
    bar = chart.locator('path[aria-roledescription="bar"][aria-label*="Dec 2019"]')
    bar.click()
    expected = expected_users(pipeline_run, Filters(months=("2019-12",)))
    wait_for_metric(page, "Users", expected[1])
    page.wait_for_url(re.compile(r"month=2019-12"))
    assert users_shown(page) == expected
    page.get_by_test_id("stSidebar").get_by_role("button", name="Reset filters").click()
    wait_for_metric(page, "Users", expected_users(pipeline_run, Filters())[1])


def test_a_phone_gets_a_compact_comparison(
    browser, stack: Stack, shots: Path, pipeline_run: Pipeline
) -> None:
    page = new_page(browser, stack, NARROW)
    try:
        compact = page.locator(".st-key-kpi_compact")
        compact.get_by_text("Revenue per purchase").wait_for()
        assert not page.locator(".st-key-kpi_tiles").is_visible()
        kpis = load(pipeline_run, Filters()).kpis
        row = compact.locator("tr").filter(has_text="Conversion")
        cells = [c.strip() for c in row.locator("td, th").all_inner_texts()]
        assert cells[:3] == [
            "Conversion",
            f"{kpis['control'].conversion:.2%}",
            f"{kpis['treatment'].conversion:.2%}",
        ]
        toggle = page.get_by_test_id("stExpandSidebarButton")
        label = toggle.evaluate("e => getComputedStyle(e, '::after').content")
        assert label == '"Filters"'
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
        screenshot(page, "A/B Test Dashboard, 390 px", shots)
    finally:
        page.context.close()


def test_a_live_session_scored_event_by_event(page, shots: Path, stack: Stack) -> None:
    """The Predictor opens on the live mode: a warehouse session's trajectory (the chart's alt
    text is its ARIA label), then a session built with the buttons, scored as the API scores
    the same events; the reasons in words and the waterfall on the probability scale."""
    open_tab(page, "Real-Time Predictor")
    chance = "Chance this cart is abandoned"
    page.locator('[data-testid="stMetric"]').filter(has_text=chance).wait_for()
    page.locator('[aria-label^="Line chart of the probability"]').first.wait_for()
    page.get_by_text("Show the waterfall (probability scale)").click()
    page.locator('[aria-label^="Waterfall chart on the probability scale"]').wait_for()
    page.get_by_text("Session to score").scroll_into_view_if_needed()
    screenshot(page, "Real-Time Predictor (live)", shots)
    page.get_by_text("Build one, click by click").click()
    settle(page)
    for button in ("View a product", "Add to cart"):
        page.get_by_role("button", name=button).click()
        settle(page)
    start = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), clock(14), tzinfo=UTC)
    built = live.Built(start=start).add("view", 12.0, 45).add("cart", 12.0, 45)
    direct = httpx.post(
        f"{stack.api_url}/sessions/score",
        json=built.steps()[-1].body,
        headers=KEY_HEADER,
        timeout=30,
    ).json()
    expected = f"{direct['abandonment_probability']:.1%}"
    page.wait_for_function(
        """([label, value]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .some(m => m.innerText.includes(label)
                && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === value)""",
        arg=[chance, expected],
    )
    assert page.get_by_text(re.compile(r"(raises|lowers) the risk \([+-]\d")).count() >= 1
    page.locator('[aria-label^="Waterfall chart on the probability scale"]').wait_for()


def test_moving_a_slider_changes_the_probability(page, shots: Path, stack: Stack) -> None:
    open_tab(page, "Real-Time Predictor")
    page.get_by_text("Finished session (session model)").click()  # it opens on the live mode
    settle(page)
    label = "Probability the cart is abandoned"
    page.locator('[data-testid="stMetric"]').filter(has_text=label).wait_for()
    before = metric_value(page, label)
    slider = page.get_by_role("slider", name="Add-to-cart events")
    assert slider.input_value() == "1"
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.wait_for_function(
        """([label, before]) => {
            const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .find(m => m.innerText.includes(label));
            return m && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() !== before;
        }""",
        arg=[label, before],
    )
    settle(page)
    assert slider.input_value() == "4"
    direct = httpx.post(
        f"{stack.api_url}/predict",
        params={"explain": "false"},
        json={
            "total_views": 3,
            "total_carts": 4,
            "session_duration_minutes": 12.5,
            "experiment_group": "control",
        },
        headers=KEY_HEADER,
        timeout=30,
    ).json()
    assert metric_value(page, label) == f"{direct['abandonment_probability']:.1%}" != before
    page.locator('[data-testid="stImage"] img').first.wait_for()  # the SHAP waterfall
    screenshot(page, "Real-Time Predictor", shots)


def test_upload_a_csv_and_download_the_scores(
    page, shots: Path, stack: Stack, tmp_path: Path
) -> None:
    rows = [
        f"{i % 7},{1 + i % 3},{(i * 11) % 60 + 0.25},{'treatment' if i % 3 else 'control'}"
        for i in range(25)
    ]
    content = (HEADER + "\n" + "\n".join(rows) + "\n").encode()
    upload = tmp_path / "sessions.csv"
    upload.write_bytes(content)
    open_tab(page, "Bulk Prediction")
    page.locator('input[type="file"]').set_input_files(str(upload))
    page.get_by_role("button", name=re.compile("Score the file")).click()
    download_button = page.get_by_role("button", name=re.compile("Download scored CSV"))
    download_button.wait_for()
    with page.expect_download() as info:
        download_button.click()
    saved = tmp_path / "downloaded.csv"
    info.value.save_as(str(saved))
    direct = httpx.post(
        f"{stack.api_url}/bulk_predict",
        files={"file": ("sessions.csv", content, "text/csv")},
        headers={"Accept": "text/csv", **KEY_HEADER},
        timeout=60,
    )
    assert saved.read_bytes() == direct.content
    assert info.value.suggested_filename == "sessions_scored.csv"
    assert len(saved.read_text().splitlines()) == 26
    screenshot(page, "Bulk Prediction", shots)


def test_a_file_over_the_upload_limit_is_said_and_the_last_message_goes(
    page, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "\n3,1,12.5,control\n")
    big = tmp_path / "big.csv"
    big.write_bytes((HEADER + "\n").encode() + b"3,1,12.5,control\n" * (70_000 * UPLOAD_LIMIT_MB))
    upload = page.locator('input[type="file"]')
    upload.set_input_files(str(good))
    page.get_by_text("good.csv: 1 sessions").wait_for()
    upload.set_input_files(str(big))
    page.get_by_text(f"this page takes at most {UPLOAD_LIMIT_MB} MB").wait_for()
    settle(page)
    assert not page.get_by_text("good.csv: 1 sessions").is_visible()
    assert not page.get_by_role("button", name=re.compile("Score the file")).is_visible()


def test_monitoring_shows_how_the_model_did_and_drift(
    page, shots: Path, pipeline_run: Pipeline
) -> None:
    open_tab(page, "Monitoring")
    model_id = registry.current_id(pipeline_run.settings.models_dir)
    page.get_by_text(model_id).first.wait_for()
    auc = metric_value(page, "Realized ROC-AUC")
    assert 0.5 < float(auc) < 1
    page.get_by_text("Drift by month").first.wait_for()
    page.get_by_text(f"for model {model_id}").first.wait_for()  # the drift check's summary
    page.get_by_text("Data as of 2020-Feb").first.wait_for()
    screenshot(page, "Monitoring", shots)
    page.get_by_role("button", name="Open the full Evidently report").click()
    frame = page.get_by_role("dialog").locator("iframe")
    frame.wait_for()
    assert frame.bounding_box()["width"] >= 0.9 * WIDE["width"]  # the page's full width
    page.keyboard.press("Escape")
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(SCREENSHOT_NAMES.values())


def test_no_request_left_the_machine(stack: Stack) -> None:
    """Every page of every test above asked only the app (and its API) on loopback: no
    favicon, font or script from the internet."""
    assert stack.requests and stack.outside_hosts() == set()


def test_ctrl_c_stops_the_api_and_the_app(stack: Stack) -> None:
    """Last: the demo's Ctrl-C stops both servers and frees their ports."""
    assert httpx.get(f"{stack.api_url}/ready", headers=KEY_HEADER, timeout=10).status_code == 200
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(timeout=60) == 0
    for port in stack.ports:
        assert port_is_free("127.0.0.1", port)
    for url in (f"{stack.api_url}/health", f"{stack.app_url}/_stcore/health"):
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)
