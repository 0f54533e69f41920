"""The optional API key (ECOM_API_KEY): required on every endpoint but /health and /ready."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import ApiError

API_KEY_HEADER = "X-API-Key"
api_key_header = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required when the service runs with ECOM_API_KEY set.",
)


async def require_api_key(
    request: Request, provided: Annotated[str | None, Security(api_key_header)]
) -> None:
    """401 unless X-API-Key equals the configured key (compared in constant time)."""
    expected = request.app.state.settings.api_key
    if not expected:
        return
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
RequireKey = Annotated[None, ApiKey]
