"""The API's own documentation (/docs, /redoc, /openapi.json), under the key rule.

ECOM_API_DOCS: "key" (default) serves them to callers with the API key when one is set (the
schema names every endpoint and field: on a public address it is the attacker's map too),
"open" to anyone, "off" to no one (404).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import Response

from api.errors import JSONBytes, dumps
from api.security import require_api_key

router = APIRouter(include_in_schema=False)
OPENAPI_URL = "/openapi.json"


async def _allowed(request: Request) -> None:
    rule = request.app.state.settings.api_docs
    if rule == "off":
        from starlette.exceptions import HTTPException

        raise HTTPException(404)
    if rule == "key":
        await require_api_key(request)


@router.get(OPENAPI_URL)
async def openapi(request: Request) -> Response:
    await _allowed(request)
    return JSONBytes(dumps(request.app.openapi()))


@router.get("/docs")
async def swagger(request: Request) -> Response:
    await _allowed(request)
    return get_swagger_ui_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - docs")


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    await _allowed(request)
    return get_redoc_html(openapi_url=OPENAPI_URL, title=f"{request.app.title} - ReDoc")
