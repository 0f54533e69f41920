"""POST /sessions/score: a live session's events -> the moment model's calibrated P(abandon),
its band, the decision to intervene, the SHAP contributions and the features built.

The features are built by pipeline.serving.moment.features_at, the one definition the
warehouse's training rows follow too. The body is read and validated here (pydantic, from the
JSON bytes) rather than by FastAPI's body machinery, for /predict's reason: it costs more than
the model. The operation documents its body itself.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import ValidationError
from starlette.responses import Response

from api.errors import ApiError, JSONBytes, dumps, error_message, summarize
from api.moment_family import MomentServed
from api.routers.predict import _is_json
from api.schemas import error_responses
from api.security import SECURITY, require_api_key
from api.session_schemas import LiveSessionIn, SessionScoreOut
from pipeline.experiment.assignment import assign_group
from pipeline.serving import moment
from pipeline.serving.features import GROUP_CODES
from pipeline.serving.registry import MOMENT
from pipeline.serving.risk import risk_band

router = APIRouter(prefix="/sessions", tags=["live sessions"])
# 2,000 events of ~230 bytes each, with room for history and whitespace.
MAX_BODY_BYTES = 1024 * 1024
SEND_JSON = "Send the session as a JSON object with Content-Type: application/json."
OPENAPI = {
    "security": SECURITY,
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/LiveSessionIn"}}},
    },
}


def document_body(app: FastAPI) -> None:
    """Put LiveSessionIn (and its parts) in the schema's components, where OPENAPI points."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            found = LiveSessionIn.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(found.pop("$defs", {}))
            schemas["LiveSessionIn"] = found
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def served_moment(request: Request) -> MomentServed:
    """The loaded moment version; 503 saying what to run while there is none."""
    state = request.app.state.serving
    generation = state.current()
    served = None if generation is None else generation.models.get(MOMENT)
    if served is None:
        problem = state.problem if generation is None else state.problems(generation)[MOMENT]
        raise ApiError(503, f"No moment model is served: {problem}.", headers={"Retry-After": "10"})
    return served


async def read_live_session(request: Request) -> LiveSessionIn:
    """The body as a LiveSessionIn, or a 400/415/422 that names what to fix."""
    content_type = request.headers.get("content-type")
    body = await request.body()
    if not body:
        raise ApiError(400, f"The body is empty. {SEND_JSON}")
    if not _is_json(content_type):
        raise ApiError(415, f"Content-Type {content_type or '(none)'} is not JSON. {SEND_JSON}")
    try:
        return LiveSessionIn.model_validate_json(body)
    except ValidationError as err:
        errors = err.errors(include_url=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise ApiError(400, f"The body is not valid JSON. {SEND_JSON}") from err
        items = [_item(e) for e in errors]
        raise ApiError(422, summarize(items, "Invalid session"), items) from err


def _item(error: dict[str, Any]) -> dict[str, Any]:
    """A pydantic error as {row, field, message}; field is a JSON path (events[3].price)."""
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path else str(part)
    if error["type"] == "extra_forbidden":
        message = "unknown field: see LiveSessionIn in /docs for the fields"
    elif error["type"] == "model_type" and not path:
        message = "the body must be one JSON object (events, history, experiment_group, ...)"
    else:
        message = error_message(error)
    return {"row": None, "field": path or None, "message": message}


def _group(session: LiveSessionIn) -> int:
    derived = None if session.user_id is None else assign_group(session.user_id)
    if session.experiment_group is None and derived is None:
        raise _unscorable("experiment_group", "send experiment_group or user_id")
    if session.experiment_group is not None and derived not in (None, session.experiment_group):
        raise _unscorable(
            "experiment_group",
            f"user {session.user_id} is in {derived}, not {session.experiment_group}: send one "
            "of the two, or both in agreement",
        )
    return GROUP_CODES[session.experiment_group or derived]  # type: ignore[index]


def _unscorable(field: str, message: str) -> ApiError:
    return ApiError(
        422,
        f"This session cannot be scored: {message}.",
        [{"row": None, "field": field, "message": message}],
    )


def _iso(us: int) -> str:
    return (
        datetime.fromtimestamp(us // 1_000_000, UTC)
        .replace(microsecond=us % 1_000_000)
        .isoformat()
        .replace("+00:00", "Z")
    )


def _number(value: float) -> float | None:
    return None if math.isnan(value) else value


@router.post(
    "/score",
    summary="Score a live session at its last event (or at as_of) with the moment model",
    response_model=SessionScoreOut,
    responses=error_responses(400, 401, 413, 415, 422, 503),
    openapi_extra=OPENAPI,
)
async def score(request: Request) -> Response:
    """The moment model's answer for the session so far: the CALIBRATED probability that the
    cart is abandoned (no purchase in the rest of the session), its risk band, whether to
    intervene (the expected value of acting under the version's decision rule, whose recovery
    share is an assumption), the SHAP contributions on the booster's margin (before
    calibration), the 18 features built from the events, the point scored and the model.
    Missing history is scored as missing."""
    await require_api_key(request)
    served = served_moment(request)
    session = await read_live_session(request)
    group = _group(session)
    events = [
        moment.Event(
            moment.epoch_us(e.event_time),
            e.event_type,
            e.product_id,
            e.category_id,
            e.brand,
            e.price,
        )
        for e in session.events
    ]
    as_of_us = None if session.as_of is None else moment.epoch_us(session.as_of)
    history = None if session.history is None else session.history.model_dump()
    try:
        features = moment.features_at(
            events, group, history, as_of_us=as_of_us, now_us=time.time_ns() // 1000
        )
    except moment.MomentInputError as err:
        raise _unscorable("events", str(err)) from err
    result = served.scorer.score(moment.to_row(features))
    p = result.probability
    rule = served.rule
    price = features["cart_price"]
    request.app.state.metrics.rows.labels("sessions_score").inc()
    calibration = served.scorer.calibration
    return JSONBytes(
        dumps(
            {
                "abandonment_probability": p,
                "risk_band": risk_band(p, served.thresholds),
                "risk_thresholds": served.thresholds,
                "decision": {
                    "intervene": rule.intervene(p, price),
                    "expected_value": rule.expected_value(p, price),
                    "break_even_probability": rule.break_even_probability(price),
                    "cart_price": price,
                    "gross_margin_rate": rule.gross_margin_rate,
                    "recovery_share": rule.recovery_share,
                    "intervention_cost": rule.intervention_cost,
                    "rule_source": served.rule_source,
                },
                "explanation": {
                    "scale": "margin",
                    "base_value": result.base_value,
                    "margin": result.margin,
                    "calibration": {
                        "slope": calibration.slope,
                        "intercept": calibration.intercept,
                        "fitted_on": calibration.fitted_on,
                    },
                    "contributions": [
                        {"feature": name, "value": _number(features[name]), "shap_value": shap}
                        for name, shap in zip(moment.FEATURES, result.contributions, strict=True)
                    ],
                },
                "features": {name: _number(value) for name, value in features.items()},
                "point": {
                    "at": _iso(as_of_us if as_of_us is not None else max(e.at_us for e in events)),
                    "kind": "last_event" if as_of_us is None else "as_of",
                    "events": len(events),
                },
                "model": served.model_ref,
            }
        )
    )
