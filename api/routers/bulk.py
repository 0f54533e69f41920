"""Many sessions at once: a JSON array, an uploaded CSV (multipart) or a raw text/csv body."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from api.deps import MODEL_HEADER, scoring_of
from api.errors import ApiError, JSONBytes
from api.observability import current_request_id
from api.schemas import BulkOut, error_responses
from api.security import SECURITY, require_api_key
from pipeline.serving.features import FEATURES

router = APIRouter(prefix="/bulk_predict", tags=["scoring"])

CSV_EXAMPLE = (
    "session_id," + ",".join(FEATURES) + "\nA-1,3,1,12.5,treatment\nA-2,8,2,,control\n"
)  # an empty cell is a missing value; session_id passes through
# What a CSV body looks like, for the schema (and for generated test bodies): the header, then
# rows of counts, a duration and a group, any of them empty (missing). The service also takes
# the features in any order, other columns, quoted values and semicolons (see the description).
_CELL = {
    "total_views": r"(0|[1-9][0-9]{0,4})?",
    "total_carts": r"([1-9][0-9]{0,4})?",
    "session_duration_minutes": r"([0-9]{1,4}(\.[0-9]{1,3})?)?",
    "experiment_group": r"(control|treatment)?",
}
CSV_PATTERN = rf"^{','.join(FEATURES)}\r?\n({','.join(_CELL[f] for f in FEATURES)}\r?\n)*$"
_OPENAPI: dict[str, Any] = {
    "security": SECURITY,
    "requestBody": {
        "required": True,
        "description": "A JSON array of sessions, a CSV file in the multipart field `file`, or "
        "a raw CSV body (`Content-Type: text/csv`). CSV: UTF-8 (a BOM is fine), LF, CRLF or "
        "CR, comma- or semicolon-separated (detected from the header), RFC 4180 quoting, a "
        "header naming the four features once each in any order, empty cell = missing. Other "
        "columns (JSON: other fields, with string, number, boolean or null values) pass "
        "through and come back beside the scores.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/BulkSessionIn"},
                },
                "example": [
                    {
                        "session_id": "A-1",
                        "total_views": 3,
                        "total_carts": 1,
                        "session_duration_minutes": 12.5,
                        "experiment_group": "treatment",
                    },
                    {
                        "total_views": 8,
                        "total_carts": 2,
                        "session_duration_minutes": None,
                        "experiment_group": "control",
                    },
                ],
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The CSV file.",
                        }
                    },
                }
            },
            "text/csv": {
                "schema": {"type": "string", "pattern": CSV_PATTERN},
                "example": CSV_EXAMPLE,
            },
        },
    },
}


def _wants_csv(accept: str | None) -> bool:
    """True when Accept ranks text/csv above application/json (q-values honoured)."""
    if not accept:
        return False
    best: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        best[media.lower()] = max(q, best.get(media.lower(), 0.0))
    csv_q = best.get("text/csv", 0.0)
    json_q = max(best.get("application/json", 0.0), best.get("*/*", 0.0) - 1e-9)
    return csv_q > 0 and csv_q > json_q


async def _read_body(request: Request, limit: int) -> bytearray:
    """The body, refused with 413 as soon as it passes `limit` bytes; held once (one buffer,
    sized from Content-Length when given), never as chunks plus their join."""
    too_large = ApiError(
        413,
        f"The body is over the limit of {limit:,} bytes per request (ECOM_BULK_MAX_BYTES): "
        "split the input into smaller requests.",
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        if len(body) + len(chunk) > limit:
            raise too_large
        body += chunk
    return body


@router.post(
    "",
    response_model=BulkOut,
    summary="Score many sessions in one call",
    responses={
        200: {
            "description": "JSON by default; the input columns plus abandonment_probability, "
            "risk_band and model_id as CSV with `Accept: text/csv`.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **error_responses(400, 401, 413, 415, 422, 503),
    },
    openapi_extra=_OPENAPI,
)
async def bulk_predict(request: Request) -> Response:
    """Validates every row first (a bad row is a 422 naming its row and field: nothing is
    scored), then scores all rows in one vectorized call, in input order. Columns other than
    the four features (an id, a segment) come back beside the scores. Limits:
    ECOM_BULK_MAX_ROWS rows and ECOM_BULK_MAX_BYTES bytes per request (413 beyond); a worker
    runs ECOM_BULK_CONCURRENCY calls at once and queues ECOM_BULK_QUEUE more (503 with
    Retry-After beyond)."""
    await require_api_key(request)
    scoring = scoring_of(request)
    settings, metrics = scoring.settings, scoring.metrics
    content_type = request.headers.get("content-type") or ""
    kind = content_type.split(";")[0].strip().lower()
    if kind not in ("application/json", "multipart/form-data", "text/csv"):
        raise ApiError(
            415,
            f"Unsupported Content-Type {kind or '(none)'!r}: send application/json "
            "(an array of sessions), multipart/form-data (a CSV in the field 'file') or "
            "text/csv.",
        )
    pool = request.app.state.bulk
    async with pool.admission():
        body = await _read_body(request, settings.bulk_max_bytes)
        generation = request.app.state.serving.current() or scoring.generation
        header = {
            "content_type": content_type,
            "csv_answer": _wants_csv(request.headers.get("accept")),
            "max_rows": settings.bulk_max_rows,
            "request_id": current_request_id(),
        }
        answer, content = await pool.run(generation.number, header, body)
        del body
    status = int(answer.get("status", 500))
    if status >= 500 and answer.get("media_type") != "application/json":
        raise RuntimeError(f"the bulk process failed ({answer.get('problem')})")
    if status != 200:
        return JSONBytes(content, status_code=status)
    metrics.rows.labels("bulk_predict").inc(int(answer.get("rows", 0)))
    return Response(
        content,
        media_type=str(answer["media_type"]),
        headers={MODEL_HEADER: str(answer.get("model_id", ""))},
    )
