"""End to end in a real browser: the API and the app served as `ecom demo` serves them, on
free loopback ports; Debian's chromium driven by Playwright; a person's clicks; Ctrl-C. Screenshots of every tab go to this test's output
folder; with ECOM_UPDATE_SCREENSHOTS=1 they also replace docs/screenshots/ (the documentation's).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock
from pathlib import Path

import httpx
import pytest

from pipeline.abtest import ReadoutConfig
from pipeline.services import port_is_free
from pipeline.serving import registry
from pipeline.settings import REPO_ROOT
from pipeline.warehouse import connect
from streamlit_app.data import live, metrics
from streamlit_app.data.experiments import selected
from streamlit_app.data.filters import Filters
from tests.app.conftest import API_KEY, KEY_HEADER, Pipeline, app_env, free_port
from tests.conftest import skip_unless_ci

CHROMIUM = Path(os.environ.get("ECOM_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
STACK_READY_TIMEOUT_S = 180.0
WAIT_MS = 60_000
VIEWPORT = {"width": 1280, "height": 1500}
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
SCREENSHOT_NAMES = {
    "A/B Test Dashboard": "dashboard.png",
    "Real-Time Predictor (live)": "predictor-live.png",
    "Real-Time Predictor": "predictor.png",
    "Bulk Prediction": "bulk.png",
    "Monitoring": "monitoring.png",
}
HEADER = "total_views,total_carts,session_duration_minutes,experiment_group"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        skip_unless_ci(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_unless_ci("playwright is not installed: run `make setup`")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


# What `ecom demo` ends with (pipeline.services.serve_api_and_app), in its own process so the
# last test can press Ctrl-C.
SERVE = """
import sys
from pipeline.services import serve_api_and_app
from pipeline.settings import Settings

def announce(running):
    for server in running:
        print(server.name, server.url, flush=True)
    print("ready", flush=True)

sys.exit(serve_api_and_app(
    Settings(), app_port={app_port}, api_port={api_port}, announce=announce
))
"""


@dataclass(frozen=True)
class Stack:
    api_url: str
    app_url: str
    process: subprocess.Popen
    ports: tuple[int, int]


@pytest.fixture(scope="module")
def stack(
    pipeline_run: Pipeline, drift_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The API and the app served as the demo serves them, on free loopback ports. The app's
    data dir holds the run's manifests and its `ecom drift` reports and points at the run's
    warehouse and models."""
    root = tmp_path_factory.mktemp("stack")
    data = root / "data"
    shutil.copytree(pipeline_run.settings.manifest_dir, data / "manifests")
    shutil.copytree(drift_run, data / "reports" / "drift")
    api_port, app_port = free_port(), free_port()
    env = app_env(
        data,
        "",
        ECOM_DUCKDB_PATH=str(pipeline_run.settings.warehouse_path),
        ECOM_MODELS_DIR=str(pipeline_run.settings.models_dir),
        ECOM_API_KEY=API_KEY,
    )
    script = SERVE.format(app_port=app_port, api_port=api_port)
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        lines: list[str] = []
        deadline = time.monotonic() + STACK_READY_TIMEOUT_S
        while "ready" not in lines and time.monotonic() < deadline:
            line = process.stdout.readline().strip()
            if not line and process.poll() is not None:
                break
            lines.append(line)
        assert "ready" in lines, f"the API and the app did not start: {lines}"
        urls = dict(line.split() for line in lines if line != "ready")
        yield Stack(urls["API"], urls["app"], process, (api_port, app_port))
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page(browser, stack: Stack):
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(stack.app_url)
    yield page
    context.close()


def metric_value(page, label: str, index: int = 0) -> str:
    """The value of the index-th KPI tile whose label is exactly `label`."""
    label_node = page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    tile = page.locator('[data-testid="stMetric"]').filter(has=label_node).nth(index)
    return tile.locator('[data-testid="stMetricValue"]').inner_text().strip()


def settle(page) -> None:
    """Wait for the script run to finish (the running indicator goes away)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=WAIT_MS)


def screenshot(page, tab: str, shots: Path) -> Path:
    settle(page)
    page.wait_for_timeout(1200)  # the charts and the data grids draw after the run
    path = shots / SCREENSHOT_NAMES[tab]
    page.screenshot(path=str(path))
    if os.environ.get("ECOM_UPDATE_SCREENSHOTS"):
        small(path, DOCS_SCREENSHOTS / path.name)
    return path


def small(source: Path, target: Path) -> None:
    """A copy for the documentation: half size, 64 colours (a few tens of KB instead of a few hundred)."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        half = image.convert("RGB").resize((image.width // 2, image.height // 2), Image.LANCZOS)
        half.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def open_tab(page, tab: str) -> None:
    page.get_by_role("tab", name=tab).click()
    settle(page)


def test_dashboard_filter_changes_a_kpi(page, shots: Path, pipeline_run: Pipeline) -> None:
    wh = connect(pipeline_run.settings)
    checkout = selected(pipeline_run.settings, "checkout")
    every = metrics.load_dashboard(wh, Filters(), ReadoutConfig(), checkout)
    expect_all = f"{every.kpis['treatment'].users:,}"
    page.get_by_text("Treatment — redesigned checkout").wait_for()
    assert metric_value(page, "Users", 1) == expect_all
    path = screenshot(page, "A/B Test Dashboard", shots)
    assert path.stat().st_size > 10_000

    sidebar = page.get_by_test_id("stSidebar")
    sidebar.get_by_text("Returning (seen before it started)").click()
    returning = metrics.load_dashboard(
        wh, Filters(user_type="returning"), ReadoutConfig(), checkout
    )
    expected = f"{returning.kpis['treatment'].users:,}"
    page.wait_for_function(
        """([label, value]) => [...document.querySelectorAll('[data-testid="stMetric"]')]
            .filter(m => m.innerText.includes(label))
            .some(m => m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === value)""",
        arg=["Users", expected],
    )
    assert metric_value(page, "Users", 1) == expected != expect_all
    assert metric_value(page, "Conversion", 1) == f"{returning.kpis['treatment'].conversion:.2%}"
    sidebar.get_by_text("All users").click()  # leave the dashboard as it was
    settle(page)


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
    page.get_by_text("Finished session (session model)").click()
    settle(page)
    label = "Probability the cart is abandoned"
    page.locator('[data-testid="stMetric"]').filter(has_text=label).wait_for()
    before = metric_value(page, label)
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
    expected = f"{direct['abandonment_probability']:.1%}"
    slider = page.get_by_role("slider", name="Add-to-cart events")
    assert slider.input_value() == "1"
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    # Each key press may rerun the script: wait for the run of the last value (4 carts).
    page.wait_for_function(
        """([label, value]) => {
            const m = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .find(m => m.innerText.includes(label));
            return m && m.querySelector('[data-testid="stMetricValue"]').innerText.trim() === value;
        }""",
        arg=[label, expected],
    )
    settle(page)
    assert slider.input_value() == "4"
    assert metric_value(page, label) == expected != before
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


def test_monitoring_shows_the_model_and_drift(page, shots: Path, pipeline_run: Pipeline) -> None:
    open_tab(page, "Monitoring")
    model_id = registry.current_id(pipeline_run.settings.models_dir)
    page.get_by_text(model_id).first.wait_for()
    page.get_by_text(f"for model {model_id}").first.wait_for()  # the drift check's summary
    page.get_by_text("Data as of 2020-Feb").first.wait_for()
    screenshot(page, "Monitoring", shots)
    assert sorted(p.name for p in shots.glob("*.png")) == sorted(SCREENSHOT_NAMES.values())


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
