"""Fixtures of the app's tests: one small real pipeline run (generate, ingest, dbt build,
train both models) shared by every test, the scoring API served by real uvicorn on a free loopback port,
and addresses where no API answers (refused) or one never replies (hung)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx
import pytest

from pipeline.settings import REPO_ROOT, Settings
from tests.moment_model import train_moment_version
from tests.processes import stop, wait_until

SCALE = 0.004  # ~80k raw events, ~6k users: every filter and segment has both groups
SEED = 11
# October is the pre-period: returning users exist and CUPED has covariates (ECOM_EXPERIMENT_START).
EXPERIMENT_START = date(2019, 11, 1)
TRAIN_THROUGH = "2020-Jan"
API_READY_TIMEOUT_S = 90.0
# The API runs with a key, as a deployment does; the app gets it through ECOM_API_KEY.
API_KEY = "app-tests-key"
KEY_HEADER = {"X-API-Key": API_KEY}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Pipeline:
    """A data directory after generate, ingest, warehouse, train and score."""

    settings: Settings
    data_dir: Path


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    from pipeline.generate import generate
    from pipeline.ingest import ingest
    from pipeline.model.sql_scoring import score_warehouse
    from pipeline.model.train import train_local
    from pipeline.warehouse.build import build_warehouse

    data_dir = tmp_path_factory.mktemp("app") / "data"
    # Trained through January: `ecom drift` then compares February, a month the model never saw.
    settings = Settings(
        data_dir=data_dir, experiment_start=EXPERIMENT_START, train_through=TRAIN_THROUGH
    )
    generate(settings.raw_dir, scale=SCALE, seed=SEED)
    ingest(settings)
    build_warehouse(settings)
    train_local(settings, n_boot=5)
    train_moment_version(settings)  # the live mode's model, on the run's fct_cart_moments
    score_warehouse(settings)  # gold.cart_session_scores: Monitoring's realized outcomes
    return Pipeline(settings, data_dir)


@pytest.fixture(scope="session")
def drift_run(pipeline_run: Pipeline) -> Path:
    """`ecom drift` on the run (February against the model's reference): its real reports."""
    from pipeline.drift.run import run_drift

    run_drift(pipeline_run.settings)
    return pipeline_run.settings.drift_dir


def app_env(data_dir: Path, api_url: str, **extra: str) -> dict[str, str]:
    """The environment the app (or the API) runs with: no ECOM_* of the caller leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_") and k != "API_URL"}
    return {
        **env,
        "ECOM_DATA_DIR": str(data_dir),
        "ECOM_EXPERIMENT_START": EXPERIMENT_START.isoformat(),
        "ECOM_TRAIN_THROUGH": TRAIN_THROUGH,
        "API_URL": api_url,
        **extra,
    }


@dataclass(frozen=True)
class Server:
    url: str
    log: Path


def serve_api(data_dir: Path, log: Path, **env: str) -> Iterator[Server]:
    """The scoring API under real uvicorn on a free loopback port, until every model it has
    is loaded (the moment model too, unless there is none to load)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=app_env(data_dir, "", ECOM_API_KEY=API_KEY, **env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(f"{url}/ready", process, log, API_READY_TIMEOUT_S, KEY_HEADER)
        deadline = time.monotonic() + API_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            ready = httpx.get(f"{url}/ready", timeout=5).json()
            if ready["models"]["moment"] or "No model in" in ready["problems"].get("moment", ""):
                break
            time.sleep(0.2)
        yield Server(url, log)
    finally:
        stop(process)


@pytest.fixture(scope="session")
def api_server(
    pipeline_run: Pipeline, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The scoring API serving the run's models (both families)."""
    log = tmp_path_factory.mktemp("api") / "api.log"
    yield from serve_api(pipeline_run.data_dir, log)


@pytest.fixture
def refused_url() -> str:
    """A loopback port with nothing listening: connections are refused at once."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def hung_url() -> Iterator[str]:
    """A port that accepts connections and never answers: an API that hangs."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
