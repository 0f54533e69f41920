"""`Annotated` dependencies: a handler's signature says what it needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.observability import Metrics
from api.state import Served
from pipeline.settings import Settings


async def _served(request: Request) -> Served:
    state = request.app.state.serving
    served = state.served
    if served is None:
        raise ApiError(
            503,
            f"No model is loaded yet ({state.problem}). /ready turns 200 once one is; "
            "retry in a few seconds.",
            headers={"Retry-After": "5"},
        )
    return served


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


ServedModel = Annotated[Served, Depends(_served)]
AppSettings = Annotated[Settings, Depends(_settings)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]
