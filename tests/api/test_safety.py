"""Issue 21, case 6: safe by default, on real servers. No key on a public address: refused
unless --insecure; /docs and /openapi.json under the key rule; no server path in /ready."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import httpx
import pytest

from pipeline.settings import REPO_ROOT
from tests.api.conftest import API_KEY
from tests.api.live import ecom_command, free_port, serve
from tests.processes import stop, wait_until

KEY = {"X-API-Key": API_KEY.encode()}


def clean_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")}
    return {**env, **settings}


def run_until_exit(command: list[str], env: dict[str, str], seconds: float = 90):
    """The command's exit code and output, or None (and it is stopped) if it keeps running."""
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        output, _ = process.communicate(timeout=seconds)
        return process.returncode, output.decode(errors="replace")
    except subprocess.TimeoutExpired:
        stop(process)
        return None, process.stdout.read().decode(errors="replace") if process.stdout else ""


@pytest.mark.parametrize("how", ["ecom serve api", "python -m api"])
def test_no_key_on_a_public_address_is_refused(trained_api_model, how):
    """`ECOM_API_KEY` unset (compose passes it through from the shell) opened every endpoint,
    with no warning. Now the service does not start on an address other than loopback."""
    port = free_port()
    where = ["--host", "0.0.0.0", "--port", str(port)]
    command = (
        [*ecom_command(), "serve", "api", *where]
        if how == "ecom serve api"
        else [sys.executable, "-m", "api", *where]
    )
    code, output = run_until_exit(command, clean_env(ECOM_DATA_DIR=str(trained_api_model.data_dir)))
    assert code not in (None, 0), f"it started without a key:\n{output[-2000:]}"
    assert "Refusing to serve on 0.0.0.0 without an API key" in output
    assert "--insecure" in output


def test_insecure_serves_open_and_says_so(trained_api_model, tmp_path):
    """--insecure is the operator saying so: the service starts on every address, open, and
    its log says so."""
    with serve(
        trained_api_model.data_dir, tmp_path, args=("--host", "0.0.0.0", "--insecure")
    ) as service:
        assert httpx.get(service.base_url + "/model", timeout=30).status_code == 200
        warnings = [json.loads(line) for line in service.log().splitlines() if "WITHOUT" in line]
    assert warnings and warnings[0]["level"] == "WARNING"


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_the_docs_follow_the_key_rule(live_server, path):
    """/docs and /openapi.json were open even with a key (the README said only /health and
    /ready are)."""
    url = live_server.base_url + path
    assert httpx.get(url, timeout=30).status_code == 401
    assert httpx.get(url, headers={"X-API-Key": "wrong"}, timeout=30).status_code == 401
    assert httpx.get(url, headers=KEY, timeout=30).status_code == 200


@pytest.mark.parametrize("server", ["uvicorn", "python -m api"])
def test_ready_without_a_model_names_no_server_path(tmp_path, trained_api_model, server):
    """/ready with no model answered with the models folder's absolute path. A service that
    starts before its model exists (a volume still mounting) says what to do, and serves the
    model once it appears."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    log = tmp_path / "server.log"
    where = ["--host", "127.0.0.1", "--port", str(port)]
    command = (
        [sys.executable, "-m", "uvicorn", "--factory", "api.main:create_app", *where]
        if server == "uvicorn"
        else [sys.executable, "-m", "api", *where]
    )
    env = clean_env(ECOM_DATA_DIR=str(data_dir))
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(f"{base}/health", process, log, 240)
        deadline = time.monotonic() + 120
        while (answer := httpx.get(f"{base}/ready", timeout=30)).status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        for text in (answer.text, httpx.post(f"{base}/predict", json={}, timeout=30).text):
            assert str(tmp_path) not in text and "/models" not in text and "/data" not in text
            assert "ecom train" in text
        shutil.copytree(trained_api_model.data_dir / "models", data_dir / "models")
        wait_until(f"{base}/ready", process, log, 120)
        ready = httpx.get(f"{base}/ready", timeout=30).json()
        assert ready["model_id"] == trained_api_model.model.model_id
    finally:
        stop(process, timeout=30)


@pytest.mark.parametrize(
    ("rule", "without_key", "with_key"), [("key", 401, 200), ("open", 200, 200), ("off", 404, 404)]
)
def test_the_docs_rule_is_configurable(tmp_path, rule, without_key, with_key):
    """ECOM_API_DOCS: the docs under the key (default), open to anyone, or not served."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from pipeline.settings import Settings

    app = create_app(Settings(data_dir=tmp_path, api_key=API_KEY, api_docs=rule))
    http = TestClient(app)  # no lifespan: the docs need no model
    for path in ("/docs", "/openapi.json"):
        assert http.get(path).status_code == without_key
        assert http.get(path, headers=KEY).status_code == with_key
    assert http.get("/health").status_code == 200
