"""Every error the service answers is JSON: {"detail": ..., "errors": [{row, field, message}]}.

`ApiError` is raised by our own code; the handlers below turn FastAPI's and Starlette's own
errors (validation, 404, 405, body limits) into the same shape, with a message a caller can act
on. Validation problems with the body itself (empty, not JSON) are 400; invalid sessions 422.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pipeline.serving.features import FEATURES

# A response lists at most this many row/field errors; the detail gives the total.
MAX_LISTED_ERRORS = 100
SEND_JSON = "Send one session as a JSON object with Content-Type: application/json."


class ApiError(Exception):
    """An error answer: status, a message that says what to do, row/field details."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: Sequence[Mapping[str, Any]] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = [
            {"row": e.get("row"), "field": e.get("field"), "message": e["message"]}
            for e in errors[:MAX_LISTED_ERRORS]
        ]
        self.headers = dict(headers or {})


class JSONBytes(Response):
    """A JSON response whose body is already serialized (orjson, once, no re-validation)."""

    media_type = "application/json"


def dumps(content: Any) -> bytes:
    return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def error_body(detail: str, errors: Iterable[Mapping[str, Any]] = ()) -> bytes:
    return dumps({"detail": detail, "errors": list(errors)})


def error_response(
    status: int,
    detail: str,
    errors: Iterable[Mapping[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> Response:
    return JSONBytes(
        dumps({"detail": detail, "errors": list(errors)}), status_code=status, headers=headers
    )


def error_message(error: Mapping[str, Any]) -> str:
    """pydantic's message, made specific where a caller can do better with it."""
    kind = error.get("type", "")
    if kind == "missing":
        return "field required (send null for a missing value)"
    if kind == "extra_forbidden":
        return f"unknown field; the fields are {', '.join(FEATURES)}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole JSON number (not a string, a boolean or a fraction)"
    if kind in ("float_type", "float_parsing"):
        return "must be a JSON number (not a string or a boolean)"
    if kind == "finite_number":
        return "must be a finite number (not NaN or infinity)"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"a session must be a JSON object with {', '.join(FEATURES)}"
    return str(error.get("msg", "invalid value"))


def validation_items(
    errors: Iterable[Mapping[str, Any]], *, row_offset: int | None = None
) -> list[dict[str, Any]]:
    """pydantic errors -> [{row, field, message}]. With row_offset the first location element
    is a list index (bulk rows), reported 1-based."""
    items = []
    for error in errors:
        loc = [p for p in error.get("loc", ()) if p not in ("body", "query", "header")]
        row = None
        if row_offset is not None and loc and isinstance(loc[0], int):
            row = loc.pop(0) + row_offset
        field = next((str(part) for part in loc if isinstance(part, str)), None)
        items.append({"row": row, "field": field, "message": error_message(error)})
    return items


def summarize(items: Sequence[Mapping[str, Any]], what: str) -> str:
    """'Invalid session: total_views: must be ...; ...' (the first few, then a count)."""
    parts = []
    for item in items[:3]:
        where = ", ".join(
            p
            for p in (
                f"row {item['row']}" if item.get("row") is not None else "",
                str(item["field"]) if item.get("field") else "",
            )
            if p
        )
        parts.append(f"{where}: {item['message']}" if where else str(item["message"]))
    more = f" (and {len(items) - 3} more)" if len(items) > 3 else ""
    return f"{what}: {'; '.join(parts)}{more}."


async def _api_error(request: Request, exc: ApiError) -> Response:
    return error_response(exc.status, exc.detail, exc.errors, exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
    errors = list(exc.errors())
    body_errors = [e for e in errors if tuple(e.get("loc", ()))[:1] == ("body",)]
    for error in body_errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            position = loc[1] if len(loc) > 1 else "?"
            reason = (error.get("ctx") or {}).get("error", "JSON decode error")
            return error_response(
                400, f"The body is not valid JSON ({reason} at position {position}). {SEND_JSON}"
            )
        if loc == ("body",) and error.get("type") == "missing":
            return error_response(400, f"The body is empty. {SEND_JSON}")
        if loc == ("body",):
            return error_response(
                422,
                f"The body must be one session, a JSON object. {SEND_JSON}",
                [{"row": None, "field": None, "message": error_message(error)}],
            )
    items = validation_items(errors)
    return error_response(422, summarize(items, "Invalid request"), items)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    detail = str(exc.detail)
    if exc.status_code == 404:
        detail = f"No endpoint {request.url.path}. The endpoints are listed at /docs."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}. See /docs."
    elif exc.status_code == 400 and "parsing the body" in detail:
        detail = f"The body could not be parsed. {SEND_JSON}"
    return error_response(exc.status_code, detail, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
