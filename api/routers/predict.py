"""One session: probability, risk band, SHAP contributions and (optionally) the waterfall."""

from __future__ import annotations

import base64
import email.message
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from api.deps import MODEL_HEADER, scoring_of
from api.errors import SEND_JSON, ApiError, JSONBytes, dumps
from api.scan import json_depth_exceeds, line_and_column
from api.schemas import BulkSessionIn, PredictionOut, SessionIn, error_responses
from api.security import SECURITY, require_api_key
from api.waterfall import Waterfall, render_png
from pipeline.serving.features import FEATURES, GROUP_CODES
from pipeline.serving.risk import risk_band
from pipeline.serving.trees import sigmoid

router = APIRouter(prefix="/predict", tags=["scoring"])
MAX_BODY_BYTES = 64 * 1024  # one session is ~120 bytes
NESTING_LIMIT = 16  # a session is one flat object: anything this deep is not one
EXPLAIN_DESCRIPTION = "Draw the SHAP waterfall PNG (false skips it: much faster)."
_BOOL = TypeAdapter(bool)  # a query flag as FastAPI reads one: true/false, 1/0, yes/no, on/off

# /predict reads its body and its flag itself rather than through FastAPI's parameters: the
# dependency and body machinery cost ~300 us a request here, more than the model and the rest
# of the request together (measured in-process: 585 -> ~250 us of CPU). It does exactly what
# FastAPI does for a JSON body model (same content-type rule, same errors, same handlers), and
# the operation documents the body and the flag itself, so /docs and the schema are unchanged.
OPENAPI = {
    "security": SECURITY,
    "parameters": [
        {
            "name": "explain",
            "in": "query",
            "required": False,
            "description": EXPLAIN_DESCRIPTION,
            "schema": {
                "type": "boolean",
                "default": True,
                "title": "Explain",
                "description": EXPLAIN_DESCRIPTION,
            },
        }
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionIn"}}},
    },
}


def document_body(app: FastAPI) -> None:
    """Put SessionIn in the schema's components, where OPENAPI's requestBody points (FastAPI
    adds only the models its parameters use)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schemas = schema.setdefault("components", {}).setdefault("schemas", {})
            schemas["SessionIn"] = SessionIn.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            schemas["BulkSessionIn"] = BulkSessionIn.model_json_schema(
                ref_template="#/components/schemas/{model}"
            )
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    if content_type == "application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _invalid(errors: list[dict[str, Any]]) -> RequestValidationError:
    return RequestValidationError(errors)


def _not_json(body: bytes, offset: int) -> ApiError:
    line, column = line_and_column(body, offset)
    return ApiError(
        400, f"The body is not valid JSON (near line {line}, column {column}). {SEND_JSON}"
    )


async def read_session(request: Request) -> SessionIn:
    """The body as one SessionIn: 415 unless it is JSON, 400 when it cannot be read (nested
    deeper than NESTING_LIMIT included), else FastAPI's errors for a body model."""
    content_type = request.headers.get("content-type")
    if not _is_json(content_type):
        kind = (content_type or "").split(";")[0].strip() or "(none)"
        raise ApiError(415, f"Unsupported Content-Type {kind!r}. {SEND_JSON}")
    body = await request.body()
    if not body:
        raise _invalid([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
    deep = json_depth_exceeds(body, NESTING_LIMIT)
    if deep is not None:
        raise ApiError(400, f"The body is nested deeper than {NESTING_LIMIT} levels. {SEND_JSON}")
    try:
        value: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        try:  # the standard parser reads NaN and Infinity, so they get a 422 naming the field
            value = json.loads(body)
        except json.JSONDecodeError as err:
            raise _not_json(body, err.pos) from None
        except (ValueError, RecursionError):  # not UTF-8/16/32
            raise ApiError(400, f"The body is not UTF-8 JSON. {SEND_JSON}") from None
    try:
        return SessionIn.model_validate(value)
    except ValidationError as err:
        raise _invalid(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors(include_url=False)]
        ) from err


def read_explain(request: Request) -> bool:
    query: bytes = request.scope.get("query_string", b"")
    if not query:
        return True
    raw = None
    for part in query.split(b"&"):  # the last one wins, as in Starlette's query_params
        name, _, value = part.partition(b"=")
        if unquote_plus(name.decode("latin-1")) == "explain":
            raw = unquote_plus(value.decode("latin-1"))
    if raw is None:
        return True
    try:
        return _BOOL.validate_python(raw)
    except ValidationError as err:
        raise _invalid(
            [{**e, "loc": ("query", "explain")} for e in err.errors(include_url=False)]
        ) from err


_GROUP = FEATURES.index("experiment_group")
_NAN = float("nan")


def _encode(values: list[Any]) -> list[float]:
    """A validated session's values as the booster sees them (what encode_value gives, without
    checking the ranges SessionIn has checked): None -> NaN, the group -> its code."""
    group = values[_GROUP]
    out = [_NAN if v is None else float(v) for i, v in enumerate(values) if i != _GROUP]
    out.insert(_GROUP, _NAN if group is None else float(GROUP_CODES[group]))
    return out


def install_fast_route(app: FastAPI, path: str, handler: Callable[[Request], Any]) -> None:
    """Serve POST `path` from a plain Starlette route placed first: FastAPI's routing and
    dependency solving (~60-100 us a request here, measured in-process) are skipped, while
    the APIRoute stays for the OpenAPI schema. Same handler, same error handlers (the app's
    exception middleware wraps every route). Used for the real-time endpoints, whose handlers
    take only the request and check the key themselves."""
    from starlette.routing import Match, Route

    class FastRoute(Route):
        def matches(self, scope: Any) -> tuple[Match, dict[str, Any]]:
            match, child = super().matches(scope)
            if match is not Match.NONE:
                child["route"] = self  # the route template the access log and metrics name
            return match, child

    app.router.routes.insert(0, FastRoute(path, handler, methods=["POST"]))


def _shown(value: Any) -> str:
    """A value as the caller typed it: 3, 12.5, treatment; null as 'missing'."""
    if value is None:
        return "missing"
    return value if isinstance(value, str) else repr(value)


@router.post(
    "",
    response_model=PredictionOut,
    summary="Score one cart session and explain the score",
    responses=error_responses(400, 401, 413, 415, 422, 503),
    openapi_extra=OPENAPI,
)
async def predict(request: Request) -> Response:
    """P(abandoned) of one session, its risk band and the thresholds behind it, the SHAP
    contributions of each feature on the log-odds scale (base value + contributions = the
    margin, whose sigmoid is the probability), the model version, and with `explain=true`
    the waterfall as a base-64 PNG, labelled with the values as sent."""
    await require_api_key(request)
    scoring = scoring_of(request)
    explain = read_explain(request)
    session = await read_session(request)
    served = scoring.served
    values = [getattr(session, name) for name in FEATURES]
    result = served.scorer.explain(_encode(values))
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
    scoring.metrics.predict_rows.inc()
    model_ref = served.model_ref
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
                "model": model_ref,
                "waterfall_png": png,
            }
        ),
        headers={MODEL_HEADER: model_ref["model_id"]},
    )
