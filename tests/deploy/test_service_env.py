"""The API image, as closely as this machine allows (no Docker engine, no base image): its
environment built from uv.lock with the Dockerfile's own `uv sync` into a fresh folder, its
code copied as the Dockerfile copies it, the service started with the Dockerfile's command on a
model trained by the real training path, then /ready, /predict and the image's HEALTHCHECK.

One difference stays: this machine's Python (3.11) instead of the image's 3.12.
"""

from __future__ import annotations

import http.server
import json
import math
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from pipeline.model.train import train_local
from pipeline.serving import artifact, registry, risk
from pipeline.settings import REPO_ROOT, Settings
from tests.deploy import deploy_files as df
from tests.model.conftest import cart_sessions, write_warehouse
from tests.processes import stop, wait_until

pytestmark = pytest.mark.slow

# Importable in the full development environment, never in the service's (issue 11).
FORBIDDEN = ("dbt", "duckdb", "polars", "evidently", "streamlit", "google.cloud")
# What the service does import: the same probe must find these (so it can tell).
REQUIRED = ("fastapi", "uvicorn", "xgboost", "shap", "matplotlib", "prometheus_client")
READY_TIMEOUT_S = 90.0
SESSION = {
    "total_views": 3,
    "total_carts": 1,
    "session_duration_minutes": 12.5,
    "experiment_group": "treatment",
}


@dataclass(frozen=True)
class ServiceImage:
    venv: Path
    app_dir: Path  # the image's WORKDIR with the copied packages
    env: dict[str, str]  # the image's ENV, with its paths mapped here
    command: list[str]
    healthcheck: list[str]
    build_seconds: float


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def du_bytes(path: Path) -> int:
    """Bytes on disk of a folder (every file once, links not followed)."""
    seen, total = set(), 0
    for root, _, files in os.walk(path):
        for name in files:
            stat = os.lstat(os.path.join(root, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> ServiceImage:
    dockerfile = df.dockerfile(df.API_DOCKERFILE)
    root = tmp_path_factory.mktemp("service-image")
    venv = root / "venv"
    # The Dockerfile's own `uv sync` line, into a fresh environment.
    (sync,) = [v for v in dockerfile.values("RUN") if "uv sync" in v]
    args = shlex.split(sync.split("uv sync", 1)[1])
    # ...with the builder stage's ENV (files copied, not linked), but without compiling every
    # module to bytecode: the image does it once at build; here the one server start compiles
    # only what it imports (a minute less on 2 busy cores, the same environment otherwise).
    builder_env = dict(
        pair.split("=", 1)
        for value in (i["value"] for i in dockerfile.stages[0] if i["instruction"] == "ENV")
        for pair in shlex.split(value)
    )
    assert builder_env.get("UV_PROJECT_ENVIRONMENT") == "/opt/venv"
    started = time.perf_counter()
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "uv"), "sync", *args, "--quiet"],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            **builder_env,
            "UV_PROJECT_ENVIRONMENT": str(venv),
            "UV_COMPILE_BYTECODE": "0",
            "UV_PYTHON": sys.executable,
            "VIRTUAL_ENV": "",
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    build_seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    # The runtime stage's COPY of the project's code, into the image's WORKDIR.
    workdir = dockerfile.runtime_values("WORKDIR")[-1]
    app_dir = root / workdir.strip("/")
    for value in dockerfile.runtime_values("COPY"):
        if value.startswith("--from="):
            continue
        source, target = shlex.split(value)
        shutil.copytree(
            REPO_ROOT / source,
            app_dir / target,
            ignore=shutil.ignore_patterns("__pycache__", "Dockerfile"),
        )
    # The image's ENV, its folders moved into this test's temporary root.
    env = {}
    for name, value in dockerfile.env.items():
        if name == "PATH":
            value = f"{venv / 'bin'}:/usr/bin:/bin"
        elif name == "PYTHONPATH":
            value = str(app_dir)
        elif value.startswith("/"):
            value = str(root / value.strip("/"))
        env[name] = value
    env["HOME"] = str(root / "home")
    (_, healthcheck) = dockerfile.runtime_values("HEALTHCHECK")[0].split("CMD", 1)
    return ServiceImage(
        venv=venv,
        app_dir=app_dir,
        env=env,
        command=dockerfile.cmd,
        healthcheck=json.loads(healthcheck),
        build_seconds=build_seconds,
    )


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model version trained by `ecom train`'s code path on a small DuckDB gold table."""
    df.require_file(df.API_MODULE, "the API, issue 9")  # only the API serves it
    settings = Settings(data_dir=tmp_path_factory.mktemp("trained") / "data")
    write_warehouse(settings.warehouse_path, cart_sessions(3000, seed=11))
    train_local(settings, params={"n_estimators": 20}, n_boot=20)
    assert registry.current_id(settings.models_dir)
    return settings.models_dir


