"""`ecom serve api`, `ecom serve app`: one service on this machine until Ctrl-C (started by
pipeline.services, as the demo's are)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.progress import console

app = typer.Typer(help="Run a service on this machine (Ctrl-C stops it).", no_args_is_help=True)


@app.command("app")
@handles_errors
def serve_app(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    data_dir: DataDir = None,
) -> None:
    """The Streamlit app (streamlit_app/app.py): dashboard, predictor, bulk, monitoring.

    It calls the scoring API at API_URL (default http://127.0.0.1:8000) and reads the
    warehouse through ECOM_* settings.
    """
    from pipeline import services

    settings = settings_for(data_dir)
    services.require_free(host, port)
    service = services.app_service(settings, host=host, port=port, api_url=settings.api_url)
    code = services.run(
        [service],
        announce=lambda running: console.print(
            f"app: {running[-1].url}  (API_URL {settings.api_url}; Ctrl-C stops it)",
            highlight=False,
        ),
    )
    raise typer.Exit(code)


@app.command("api")
@handles_errors
def serve_api(
    host: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 in a container).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="uvicorn worker processes (about one per core).")
    ] = 1,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Serve without ECOM_API_KEY on an address other than loopback (refused "
            "otherwise): every endpoint is then open.",
        ),
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Serve the scoring API (`python -m api`: a supervisor and its uvicorn workers).

    Serves the current model version (or ECOM_MODEL_ID) under ECOM_MODELS_DIR, the same one in
    every worker; a promoted version is loaded within ECOM_API_RELOAD_SECONDS (or at once on
    `kill -HUP`), by every worker together. ECOM_API_KEY, ECOM_API_CORS_ORIGINS, ECOM_API_DOCS
    and ECOM_BULK_* configure it. Docs at http://HOST:PORT/docs (with the key, when set).
    """
    from api.security import bind_problem  # the service's own rule, said before it starts
    from pipeline import services
    from pipeline.errors import EcomError
    from pipeline.serving.registry import resolve

    settings = settings_for(data_dir)
    resolve(settings.models_dir, settings.model_id)  # no model: say `ecom train` now, not later
    problem = bind_problem(host, settings.api_key, insecure or settings.api_insecure)
    if problem:
        raise EcomError(problem)
    services.require_free(host, port)
    with services.metrics_dir(workers) as metrics_env:
        service = services.api_service(
            settings,
            host=host,
            port=port,
            workers=workers,
            insecure=insecure,
            ready=False,  # up as soon as it answers; /ready says when the model is loaded
            output="terminal",
            **metrics_env,
        )
        code = services.run(
            [service],
            announce=_announce_api,
        )
    raise typer.Exit(code)


def _announce_api(running: list) -> None:
    """Where the API answers, as one more JSON line in the service's log (stderr)."""
    import logging

    from api.observability import JsonLineFormatter

    url = running[0].url
    record = logging.makeLogRecord(
        {"name": "ecom.serve", "levelname": "INFO", "levelno": logging.INFO,
         "msg": f"API: {url}  (docs at {url}/docs; Ctrl-C stops it)"}
    )  # fmt: skip
    print(JsonLineFormatter().format(record), file=sys.stderr, flush=True)
