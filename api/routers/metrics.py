"""Prometheus metrics in the text exposition format."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import AppMetrics
from api.schemas import error_responses
from api.security import SECURITY, ApiKey

router = APIRouter(prefix="/metrics", tags=["monitoring"], dependencies=[ApiKey])


@router.get(
    "",
    summary="Prometheus metrics",
    openapi_extra={"security": SECURITY},
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}}},
            "description": "Request counts, latency histograms, rows scored, model info.",
        },
        **error_responses(401),
    },
)
async def metrics(metrics: AppMetrics) -> Response:
    """Counters `ecom_api_requests_total{method,route,status}`, histograms
    `ecom_api_request_duration_seconds{method,route}`, `ecom_api_rows_scored_total{endpoint}`
    and `ecom_api_model_info{model_id}`."""
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)