def run_in_image(image: ServiceImage, *command: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(command),
        cwd=image.app_dir,
        env={**image.env, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@contextmanager
def serving(image: ServiceImage, models: Path, log: Path) -> Iterator[str]:
    """The service as the image's CMD starts it, on a free loopback port; yields the base URL."""
    port = free_port()
    command = list(image.command)
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    command[0] = str(image.venv / "bin" / command[0])
    env = {**image.env, "ECOM_MODELS_DIR": str(models)}
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=image.app_dir, env=env, stdout=out, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(f"{base}/health", process, log, READY_TIMEOUT_S)
            yield base
        finally:
            stop(process)


def healthcheck(image: ServiceImage, base: str) -> int:
    """The image's HEALTHCHECK command, pointed at this server's port."""
    port = base.rsplit(":", 1)[1]
    command = [part.replace(":8000/", f":{port}/") for part in image.healthcheck]
    return run_in_image(image, *command).returncode


def wait_ready(base: str) -> httpx.Response:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while (response := httpx.get(f"{base}/ready", timeout=5.0)).status_code != 200:
        assert response.status_code == 503, response.text
        assert time.monotonic() < deadline, "the model never loaded"
        time.sleep(0.25)
    return response


def test_the_batch_stack_is_not_importable(image):
    """Module lookups (nothing imported) in the service's environment, from the image's
    WORKDIR with its PYTHONPATH: the service's own modules are found, the batch stack's not."""
    probe = (
        "import importlib.util, json\n"
        "def found(name):\n"
        "    try:\n"
        "        return importlib.util.find_spec(name) is not None\n"
        "    except ImportError:  # a missing parent package\n"
        "        return False\n"
        f"print(json.dumps({{name: found(name) for name in {list(FORBIDDEN + REQUIRED)!r}"
        " + ['api.main']}))\n"
    )
    result = run_in_image(image, str(image.venv / "bin" / "python"), "-c", probe)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [name for name in FORBIDDEN if found[name]] == []
    assert [name for name in REQUIRED if not found[name]] == []
    assert found["api.main"] == df.API_MODULE.exists()  # copied as the Dockerfile copies it


def test_the_service_environment_is_a_fraction_of_the_full_one(image, record_property):
    service, full = du_bytes(image.venv), du_bytes(REPO_ROOT / ".venv")
    record_property("service_env_mib", round(service / 2**20))
    record_property("full_env_mib", round(full / 2**20))
    print(
        f"\nservice environment {service / 2**20:.0f} MiB vs full .venv {full / 2**20:.0f} MiB "
        f"({service / full:.0%}); built from the lock in {image.build_seconds:.1f} s"
    )
    assert service < 0.5 * full


def test_health_check_fails_on_503(image):
    """The image's HEALTHCHECK exits non-zero when /ready answers 503 (the model not loaded):
    a stand-in server here, since the API's own 503 is tested with the API."""

    class NotReady(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(503 if self.path == "/ready" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotReady)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert healthcheck(image, f"http://127.0.0.1:{server.server_port}") != 0
    finally:
        server.shutdown()
        server.server_close()


def test_serves_the_trained_model_from_the_lock_built_environment(image, models_dir, tmp_path):
    df.require_file(df.API_MODULE, "the API, issue 9")
    expected_id = registry.current_id(models_dir)
    model = artifact.load_model(registry.resolve(models_dir))
    with serving(image, models_dir, tmp_path / "uvicorn.log") as base:
        ready = wait_ready(base).json()
        assert ready["status"] == "ready" and ready["model_id"] == expected_id
        assert ready["models"] == {"session": expected_id, "moment": None}  # no moment model
        assert list(ready["problems"]) == ["moment"]
        assert "ecom train --family moment" in ready["problems"]["moment"]
        assert healthcheck(image, base) == 0

        response = httpx.post(f"{base}/predict", params={"explain": "true"}, json=SESSION)
        assert response.status_code == 200, response.text
        body = response.json()
        probability = body["abandonment_probability"]
        assert probability == pytest.approx(float(model.predict([SESSION])[0]), abs=1e-6)
        thresholds = risk.thresholds_for(model.card)
        assert body["risk_thresholds"] == thresholds
        assert body["risk_band"] == risk.risk_band(probability, thresholds)
        assert body["model"]["model_id"] == expected_id
        explanation = body["explanation"]
        total = explanation["base_value"] + sum(
            c["shap_value"] for c in explanation["contributions"]
        )
        assert total == pytest.approx(explanation["margin"], abs=1e-4)
        assert 1 / (1 + math.exp(-explanation["margin"])) == pytest.approx(probability, abs=1e-5)
        assert body["waterfall_png"]  # rendered with matplotlib inside the slim environment

        bad = httpx.post(f"{base}/predict", json={**SESSION, "total_views": -1})
        assert bad.status_code == 422 and bad.json()["detail"]
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200 and "# TYPE" in metrics.text
