"""The app factory: `uvicorn --factory api.main:create_app`, run by `python -m api` (the
supervisor, api.supervisor) or `ecom serve api`.

Each worker builds its own app: settings from ECOM_* (or the argument), routers, the error
handlers, CORS for the app's origins, one observability middleware, its bulk process(es), and
a lifespan that loads the served model versions of every family (api.families) before the
worker takes any traffic (the moment model is optional: /sessions/score answers 503 until
there is one).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api import protocol
from api.bulk_pool import BulkPool
from api.errors import install_error_handlers
from api.observability import Metrics, ObservabilityMiddleware, configure_logging
from api.routers import bulk, docs, health, metrics, model, predict, sessions
from api.security import API_KEY_HEADER, document_security
from api.state import Generation, ServingState
from pipeline.settings import Settings

DESCRIPTION = """
Real-time and bulk scoring of finished cart sessions by the session model, and of live
sessions at a prediction point by the moment model (`/sessions/score`), with SHAP
explanations. Every error is JSON: `{"detail": "...", "errors": [{"row", "field", "message"}]}`.

When the service runs with `ECOM_API_KEY` set, every endpoint except `/health` and `/ready`
needs the key in the `X-API-Key` header (this schema and /docs too, unless `ECOM_API_DOCS` says
otherwise). Every scoring answer names the model version that made it (in its body and in the
`X-Model-Id` header). Send `X-Request-ID` to trace a call: it is echoed and logged (one is made
up otherwise).
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServingState = app.state.serving
    await run_in_threadpool(state.start)  # before the worker accepts a connection
    try:
        yield
    finally:
        state.stop()
        await run_in_threadpool(app.state.bulk.stop)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app for `settings` (default: from the environment, ECOM_*)."""
    settings = settings or Settings()
    configure_logging()
    protocol.configure(settings.api_header_timeout_s, settings.api_body_timeout_s)
    app = FastAPI(
        title="ecom-growth scoring API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by api.routers.docs, under the key rule
        redoc_url=None,
        openapi_url=None,
        # FastAPI's OpenTelemetry hook checks its providers on every request (~20 us here);
        # the service has its own metrics (/metrics) and logs.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.metrics = app_metrics = Metrics()
    app.state.bulk = BulkPool(settings.bulk_concurrency, settings.bulk_queue)
    app.state.serving = ServingState(settings, bulk=app.state.bulk)

    def on_switch(now: Generation, previous: Generation | None) -> None:
        served = {m.model_ref["model_id"] for m in now.models.values() if m is not None}
        if previous is not None:
            for m in previous.models.values():
                if m is not None and m.model_ref["model_id"] not in served:
                    app_metrics.model_info.labels(m.model_ref["model_id"]).set(0)
        for model_id in served:
            app_metrics.model_info.labels(model_id).set(1)

    app.state.serving.on_switch.append(on_switch)
    install_error_handlers(app)
    document_security(app)
    predict.document_body(app)
    sessions.document_body(app)
    for router in (
        health.router,
        predict.router,
        sessions.router,
        bulk.router,
        model.router,
        metrics.router,
        docs.router,
    ):
        app.include_router(router)
    predict.install_fast_route(app, "/predict", predict.predict)
    predict.install_fast_route(app, "/sessions/score", sessions.score)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", API_KEY_HEADER, "X-Request-ID"],
            expose_headers=["X-Request-ID", "X-Model-Id"],
            max_age=600,
        )
    app.add_middleware(
        ObservabilityMiddleware,
        metrics=app_metrics,
        body_limits={
            "/predict": predict.MAX_BODY_BYTES,
            "/sessions/score": sessions.MAX_BODY_BYTES,
        },
    )
    return app
