"""`ecom serve api`: refuses to start without a model, on a taken port or on a public address
without a key, saying what to do; runs the service (python -m api) as a child with the settings
in its environment; Ctrl-C stops it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from pipeline import services
from pipeline.cli import app
from pipeline.settings import REPO_ROOT
from tests.api.conftest import (  # noqa: F401  (fixtures)
    TrainedModel,
    moment_warehouse,
    trained_api_model,
)
from tests.processes import stop, wait_until

READY_TIMEOUT_S = 120.0


def test_serve_without_a_model_says_train_first(settings):
    result = CliRunner().invoke(app, ["serve", "api", "--data-dir", str(settings.data_dir)])
    assert result.exit_code == 5
    assert "ecom train" in result.output


def test_serve_help_lists_the_options():
    result = CliRunner().invoke(app, ["serve", "api", "--help"])
    assert result.exit_code == 0
    for option in ("--host", "--port", "--workers"):
        assert option in result.output


def test_serve_api_refuses_a_taken_port(trained_api_model: TrainedModel) -> None:  # noqa: F811
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(
            app,
            ["serve", "api", "--port", str(port), "--data-dir", str(trained_api_model.data_dir)],
        )
    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 is taken" in result.output


def test_the_child_gets_the_settings_and_this_environment_stays(
    trained_api_model: TrainedModel,  # noqa: F811
    monkeypatch,
) -> None:
    """A relative --data-dir reaches uvicorn (started in the repository) as an absolute
    ECOM_DATA_DIR; several workers get a prometheus folder of their own, removed after."""
    given: list[services.Service] = []
    folders: list[Path] = []

    def run(to_run, announce):
        given.extend(to_run)
        folders.append(Path(to_run[0].env[services.MULTIPROC_ENV]))
        assert folders[0].is_dir()
        return 0

    monkeypatch.setattr(services, "run", run)
    monkeypatch.delenv(services.MULTIPROC_ENV, raising=False)
    monkeypatch.chdir(trained_api_model.data_dir.parent)
    before = dict(os.environ)
    port = services.free_port()
    result = CliRunner().invoke(
        app, ["serve", "api", "--port", str(port), "--workers", "2", "--data-dir", "data"]
    )
    assert result.exit_code == 0, result.output
    assert dict(os.environ) == before
    (api,) = given
    assert api.env["ECOM_DATA_DIR"] == str(trained_api_model.data_dir.resolve())
    assert api.env["ECOM_MODELS_DIR"] == str((trained_api_model.data_dir / "models").resolve())
    assert api.command[api.command.index("--workers") + 1] == "2"
    assert api.command[api.command.index("--port") + 1] == str(port)
    assert api.health_url == f"http://127.0.0.1:{port}/health"
    assert not folders[0].exists()


def test_serves_until_ctrl_c(trained_api_model: TrainedModel, tmp_path: Path) -> None:  # noqa: F811
    port = services.free_port()
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")}
    command = [sys.executable, "-c", "from pipeline.cli import app; app(prog_name='ecom')"]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "serve", "api", "--port", str(port), "--data-dir", "data"],
            cwd=trained_api_model.data_dir.parent,  # not the repository: the path is relative
            env={**env, "PYTHONPATH": str(REPO_ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(f"{url}/ready", process, log, READY_TIMEOUT_S)
        deadline = time.monotonic() + 30  # the command says where it serves (a JSON line)
        while f"API: {url}" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        stop(process)
    announced = [line for line in log.read_text().splitlines() if f"API: {url}" in line]
    assert json.loads(announced[0])["logger"] == "ecom.serve"
    assert services.port_is_free("127.0.0.1", port)  # the server went with it


def test_serve_api_refuses_a_public_address_without_a_key(trained_api_model: TrainedModel) -> None:  # noqa: F811
    result = CliRunner().invoke(
        app,
        ["serve", "api", "--host", "0.0.0.0", "--data-dir", str(trained_api_model.data_dir)],
        env={"ECOM_API_KEY": None, "ECOM_API_INSECURE": None},
    )
    assert result.exit_code == 1
    assert "Refusing to serve on 0.0.0.0 without an API key" in result.output
    assert "--insecure" in result.output


def test_insecure_reaches_the_service(trained_api_model: TrainedModel, monkeypatch) -> None:  # noqa: F811
    given: list[services.Service] = []
    monkeypatch.setattr(services, "run", lambda to_run, announce: given.extend(to_run) or 0)
    result = CliRunner().invoke(
        app,
        ["serve", "api", "--host", "0.0.0.0", "--port", str(services.free_port()), "--insecure",
         "--data-dir", str(trained_api_model.data_dir)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert given[0].command[-1] == "--insecure"
    assert given[0].command[1:3] == ["-m", "api"]
