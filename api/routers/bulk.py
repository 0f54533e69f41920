"""Many sessions at once: a JSON array, an uploaded CSV (multipart) or a raw text/csv body."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import Response

from api import bulk
from api.deps import ScoringContext
from api.errors import ApiError, JSONBytes
from api.schemas import BulkOut, error_responses
from api.security import SECURITY, ApiKey
from pipeline.serving.features import FEATURES
from pipeline.serving.risk import risk_bands

router = APIRouter(prefix="/bulk_predict", tags=["scoring"], dependencies=[ApiKey])

CSV_EXAMPLE = (
    ",".join(FEATURES) + "\n3,1,12.5,treatment\n8,2,,control\n"
)  # an empty cell is a missing value
_OPENAPI: dict[str, Any] = {
    "security": SECURITY,
    "requestBody": {
        "required": True,
        "description": "A JSON array of sessions, a CSV file in the multipart field `file`, or "
        "a raw CSV body (`Content-Type: text/csv`). CSV: a header naming exactly the four "
        "features, UTF-8 (a BOM is fine), LF or CRLF, empty cell = missing.",
        "content": {
            "application/json": {
                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/SessionIn"}},
                "example": [
                    {
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
            "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
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


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (no unbounded buffer)."""
    too_large = ApiError(
        413,
        f"The body is over the limit of {limit:,} bytes per request (ECOM_BULK_MAX_BYTES): "
        "split the input into smaller requests.",
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def _csv_from_form(request: Request, body: bytes) -> bytes:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, receive).form(max_files=1, max_fields=10)
    except Exception as err:  # python-multipart's and Starlette's parse errors
        raise ApiError(400, f"The multipart body could not be parsed ({err}).") from None
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise ApiError(
            422,
            "Send the CSV as a file in the multipart form field 'file' "
            "(curl -F file=@sessions.csv).",
            [{"row": None, "field": "file", "message": "missing file"}],
        )
    data = await upload.read()
    await form.close()
    return data


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
async def bulk_predict(request: Request, scoring: ScoringContext) -> Response:
    """Validates every row first (a bad row is a 422 naming its row and field: nothing is
    scored), then scores all rows in one vectorized call, in input order. Limits:
    ECOM_BULK_MAX_ROWS rows and ECOM_BULK_MAX_BYTES bytes per request (413 beyond)."""
    served, settings, metrics = scoring.served, scoring.settings, scoring.metrics
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type not in ("application/json", "multipart/form-data", "text/csv"):
        raise ApiError(
            415,
            f"Unsupported Content-Type {content_type or '(none)'!r}: send application/json "
            "(an array of sessions), multipart/form-data (a CSV in the field 'file') or "
            "text/csv.",
        )
    body = await _read_body(request, settings.bulk_max_bytes)
    if content_type == "multipart/form-data":
        body = await _csv_from_form(request, body)
    as_csv = _wants_csv(request.headers.get("accept"))

    def score() -> bytes:
        if content_type == "application/json":
            batch = bulk.parse_json(body, settings.bulk_max_rows)
        else:
            batch = bulk.parse_csv(body, settings.bulk_max_rows)
        probabilities = served.scorer.probabilities(batch.matrix) if batch.rows else np.empty(0)
        bands = risk_bands(probabilities, served.thresholds)
        metrics.rows.labels("bulk_predict").inc(batch.rows)
        if as_csv:
            return bulk.csv_bytes(batch, probabilities, bands, served.model_ref["model_id"])
        return bulk.json_bytes(served.model_ref, served.thresholds, probabilities, bands)

    content = await run_in_threadpool(score)
    if as_csv:
        return Response(content, media_type="text/csv; charset=utf-8")
    return JSONBytes(content)
