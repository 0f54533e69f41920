"""Starting the scoring API and the app as processes on this machine: the one place that does.

`ecom serve api`, `ecom serve app` and `ecom demo` describe what to run (a `Service`) and hand
it to `run`, which starts each in its own process group, waits until it answers its health
check, and stops all of them on Ctrl-C, on SIGTERM, or when one exits; a failed start stops
the others too and leaves nothing behind. The children get this process's settings as explicit
variables (`settings_environment`): this process's own environment is never changed.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import httpx
from pydantic import AliasChoices

from pipeline.errors import EcomError
from pipeline.settings import REPO_ROOT, Settings

APP_SCRIPT = REPO_ROOT / "streamlit_app" / "app.py"
API_MODULE = "api"  # `python -m api`: the service's supervisor and its uvicorn workers
DEFAULT_API_PORT = 8000
DEFAULT_APP_PORT = 8501
START_TIMEOUT_S = 120.0
# prometheus-client's variable: with several workers, /metrics adds up every worker's counts.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Where a child's output goes: a log file, this terminal, or nowhere.
Output = Path | Literal["terminal", "discard"]


class ServeError(EcomError):
    """A server did not start (port taken, crash at start-up)."""


@dataclass(frozen=True)
class Service:
    """One server to run: its command, environment, and the URL that says it is up."""

    name: str
    command: list[str]
    env: Mapping[str, str]
    url: str
    health_url: str  # open endpoints: probes carry no key
    output: Output = "discard"


@dataclass(frozen=True)
class Running:
    name: str
    url: str
    process: subprocess.Popen


# ---- ports and addresses ------------------------------------------------------------------------
def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen there now. SO_REUSEADDR, as uvicorn and Streamlit set it:
    connections of a stopped server lingering in TIME_WAIT do not make the port taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def require_free(host: str, port: int) -> None:
    if not port_is_free(host, port):
        raise ServeError(f"Port {port} on {host} is taken: pass --port with a free one.")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def pick_port(host: str, wanted: int) -> int:
    """The wanted port when it is free, else any free one (the demo says which)."""
    return wanted if port_is_free(host, wanted) else free_port(host)


def local_url(host: str, port: int) -> str:
    """Where this machine reaches a server bound to `host` (all interfaces: loopback)."""
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# ---- what the children run, and with which settings ----------------------------------------------
def settings_environment(settings: Settings, **extra: str) -> dict[str, str]:
    """The caller's environment with every setting made explicit (paths absolute), so a child
    reads the same data dir, warehouse, models and experiment whatever its working directory,
    and whatever came from a CLI option rather than the environment."""
    env = dict(os.environ)
    prefix = Settings.model_config.get("env_prefix", "")
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if value is None:
            continue
        alias = info.validation_alias
        key = alias.choices[0] if isinstance(alias, AliasChoices) else f"{prefix}{name}".upper()
        if isinstance(value, Path):
            value = value.resolve()
        elif name == "lake_uri" and "://" not in value:
            value = Path(value).resolve()
        env[str(key)] = str(value)
    return {**env, **extra}


def api_command(host: str, port: int, workers: int = 1, insecure: bool = False) -> list[str]:
    """`python -m api`: it resolves the model versions once for all its workers, reloads them
    together on SIGHUP or a promote, and refuses a non-loopback address without a key unless
    `insecure`."""
    command = [
        sys.executable, "-m", API_MODULE,
        "--host", host, "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    return [*command, "--insecure"] if insecure else command


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


def api_service(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int = 1,
    insecure: bool = False,
    ready: bool = True,
    output: Output = "discard",
    **extra_env: str,
) -> Service:
    """The scoring API (`python -m api`): up once /ready answers (the model is loaded), or with
    `ready=False` once the process answers /health."""
    url = local_url(host, port)
    return Service(
        "API",
        api_command(host, port, workers, insecure),
        settings_environment(settings, **extra_env),
        url,
        f"{url}/ready" if ready else f"{url}/health",
        output,
    )


def app_service(
    settings: Settings, *, host: str, port: int, api_url: str, output: Output = "discard"
) -> Service:
    """The Streamlit app, calling the API at `api_url`."""
    url = local_url(host, port)
    env = settings_environment(settings, API_URL=api_url)
    return Service("app", app_command(host, port), env, url, f"{url}/_stcore/health", output)


@contextmanager
def metrics_dir(workers: int) -> Iterator[dict[str, str]]:
    """For several workers, a prometheus multiprocess folder (unless one is set), removed after."""
    if workers <= 1 or os.environ.get(MULTIPROC_ENV):
        yield {}
        return
    path = tempfile.mkdtemp(prefix="ecom-api-metrics-")
    try:
        yield {MULTIPROC_ENV: path}
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- running them ------------------------------------------------------------------------------
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
def started(service: Service) -> Iterator[Running]:
    """Start one server in its own process group, wait until its health URL answers 200."""
    log = service.output if isinstance(service.output, Path) else None
    if log is not None:
        out = log.open("ab")
    elif service.output == "terminal":
        out = None  # inherited, stderr too
    else:
        out = subprocess.DEVNULL
    process = subprocess.Popen(
        service.command,
        cwd=REPO_ROOT,
        env=dict(service.env),
        stdout=out,
        stderr=subprocess.STDOUT if out is not None else None,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                where = f" (its output: {log})" if log else ""
                raise ServeError(
                    f"The {service.name} exited with code {process.returncode} while "
                    f"starting{where}."
                )
            try:
                answer = httpx.get(service.health_url, timeout=1.0)
                if answer.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise ServeError(
                    f"The {service.name} did not answer {service.health_url} within "
                    f"{START_TIMEOUT_S:.0f} s."
                )
            time.sleep(0.25)
        yield Running(service.name, service.url, process)
    finally:
        _stop(process)
        if log is not None:
            out.close()  # type: ignore[union-attr]


def run(
    services: Sequence[Service],
    announce: Callable[[list[Running]], None] = lambda running: None,
) -> int:
    """Run the services, in order, until Ctrl-C (or SIGTERM) or one of them exits.

    Returns 0 after Ctrl-C or SIGTERM, else the exit code of the server that stopped."""

    def interrupt(signum, frame):  # a `kill` stops the children too, as Ctrl-C does
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        with ExitStack() as stack:
            running = [stack.enter_context(started(service)) for service in services]
            announce(running)
            while True:
                for server in running:
                    code = server.process.poll()
                    if code is not None:
                        return code or 1
                time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve_api_and_app(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    api_port: int = DEFAULT_API_PORT,
    app_port: int = DEFAULT_APP_PORT,
    log_dir: Path | None = None,
    announce: Callable[[list[Running]], None] = lambda running: None,
) -> int:
    """What `ecom demo` ends with: the API, then the app calling it, until Ctrl-C."""
    api = api_service(
        settings, host=host, port=api_port, output=log_dir / "api.log" if log_dir else "discard"
    )
    app = app_service(
        settings,
        host=host,
        port=app_port,
        api_url=api.url,
        output=log_dir / "app.log" if log_dir else "discard",
    )
    return run([api, app], announce)
