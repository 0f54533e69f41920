"""Serving the API and the app (what `make demo` ends with): both answer on loopback, their
URLs are printed, and Ctrl-C stops both."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.dashboard.serving import port_is_free
from pipeline.settings import REPO_ROOT
from tests.app.conftest import Pipeline, api_factory, app_env, free_port

SCRIPT = """
import sys
from pipeline.dashboard.serving import serve
from pipeline.settings import Settings

def announce(running):
    for server in running:
        print(server.name, server.url, server.process.pid, flush=True)
    print("ready", flush=True)

sys.exit(serve(Settings(), app_port={app_port}, api_port={api_port}, api_factory={factory!r},
               announce=announce))
"""


def test_demo_serving_starts_both_and_ctrl_c_stops_both(pipeline_run: Pipeline) -> None:
    api_port, app_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT.format(app_port=app_port, api_port=api_port,
                                             factory=api_factory())],
        cwd=REPO_ROOT, env=app_env(pipeline_run.data_dir, ""), stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        lines = []
        deadline = time.monotonic() + 180
        while "ready" not in lines and time.monotonic() < deadline:
            line = process.stdout.readline().strip()
            if not line and process.poll() is not None:
                break
            lines.append(line)
        assert "ready" in lines, lines
        servers = {line.split()[0]: line.split()[1:] for line in lines if line != "ready"}
        assert servers["API"][0] == f"http://127.0.0.1:{api_port}"
        assert servers["app"][0] == f"http://127.0.0.1:{app_port}"
        assert httpx.get(f"{servers['API'][0]}/ready", timeout=10).json()["status"] == "ready"
        assert httpx.get(f"{servers['app'][0]}/_stcore/health", timeout=10).text == "ok"
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert process.wait(timeout=60) == 0
        for port in (api_port, app_port):
            assert port_is_free("127.0.0.1", port)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_app_refuses_a_taken_port(pipeline_run: Pipeline) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = CliRunner().invoke(
            app, ["serve", "app", "--port", str(port), "--data-dir", str(pipeline_run.data_dir)]
        )
    assert result.exit_code == 1
    assert f"Port {port} on 127.0.0.1 is taken" in result.output
