"""Fixtures: a small model of each family (the session model trained through the real training
path; the moment model on a warehouse the real pipeline built), served in-process and by a real
uvicorn on a free loopback port."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from pipeline.model.train import train_local
from pipeline.serving import artifact, registry
from pipeline.settings import REPO_ROOT, Settings
from tests.model.conftest import bqml_like_export, cart_sessions, write_warehouse
from tests.moment_model import MomentVersion, train_moment_version
from tests.processes import stop

SESSION = {
    "total_views": 3,
    "total_carts": 1,
    "session_duration_minutes": 12.5,
    "experiment_group": "treatment",
}
API_KEY = "test-key-\u00e9-not-a-secret"
# The moment model's warehouse: ~40k raw events, ~5,000 prediction points.
MOMENT_SCALE = 0.002
MOMENT_SEED = 23


@dataclass
class TrainedModel:
    data_dir: Path
    model: artifact.LoadedModel
    moment: MomentVersion | None = None

    def settings(self, **overrides: object) -> Settings:
        return Settings(data_dir=self.data_dir, **overrides)


@pytest.fixture(scope="session")
def moment_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A warehouse built by the real pipeline (generate, ingest, dbt): its fct_cart_moments
    trains the moment model and gives the parity test its prediction points."""
    from pipeline.generate import generate
    from pipeline.ingest import ingest
    from pipeline.warehouse.build import build_warehouse

    settings = Settings(data_dir=tmp_path_factory.mktemp("moment-pipeline") / "data")
    generate(settings.raw_dir, scale=MOMENT_SCALE, seed=MOMENT_SEED)
    ingest(settings)
    build_warehouse(settings)
    return settings


@pytest.fixture(scope="session")
def trained_api_model(
    tmp_path_factory: pytest.TempPathFactory, moment_warehouse: Settings
) -> TrainedModel:
    """A version of each family under <data>/models: the session model trained by
    `train_local` on a synthetic gold table, the moment model on moment_warehouse."""
    root = tmp_path_factory.mktemp("api-model")
    settings = Settings(data_dir=root / "data")
    write_warehouse(settings.warehouse_path, cart_sessions(4000, seed=5))
    result = train_local(settings, params={"n_estimators": 40}, n_boot=10)
    moment = train_moment_version(
        Settings(data_dir=moment_warehouse.data_dir, models_dir=settings.models_dir)
    )
    return TrainedModel(settings.data_dir, artifact.load_model(result.model_dir), moment)


@pytest.fixture(scope="session")
def bqml_api_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """A BigQuery-ML-shaped export (multi:softprob, classes ('1','0'), mean imputation),
    registered as a version with a card."""
    root = tmp_path_factory.mktemp("api-bqml")
    data = cart_sessions(3000, seed=9)
    X = np.column_stack(
        [
            data["total_views"],
            data["total_carts"],
            data["session_duration_minutes"],
            data["experiment_group"] == "treatment",
        ]
    ).astype(float)
    staged = root / "staged"
    bqml_like_export(
        staged,
        X,
        np.asarray(data["abandoned_cart"], dtype=float),
        class_names=("1", "0"),
        means={"session_duration_minutes": 11.5},
        rounds=12,
    )
    card = {"model_id": "abandonment-bqmltest0001", "engine": "bqml", "trained_at": "2026-01-01"}
    (staged / artifact.CARD_FILE).write_text(json.dumps(card))
    data_dir = root / "data"
    registry.register(Settings(data_dir=data_dir).models_dir, staged)
    folder = registry.resolve(Settings(data_dir=data_dir).models_dir)
    return TrainedModel(data_dir, artifact.load_model(folder))


def ready_client(settings: Settings) -> Iterator[TestClient]:
    """A client of an app whose models are loaded (every family's, in one generation)."""
    app = create_app(settings)
    with TestClient(app) as client:
        assert app.state.serving.wait(120), app.state.serving.problem
        yield client


@pytest.fixture(scope="module")
def client(trained_api_model: TrainedModel) -> Iterator[TestClient]:
    yield from ready_client(trained_api_model.settings())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="package")
def live_server(trained_api_model: TrainedModel, tmp_path_factory) -> Iterator[LiveServer]:
    """`ecom serve api` (its supervisor and 2 uvicorn workers) on a free loopback port, with
    an API key and 2 s / 3 s header and body deadlines."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("live") / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")}
    env.update(
        ECOM_DATA_DIR=str(trained_api_model.data_dir),
        ECOM_API_KEY=API_KEY,
        ECOM_BULK_MAX_ROWS="20000",
        # short deadlines, so the slow-client tests need not wait for the defaults
        ECOM_API_HEADER_TIMEOUT_S="2",
        ECOM_API_BODY_TIMEOUT_S="3",
    )
    ecom = shutil.which("ecom", path=str(Path(sys.executable).parent)) or "ecom"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [ecom, "serve", "api", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline, streak = time.monotonic() + 240, 0
        while streak < 6:  # both workers ready: several 200s in a row on new connections
            assert process.poll() is None, server.log()
            assert time.monotonic() < deadline, f"not ready in time:\n{server.log()}"
            try:
                ready = httpx.get(server.base_url + "/ready", timeout=5)
                ok = ready.status_code == 200 and bool(ready.json()["models"]["moment"])
            except httpx.HTTPError:
                ok = False
            streak = streak + 1 if ok else 0
            time.sleep(0.05 if ok else 0.5)
        yield server
    finally:
        stop(process, timeout=30)
