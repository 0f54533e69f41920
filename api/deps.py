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
from api.state import Generation, Served
from pipeline.settings import Settings

MODEL_HEADER = "X-Model-Id"


@dataclass(frozen=True)
class Scoring:
    """What a scoring handler works with: the generation it scores with (its session model),
    the settings, the metrics."""

    served: Served
    generation: Generation
    settings: Settings
    metrics: Metrics


def not_ready(problem: str) -> ApiError:
    return ApiError(
        503,
        f"No model is loaded yet ({problem}). /ready turns 200 once one is; retry in a few "
        "seconds.",
        headers={"Retry-After": "5"},
    )


def scoring_of(request: Request) -> Scoring:
    """The served generation, settings and metrics; 503 while no session model is loaded."""
    state = request.app.state
    generation = state.serving.current()
    served = generation.session if generation is not None else None
    if served is None:
        raise not_ready(state.serving.problem or "the model is loading")
    return Scoring(served, generation, state.settings, state.metrics)


async def _scoring(request: Request) -> Scoring:
    return scoring_of(request)


async def _served(request: Request) -> Served:
    return scoring_of(request).served


async def _metrics(request: Request) -> Metrics:
    return request.app.state.metrics


ScoringContext = Annotated[Scoring, Depends(_scoring)]
ServedModel = Annotated[Served, Depends(_served)]
AppMetrics = Annotated[Metrics, Depends(_metrics)]
