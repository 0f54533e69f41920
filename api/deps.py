"""`Annotated` dependencies: a handler's signature says what it needs.

One dependency per need, resolved once per request: FastAPI's dependency solving costs tens of
microseconds a node, a real share of /predict's budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.errors import ApiError
from api.observability import Metrics
from api.state import Served
from pipeline.settings import Settings


@dataclass(frozen=True)
class Scoring:
    """What a scoring handler works with: the loaded model, the settings, the metrics."""

    served: Served
    settings: Settings
    metrics: Metrics


def scoring_of(request: Request) -> Scoring:
    """The loaded model, settings and metrics; 503 while no model is loaded."""
    state = request.app.state
    served = state.serving.served
    if served is None:
        raise ApiError(
            503,
            f"No model is loaded yet ({state.serving.problem}). /ready turns 200 once one is; "
            "retry in a few seconds.",
            headers={"Retry-After": "5"},
        )
    return Scoring(served, state.settings, state.metrics)


async def _scoring(request: Request) -> Scoring:
    return scoring_of(request)


async def _served(request: Request) -> Served:
    return scoring_of(request).served


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


ScoringContext = Annotated[Scoring, Depends(_scoring)]
ServedModel = Annotated[Served, Depends(_served)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]
