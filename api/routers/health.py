"""Liveness and readiness: open even when ECOM_API_KEY is set (probes carry no key)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.errors import JSONBytes, dumps, error_response
from api.schemas import HealthOut, ReadyOut, error_responses

router = APIRouter(tags=["health"])
_OK = dumps({"status": "ok"})


@router.get("/health", response_model=HealthOut, summary="Liveness: the process answers")
async def health() -> Response:
    """Always 200 while the process runs, model or not."""
    return JSONBytes(_OK)


@router.get(
    "/ready",
    response_model=ReadyOut,
    summary="Readiness: the models are loaded",
    responses=error_responses(503),
)
async def ready(request: Request) -> Response:
    """200 with the served versions once the session model is loaded (`models` names every
    family's, null for an optional family without a model yet, and `problems` says why; the
    moment model is optional, /sessions/score needs it); 503, saying why, before."""
    state = request.app.state.serving
    generation = state.current()
    if generation is None or generation.session is None:
        problem = state.problem or "the model is loading"
        return error_response(503, f"Not ready: {problem}.", headers={"Retry-After": "5"})
    models = {  # the versions served (a version that failed to load is not)
        family: version if generation.models.get(family) is not None else None
        for family, version in generation.versions.items()
    }
    return JSONBytes(
        dumps(
            {
                "status": "ready",
                "model_id": generation.session.model_ref["model_id"],
                "models": models,
                "problems": state.problems(generation),
            }
        )
    )
