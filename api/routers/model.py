"""The served model's card."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from api.deps import MODEL_HEADER, ServedModel
from api.errors import JSONBytes, dumps
from api.schemas import ModelCardOut, error_responses
from api.security import SECURITY, ApiKey

router = APIRouter(prefix="/model", tags=["model"], dependencies=[ApiKey])


@router.get(
    "",
    response_model=ModelCardOut,
    summary="The model card of the served version",
    openapi_extra={"security": SECURITY},
    responses=error_responses(401, 503),
)
async def model_card(served: ServedModel) -> Response:
    """model_card.json as training wrote it (metrics, parameters, data window, row counts,
    library versions), plus the served `model_id` and the risk thresholds in use."""
    return JSONBytes(
        dumps(
            {
                **served.card,
                "model_id": served.model_ref["model_id"],
                "risk_thresholds": served.thresholds,
            }
        ),
        headers={MODEL_HEADER: served.model_ref["model_id"]},
    )
