"""The BigQuery emulator (bqemulator) as a test fixture: a real REST server on loopback.

It lives in its own virtual environment (.venv-bqemu, built by `make test` through
scripts/bqemulator.sh) because it pins a DuckDB release the project cannot share.
Import the fixture into a test module: `from tests.warehouse.bq_emulator import bq_emulator  # noqa: F401`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from pipeline.settings import REPO_ROOT
from tests.conftest import skip_unless_ci
from tests.processes import stop

EMULATOR_VENV = Path(os.environ.get("ECOM_BQEMU_VENV", REPO_ROOT / ".venv-bqemu"))
EMULATOR_BIN = EMULATOR_VENV / "bin" / "bqemulator"
EMULATOR_PROJECT = "ecom-emulator"
READY_TIMEOUT_S = 60.0


def free_port() -> int:
    """A port that is free on loopback right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_emulator(
    log_path: Path, project: str = EMULATOR_PROJECT, gcs_root: Path | None = None
) -> Iterator[str]:
    """Start bqemulator on free loopback ports, wait until /readyz answers, yield its endpoint.

    gcs_root: where the emulator reads gs://bucket/object (BQEMU_GCS_LOCAL_ROOT); pointed at
    fake-gcs-server's filesystem root, load jobs read the objects the pipeline uploaded."""
    rest_port, grpc_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{rest_port}"
    command = [
        str(EMULATOR_BIN),
        "start",
        "--rest-host=127.0.0.1",
        f"--rest-port={rest_port}",
        "--grpc-host=127.0.0.1",
        f"--grpc-port={grpc_port}",
        f"--project={project}",
        "--ephemeral",
        "--log-level=warning",
    ]
    with log_path.open("wb") as log:
        env = {**os.environ, **({"BQEMU_GCS_LOCAL_ROOT": str(gcs_root)} if gcs_root else {})}
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            _wait_ready(process, endpoint, log_path)
            yield endpoint
        finally:
            stop(process, timeout=10)


def _wait_ready(process: subprocess.Popen[bytes], endpoint: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"bqemulator exited with {process.returncode}:\n{tail}")
        try:
            if httpx.get(f"{endpoint}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"bqemulator not ready at {endpoint} after {READY_TIMEOUT_S:.0f} s")


# The one emulator of this test session: test modules import the fixture below, so pytest
# sees one fixture per module; they all share this server, stopped when the session ends.
_session_endpoint: dict[str, str] = {}


@pytest.fixture(scope="session")
def bq_emulator(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The endpoint of a running emulator, started once per session (start-up costs seconds).

    Tests isolate themselves by dataset names, not by restarting the server.
    """
    if not EMULATOR_BIN.exists():
        skip_unless_ci(f"BigQuery emulator not installed at {EMULATOR_VENV}: run `make test`")
    if "endpoint" not in _session_endpoint:
        stack = ExitStack()
        log_path = tmp_path_factory.mktemp("bqemulator") / "bqemulator.log"
        _session_endpoint["endpoint"] = stack.enter_context(running_emulator(log_path))
        pytestconfig.add_cleanup(stack.close)
        pytestconfig.add_cleanup(_session_endpoint.clear)
    return _session_endpoint["endpoint"]
