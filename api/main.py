"""The app factory: `uvicorn --factory api.main:create_app` (or `ecom serve api`).

Each worker builds its own app: settings from ECOM_* (or the argument), routers, the error
handlers, CORS for the app's origins, one observability middleware, and a lifespan that loads
the models in the background (/ready answers 503 until the session model is loaded; the moment
model is optional: /sessions/score answers 503 until one is).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.errors import install_error_handlers
from api.moment_state import MomentServed, MomentState
from api.observability import Metrics, ObservabilityMiddleware, configure_logging
from api.routers import bulk, health, metrics, model, predict, sessions
from api.security import API_KEY_HEADER, document_security
from api.state import Served, ServingState
from pipeline.settings import Settings

DESCRIPTION = """
Real-time and bulk scoring of finished cart sessions by the session model, and of live
sessions at a prediction point by the moment model (`/sessions/score`), with SHAP
explanations. Every error is JSON: `{"detail": "...", "errors": [{"row", "field", "message"}]}`.

When the service runs with `ECOM_API_KEY` set, every endpoint except `/health` and `/ready`
needs the key in the `X-API-Key` header. Send `X-Request-ID` to trace a call: it is echoed and
logged (one is made up otherwise).
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServingState = app.state.serving
    state.start()
    app.state.moment.start()
    try:
        yield
    finally:
        state.stop()
        app.state.moment.stop()


def create_app(settings: Settings | None = None) -> FastAPI:
    """A new app for `settings` (default: from the environment, ECOM_*)."""
    settings = settings or Settings()
    configure_logging()
    app = FastAPI(
        title="ecom-growth scoring API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = app_metrics = Metrics()
    app.state.serving = ServingState(settings)

    def on_loaded(served: Served | MomentServed) -> None:
        app_metrics.model_info.labels(served.model_ref["model_id"]).set(1)

    app.state.serving.on_loaded.append(on_loaded)
    # The moment family (issue 20): optional, loaded beside the session model.
    app.state.moment = MomentState(settings)
    app.state.moment.on_loaded.append(on_loaded)
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
    ):
        app.include_router(router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", API_KEY_HEADER, "X-Request-ID"],
            expose_headers=["X-Request-ID"],
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
