"""The browser tests' stage: the API and the app served as `ecom demo` serves them, on free
loopback ports, Debian's chromium driven by Playwright, every request the pages make recorded,
and helpers to read what a person sees (tiles, chart text, colours). Screenshots go to the
tests' output folder; with ECOM_UPDATE_SCREENSHOTS=1 they also replace docs/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline.settings import REPO_ROOT
from tests.app.conftest import API_KEY, Pipeline, app_env, free_port
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
WIDE = {"width": 1400, "height": 1500}  # the widest page the app must fit without scrolling
NARROW = {"width": 390, "height": 844}  # a phone
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
SCREENSHOT_NAMES = {
    "Real-Time Predictor (live)": "predictor-live.png",
    "A/B Test Dashboard": "dashboard.png",
    "A/B Test Dashboard, 390 px": "dashboard-390.png",
    "Real-Time Predictor": "predictor.png",
    "Bulk Prediction": "bulk.png",
    "Monitoring": "monitoring.png",
}
HEADER = "total_views,total_carts,session_duration_minutes,experiment_group"
UPLOAD_LIMIT_MB = 1  # the stack's ECOM_APP_UPLOAD_MAX_MB: a larger file is easy to make


@pytest.fixture(scope="module", name="browser")
def browser_fixture():
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
    requests: list[str] = field(default_factory=list)  # every URL any page asked for

    def outside_hosts(self) -> set[str]:
        return {
            urlsplit(u).hostname or u
            for u in self.requests
            if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in ("127.0.0.1", "localhost")
        }


@pytest.fixture(scope="module", name="stack")
def stack_fixture(
    pipeline_run: Pipeline, drift_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The API and the app served as the demo serves them, on free loopback ports. The app's
    data dir holds the run's manifests and its `ecom drift` reports (February, then the
    training window's last two months, then a `--shift` demonstration: a trend to show) and
    points at the run's warehouse and models."""
    from pipeline.drift.run import run_drift

    root = tmp_path_factory.mktemp("stack")
    data = root / "data"
    shutil.copytree(pipeline_run.settings.manifest_dir, data / "manifests")
    shutil.copytree(drift_run, data / "reports" / "drift")
    settings = pipeline_run.settings.model_copy(
        update={
            "data_dir": data,
            "duckdb_path": pipeline_run.settings.warehouse_path,
            "models_dir": pipeline_run.settings.models_dir,
        }
    )
    run_drift(settings, months=["2019-12", "2020-01"])
    run_drift(settings, shift=True)
    api_port, app_port = free_port(), free_port()
    env = app_env(
        data,
        "",
        ECOM_DUCKDB_PATH=str(pipeline_run.settings.warehouse_path),
        ECOM_MODELS_DIR=str(pipeline_run.settings.models_dir),
        ECOM_API_KEY=API_KEY,
        ECOM_APP_UPLOAD_MAX_MB=str(UPLOAD_LIMIT_MB),
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
        # Ctrl-C first, as a person stops the demo: it stops the API and the app it started
        # (a kill would leave both running, orphaned).
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="module", name="shots")
def shots_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def new_page(browser, stack: Stack, viewport: dict, path: str = ""):
    """A fresh browser context (a new visitor) whose every request is recorded."""
    context = browser.new_context(viewport=viewport, accept_downloads=True)
    context.on("request", lambda request: stack.requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(stack.app_url + path)
    return page


@pytest.fixture(scope="module", name="page")
def page_fixture(browser, stack: Stack):
    page = new_page(browser, stack, WIDE)
    yield page
    page.context.close()


def metric_value(page, label: str, index: int = 0) -> str:
    """The value of the index-th KPI tile whose label is exactly `label`."""
    label_node = page.locator('[data-testid="stMetricLabel"]').get_by_text(label, exact=True)
    tile = page.locator('[data-testid="stMetric"]').filter(has=label_node).nth(index)
    return tile.locator('[data-testid="stMetricValue"]').inner_text().strip()


def wait_for_metric(page, label: str, value: str, index: int = 1) -> None:
    """Until the index-th tile labelled `label` shows `value`."""
    page.wait_for_function(
        """([label, value, index]) => {
            const tiles = [...document.querySelectorAll('[data-testid="stMetric"]')]
                .filter(m => m.querySelector('[data-testid="stMetricLabel"]')?.innerText.trim() === label);
            const tile = tiles[index];
            return tile && tile.querySelector('[data-testid="stMetricValue"]').innerText.trim() === value;
        }""",
        arg=[label, value, index],
    )


def settle(page) -> None:
    """Wait for the script run to finish (the running indicator goes away)."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=WAIT_MS)


def screenshot(page, name: str, shots: Path) -> Path:
    settle(page)
    page.wait_for_timeout(1200)  # the charts and the data grids draw after the run
    path = shots / SCREENSHOT_NAMES[name]
    page.screenshot(path=str(path))
    if os.environ.get("ECOM_UPDATE_SCREENSHOTS"):
        small(path, DOCS_SCREENSHOTS / path.name, narrow=page.viewport_size["width"] < 600)
    return path


def small(source: Path, target: Path, narrow: bool = False) -> None:
    """A copy for the documentation: half size (a phone's at full size), 64 colours (a few
    tens of KB instead of a few hundred)."""
    from PIL import Image

    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        rgb = image.convert("RGB")
        if not narrow:
            rgb = rgb.resize((image.width // 2, image.height // 2), Image.LANCZOS)
        rgb.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)


def open_tab(page, tab: str) -> None:
    page.get_by_role("tab", name=tab).click()
    settle(page)


# ---------------------------------------------------------------------------- what is seen


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG 2's relative luminance of an sRGB colour (0-255 channels)."""

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: tuple[float, ...], background: tuple[float, ...]) -> float:
    light, dark = sorted((luminance(foreground[:3]), luminance(background[:3])), reverse=True)
    return (light + 0.05) / (dark + 0.05)


CHART_TEXT = """() => [...document.querySelectorAll('[data-testid="stVegaLiteChart"] svg')].flatMap(
    (svg, chart) => {
        const box = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].filter(t => t.textContent.trim()).map(t => {
            const r = t.getBoundingClientRect();
            const style = getComputedStyle(t);
            return {text: t.textContent, fill: style.fill, opacity: +style.opacity *
                    +(style.fillOpacity || 1), left: r.left - box.left, right: r.right - box.left,
                    width: box.width, chart: chart};
        });
    })"""


def chart_text(page) -> list[dict]:
    """Every text shown in every chart (SVG; Vega hides overlapping labels with opacity 0):
    its words, colour, chart (0 = the page's first) and where it starts and ends."""
    return [t for t in page.evaluate(CHART_TEXT) if t["opacity"] > 0]


def rgb_of(css: str) -> tuple[float, ...]:
    inside = css[css.index("(") + 1 : css.index(")")]
    return tuple(float(v) for v in inside.replace("/", ",").split(",")[:3])
