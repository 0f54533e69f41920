"""One session: probability, risk band, SHAP contributions and (optionally) the waterfall."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import ScoringContext
from api.errors import JSONBytes, dumps
from api.schemas import PredictionOut, SessionIn, error_responses
from api.scorer import sigmoid
from api.security import SECURITY, ApiKey
from api.waterfall import Waterfall, render_png
from pipeline.model.features import FEATURES, encode_value
from pipeline.model.risk import risk_band

router = APIRouter(prefix="/predict", tags=["scoring"], dependencies=[ApiKey])
MAX_BODY_BYTES = 64 * 1024  # one session is ~120 bytes


def _shown(value: Any) -> str:
    """A value as the caller typed it: 3, 12.5, treatment; null as 'missing'."""
    if value is None:
        return "missing"
    return value if isinstance(value, str) else repr(value)


@router.post(
    "",
    response_model=PredictionOut,
    summary="Score one cart session and explain the score",
    responses=error_responses(400, 401, 413, 422, 503),
    openapi_extra={"security": SECURITY},
)
async def predict(
    session: SessionIn,
    scoring: ScoringContext,
    explain: Annotated[
        bool,
        Query(description="Draw the SHAP waterfall PNG (false skips it: much faster)."),
    ] = True,
) -> Response:
    """P(abandoned) of one session, its risk band and the thresholds behind it, the SHAP
    contributions of each feature on the log-odds scale (base value + contributions = the
    margin, whose sigmoid is the probability), the model version, and with `explain=true`
    the waterfall as a base-64 PNG, labelled with the values as sent."""
    served = scoring.served
    values = [getattr(session, name) for name in FEATURES]
    result = served.scorer.explain(
        [encode_value(n, v) for n, v in zip(FEATURES, values, strict=True)]
    )
    margin = result.margin
    band = risk_band(result.probability, served.thresholds)
    png = None
    if explain:
        picture = Waterfall(
            FEATURES,
            [_shown(v) for v in values],
            result.contributions,
            result.base_value,
            result.probability,
            band,
        )
        png = base64.b64encode(await run_in_threadpool(render_png, picture)).decode("ascii")
    scoring.metrics.rows.labels("predict").inc()
    return JSONBytes(
        dumps(
            {
                "abandonment_probability": result.probability,
                "risk_band": band,
                "risk_thresholds": served.thresholds,
                "explanation": {
                    "scale": "log-odds",
                    "base_value": result.base_value,
                    "base_probability": sigmoid(result.base_value),
                    "margin": margin,
                    "probability": sigmoid(margin),
                    "contributions": [
                        {"feature": name, "value": value, "shap_value": shap_value}
                        for name, value, shap_value in zip(
                            FEATURES, values, result.contributions, strict=True
                        )
                    ],
                },
                "model": served.model_ref,
                "waterfall_png": png,
            }
        )
    )
