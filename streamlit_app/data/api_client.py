"""The scoring API as the app calls it (shared interface C4), over HTTP at API_URL only.

Two failure kinds, because the app shows them differently:
  ApiUnavailable  nothing answered in time (down, wrong address, too slow): the tab says so
                  and the rest of the app carries on
  ApiError        the API answered with an error (4xx/5xx): its `detail` and row-level
                  `errors` are shown as they are, since they say what to fix
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

# Connecting to a loopback or in-cluster service takes milliseconds: a slow connect means it
# is down. Reads get longer: a waterfall PNG takes ~0.3 s, a 100k-row bulk call a few seconds.
CONNECT_TIMEOUT = 2.0
PREDICT_TIMEOUT = 10.0
BULK_TIMEOUT = 120.0
STATUS_TIMEOUT = 3.0


class ApiUnavailable(Exception):
    """The API did not answer (refused, unreachable, timed out)."""


@dataclass
class ApiError(Exception):
    """The API answered with an error status; `detail` and `errors` are its own words."""

    status: int
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.status}: {self.detail}"


class ApiClient:
    """A thin httpx client; one per app process (it pools connections)."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(PREDICT_TIMEOUT, connect=CONNECT_TIMEOUT),
        )

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, *, timeout: float, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(
                method,
                path,
                timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
                **kwargs,
            )
        except httpx.TimeoutException as err:
            raise ApiUnavailable(
                f"The scoring API at {self.base_url} did not answer within {timeout:g} s: it "
                "may be overloaded or stuck. Try again in a minute; if it persists, whoever runs "
                "the service can restart it (`ecom serve api`)."
            ) from err
        except httpx.TransportError as err:
            # The socket's own words (an errno) say nothing a user can act on: say what to do.
            raise ApiUnavailable(
                f"The scoring API at {self.base_url} is not reachable: nothing answers there. "
                "Whoever runs the service can start it (`ecom serve api`, or `make demo`) or "
                "point the app's API_URL at it."
            ) from err
        if response.status_code >= 400:
            error = _error(response)
            if error.status == 401:
                error.detail += (
                    " The app sends ECOM_API_KEY as X-API-Key: give it the API's key."
                    if self._http.headers.get("X-API-Key")
                    else " The API wants a key: set ECOM_API_KEY for the app too."
                )
            raise error
        return response

    # ------------------------------------------------------------------ endpoints

    def health(self) -> dict[str, Any]:
        return self._request("GET", "/health", timeout=STATUS_TIMEOUT).json()

    def ready(self) -> dict[str, Any]:
        """{"status": "ready", "model_id": ...}; ApiError(503) while no model is loaded."""
        return self._request("GET", "/ready", timeout=STATUS_TIMEOUT).json()

    def model(self) -> dict[str, Any]:
        """The served model's card, with its model_id."""
        return self._request("GET", "/model", timeout=STATUS_TIMEOUT).json()

    def predict(self, session: Mapping[str, Any], *, explain: bool = True) -> dict[str, Any]:
        """One session -> probability, risk band, SHAP contributions, waterfall PNG (base64)."""
        return self._request(
            "POST",
            "/predict",
            params={"explain": "true" if explain else "false"},
            json=dict(session),
            timeout=PREDICT_TIMEOUT,
        ).json()

    def score_session(self, session: Mapping[str, Any]) -> dict[str, Any]:
        """A live session's events (and history, group) -> the moment model's calibrated
        probability, decision, SHAP contributions and the features built."""
        return self._request(
            "POST", "/sessions/score", json=dict(session), timeout=PREDICT_TIMEOUT
        ).json()

    def bulk_predict_csv(self, file_name: str, content: bytes) -> bytes:
        """Upload a CSV; get the scored CSV back exactly as the API writes it (the input
        columns plus abandonment_probability, risk_band, model_id)."""
        response = self._request(
            "POST",
            "/bulk_predict",
            files={"file": (file_name, content, "text/csv")},
            headers={"Accept": "text/csv"},
            timeout=BULK_TIMEOUT,
        )
        if "text/csv" not in response.headers.get("content-type", ""):
            raise ApiError(
                response.status_code,
                "The API answered /bulk_predict without a CSV (content type "
                f"{response.headers.get('content-type')!r}); is API_URL the scoring API?",
            )
        return response.content

    def bulk_predict_json(self, sessions: list[Mapping[str, Any]]) -> dict[str, Any]:
        return self._request(
            "POST", "/bulk_predict", json=[dict(s) for s in sessions], timeout=BULK_TIMEOUT
        ).json()


def _error(response: httpx.Response) -> ApiError:
    """C4's error body {"detail", "errors"}; anything else still becomes a readable error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        detail = body.get("detail")
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        if isinstance(detail, list):  # FastAPI's default validation shape, just in case
            errors = errors or [
                {
                    "row": None,
                    "field": ".".join(map(str, e.get("loc", [])[1:])) or None,
                    "message": e.get("msg", ""),
                }
                for e in detail
                if isinstance(e, dict)
            ]
            detail = "The API rejected the input."
        if isinstance(detail, str) and detail:
            return ApiError(
                response.status_code, detail, [e for e in errors if isinstance(e, dict)]
            )
    text = response.text.strip()[:300] or response.reason_phrase
    if response.status_code >= 500:
        return ApiError(response.status_code, f"The scoring API failed ({text}).")
    return ApiError(response.status_code, text)
