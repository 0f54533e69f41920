"""The served model's card, per family."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from api.deps import MODEL_HEADER, scoring_of
from api.errors import JSONBytes, dumps
from api.routers.sessions import served_moment
from api.schemas import ModelCardOut, MomentCardOut, error_responses
from api.security import SECURITY, ApiKey

router = APIRouter(prefix="/model", tags=["model"], dependencies=[ApiKey])
FAMILY_DESCRIPTION = (
    "session: the whole-session model (/predict); moment: the live-session model "
    "(/sessions/score), whose card comes with its calibration and decision rule."
)


@router.get(
    "",
    response_model=ModelCardOut | MomentCardOut,
    summary="The model card of the served version",
    openapi_extra={"security": SECURITY},
    responses=error_responses(401, 422, 503),
)
async def model_card(
    request: Request,
    family: Literal["session", "moment"] = Query("session", description=FAMILY_DESCRIPTION),
) -> Response:
    """model_card.json as training wrote it (metrics, parameters, data window, row counts,
    library versions), plus the served `model_id` and the risk thresholds in use; for the
    moment family also its `probability_calibration` (Platt) and `decision_rule`."""
    if family == "moment":
        served = served_moment(request)
        calibration = served.scorer.calibration
        extra = {
            "family": "moment",
            "probability_calibration": asdict(calibration),
            "decision_rule": {**asdict(served.rule), "source": served.rule_source},
        }
    else:
        served, extra = scoring_of(request).served, {}
    return JSONBytes(
        dumps(
            {
                **served.card,
                "model_id": served.model_ref["model_id"],
                "risk_thresholds": served.thresholds,
                **extra,
            }
        ),
        headers={MODEL_HEADER: served.model_ref["model_id"]},
    )
