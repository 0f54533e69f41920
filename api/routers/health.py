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
    summary="Readiness: a model is loaded",
    responses=error_responses(503),
)
async def ready(request: Request) -> Response:
    """200 once the session model is loaded (503, saying why, before), with the version served
    per family: the moment model is optional (null while none is loaded, and why in
    `problems`); /sessions/score needs it."""
    state = request.app.state.serving
    if state.served is None:
        return error_response(503, f"Not ready: {state.problem}.", headers={"Retry-After": "5"})
    session_id = state.served.model_ref["model_id"]
    moment = request.app.state.moment
    moment_id = None if moment.served is None else moment.served.model_ref["model_id"]
    return JSONBytes(
        dumps(
            {
                "status": "ready",
                "model_id": session_id,
                "models": {"session": session_id, "moment": moment_id},
                "problems": {} if moment_id else {"moment": moment.problem},
            }
        )
    )
