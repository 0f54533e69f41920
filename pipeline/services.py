"""Serving the app (and, for the demo, the API beside it) as child processes on loopback.

`ecom serve app` runs Streamlit; `ecom demo` ends by running both and printing their URLs.
Each server is its own process group, so Ctrl-C (or a failed start) stops both and leaves
nothing behind.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from pipeline.errors import EcomError
from pipeline.settings import REPO_ROOT, Settings

APP_SCRIPT = REPO_ROOT / "streamlit_app" / "app.py"
API_FACTORY = "api.main:create_app"
DEFAULT_API_PORT = 8000
DEFAULT_APP_PORT = 8501
START_TIMEOUT_S = 120.0


class ServeError(EcomError):
    """A server did not start (port taken, crash at start-up)."""


@dataclass(frozen=True)
class Running:
    name: str
    url: str
    process: subprocess.Popen


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen there now. SO_REUSEADDR, as uvicorn and Streamlit set it:
    connections of a stopped server lingering in TIME_WAIT do not make the port taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pick_port(host: str, wanted: int) -> int:
    """The wanted port when it is free, else any free one (the demo says which)."""
    return wanted if port_is_free(host, wanted) else free_port(host)


def app_command(host: str, port: int) -> list[str]:
    """`streamlit run` through streamlit_app.launch, which imports the app's dependencies
    before the server answers (so its first visitor does not wait for them)."""
    return [
        sys.executable, "-m", "streamlit_app.launch", "run", str(APP_SCRIPT),
        "--server.headless", "true",
        "--server.address", host,
        "--server.port", str(port),
        "--browser.gatherUsageStats", "false",
        "--server.fileWatcherType", "none",
    ]  # fmt: skip


def api_command(host: str, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", "--factory", API_FACTORY,
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip


def environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The caller's environment with the settings that locate the data made explicit, so the
    children read the same data dir, warehouse and models whatever their working directory."""
    env = dict(os.environ)
    env["ECOM_DATA_DIR"] = str(settings.data_dir.resolve())
    env["ECOM_MODELS_DIR"] = str(Path(settings.models_dir).resolve())
    if settings.duckdb_path is not None:
        env["ECOM_DUCKDB_PATH"] = str(settings.duckdb_path.resolve())
    return {**env, **extra}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=15)


@contextmanager
def started(
    name: str,
    command: list[str],
    env: Mapping[str, str],
    health_url: str,
    url: str,
    log: Path | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[Running]:
    """Start one server in its own process group, wait until `health_url` answers 200."""
    out = log.open("ab") if log else subprocess.DEVNULL
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=dict(env),
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                where = f" (its output: {log})" if log else ""
                raise ServeError(
                    f"The {name} exited with code {process.returncode} while starting{where}."
                )
            try:
                if httpx.get(health_url, timeout=1.0, headers=headers).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ServeError(
                    f"The {name} did not answer {health_url} within {START_TIMEOUT_S:.0f} s."
                )
            time.sleep(0.25)
        yield Running(name, url, process)
    finally:
        _stop(process)
        if log:
            out.close()  # type: ignore[union-attr]


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    app_port: int = DEFAULT_APP_PORT,
    api_port: int | None = DEFAULT_API_PORT,
    log_dir: Path | None = None,
    announce: Callable[[list[Running]], None] = lambda running: None,
) -> int:
    """Run the app (and the API when `api_port` is given) until Ctrl-C or one of them exits.

    Returns 0 after Ctrl-C (or SIGTERM), else the exit code of the server that stopped."""

    def interrupt(signum, frame):  # a `kill` stops the children too, as Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        return _serve(settings, host, app_port, api_port, log_dir, announce)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve(settings, host, app_port, api_port, log_dir, announce) -> int:
    with ExitStack() as stack:
        running: list[Running] = []
        api_url = settings.api_url
        if api_port is not None:
            api_url = f"http://{host}:{api_port}"
            running.append(stack.enter_context(started(
                "API", api_command(host, api_port),
                environment(settings), f"{api_url}/ready", api_url,
                log_dir / "api.log" if log_dir else None,
                {"X-API-Key": settings.api_key} if settings.api_key else None,
            )))  # fmt: skip
        app_url = f"http://{host}:{app_port}"
        running.append(stack.enter_context(started(
            "app", app_command(host, app_port), environment(settings, API_URL=api_url),
            f"{app_url}/_stcore/health", app_url, log_dir / "app.log" if log_dir else None,
        )))  # fmt: skip
        announce(running)
        while True:
            for server in running:
                code = server.process.poll()
                if code is not None:
                    return code or 1
            time.sleep(0.5)
