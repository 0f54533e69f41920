"""The optional API key (ECOM_API_KEY): required on every endpoint but /health and /ready.

A plain dependency that reads the header itself (not fastapi.security.APIKeyHeader, which adds
a second dependency to solve on every request); the OpenAPI page still documents the scheme:
`SECURITY` goes on each protected operation, `document_security` adds the scheme.
"""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from fastapi import Depends, FastAPI, Request

from api.errors import ApiError

API_KEY_HEADER = "X-API-Key"
SCHEME = "APIKeyHeader"
SECURITY: list[dict[str, list[str]]] = [{SCHEME: []}]


async def require_api_key(request: Request) -> None:
    """401 unless X-API-Key equals the configured key (compared in constant time)."""
    expected = request.app.state.settings.api_key
    if not expected:
        return
    provided = request.headers.get("x-api-key")
    # Header values arrive latin-1 decoded: re-encoding gives the bytes that were sent.
    if provided is None or not hmac.compare_digest(
        provided.encode("latin-1"), expected.encode("utf-8")
    ):
        raise ApiError(
            401,
            f"Missing or wrong {API_KEY_HEADER} header: this service requires its API key "
            "(ECOM_API_KEY) on every endpoint except /health and /ready.",
            headers={"WWW-Authenticate": API_KEY_HEADER},
        )


ApiKey = Depends(require_api_key)


def document_security(app: FastAPI) -> None:
    """Add the API-key scheme to the OpenAPI components (operations list it in `security`)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME] = {
                "type": "apiKey",
                "in": "header",
                "name": API_KEY_HEADER,
                "description": "Required when the service runs with ECOM_API_KEY set.",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def is_loopback(host: str) -> bool:
    """Whether an address to bind is this machine's loopback only ('' and 0.0.0.0 are not)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def bind_problem(host: str, api_key: str | None, insecure: bool) -> str | None:
    """Why the service must not start on `host` (None when it may): without a key, only on
    loopback, unless the operator says --insecure."""
    if api_key or insecure or is_loopback(host):
        return None
    return (
        f"Refusing to serve on {host or 'every address'} without an API key: whoever reaches "
        "it could call every endpoint. Set ECOM_API_KEY (callers send it in X-API-Key), bind "
        "to 127.0.0.1, or pass --insecure (ECOM_API_INSECURE=true) to serve it open on purpose."
    )
