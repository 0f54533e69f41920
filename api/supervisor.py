"""`python -m api` (and `ecom serve api`): the service's supervisor and its uvicorn workers.

The supervisor resolves each family's model version once and hands it to every worker through
a control folder (api.control); it restarts a worker that dies (the new one loads the same
versions before it takes traffic) and switches every worker to new versions together: on
SIGHUP, or when it sees the registry's `current` pointer change (every ECOM_API_RELOAD_SECONDS).
SIGHUP reloads models; it does not restart workers. SIGTERM or Ctrl-C stops the service;
SIGTTIN and SIGTTOU add and remove a worker, as in uvicorn.

It refuses to start without ECOM_API_KEY on anything but a loopback address unless told
`--insecure`. Every line it and its workers log is JSON (api.observability.log_config), and the
workers speak HTTP through api.protocol (header and body deadlines).
"""

from __future__ import annotations

import argparse
import logging
import logging.config
import os
import shutil
import tempfile

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from api.control import CONTROL_ENV, ControlDir, Coordinator
from api.families import FAMILIES
from api.observability import log_config
from api.protocol import PROTOCOL
from api.security import bind_problem, is_loopback
from pipeline.settings import Settings

log = logging.getLogger("api.supervisor")
APP = "api.main:create_app"
# A worker loads xgboost, shap, pyarrow and the models before it answers the supervisor's
# health pings as started: on a busy 2-core machine that can take a while.
WORKER_START_TIMEOUT_S = 120
GRACEFUL_SHUTDOWN_S = 30


class Supervisor(Multiprocess):
    """uvicorn's worker supervision, with model reloads on SIGHUP instead of worker restarts."""

    def __init__(self, config: uvicorn.Config, sockets: list, coordinator: Coordinator) -> None:
        super().__init__(config, sockets)
        self.coordinator = coordinator

    def worker_pids(self) -> list[int]:
        return [p.pid for p in list(self.processes) if p.pid and p.process.is_alive()]

    def handle_hup(self) -> None:
        self.coordinator.request_reload("SIGHUP")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m api", description="Serve the scoring API (settings: ECOM_* variables)."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (>= 1)")
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="serve without ECOM_API_KEY on an address other than loopback",
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.config.dictConfig(log_config())
    settings = Settings()
    insecure = args.insecure or settings.api_insecure
    problem = bind_problem(args.host, settings.api_key, insecure)
    if problem:
        log.error(problem)
        return 2
    if not settings.api_key and not is_loopback(args.host):
        log.warning(
            "serving on %s WITHOUT an API key (--insecure): every endpoint is open", args.host
        )
    control_path = tempfile.mkdtemp(prefix="ecom-api-")
    os.environ[CONTROL_ENV] = control_path  # the workers inherit it
    supervisor: Supervisor | None = None
    coordinator = Coordinator(
        ControlDir(control_path),
        settings,
        {f.name: f.pin(settings) for f in FAMILIES},
        [f.name for f in FAMILIES],
        [f.name for f in FAMILIES if f.required],
        workers=lambda: supervisor.worker_pids() if supervisor else [],
        interval=settings.api_reload_seconds,
    )
    try:
        coordinator.initial_plan()
        config = uvicorn.Config(
            APP,
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            http=PROTOCOL,
            log_config=log_config(),
            access_log=False,
            timeout_worker_healthcheck=WORKER_START_TIMEOUT_S,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        socket = config.bind_socket()
        supervisor = Supervisor(config, [socket], coordinator)
        coordinator.start()
        supervisor.run()
    finally:
        coordinator.stop()
        shutil.rmtree(control_path, ignore_errors=True)
    return 0
