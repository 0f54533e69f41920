"""Request ids, structured JSON logs and Prometheus metrics: one pure ASGI middleware.

One middleware rather than three (and no BaseHTTPMiddleware) because each layer costs
microseconds on every request, and /predict's whole budget is a few hundred of them.

- X-Request-ID: accepted when it looks like an id (<= 128 of [A-Za-z0-9._:-]), else a new
  one; echoed on every response and put on every log line of the request.
- Logs: one JSON line per request (method, path, route, status, duration, request id, client).
  Never a body, a query string or a header value: uploaded contents and the API key stay out.
  Every other line is JSON too: the supervisor's, uvicorn's, the libraries' (python-multipart's
  warnings, Python warnings), through the root logger.
- HEAD is served wherever GET is (the GET route answers; the server sends no body).
- Metrics: prometheus-client counters and histograms, labelled by route template (bounded).
  With several uvicorn workers `ecom serve api` sets PROMETHEUS_MULTIPROC_DIR and /metrics
  aggregates all workers (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import contextvars
import logging
import logging.config
import os
import re
import sys
import time
import uuid
from typing import Any

import orjson
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import dumps

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
REQUEST_ID_HEADER = "x-request-id"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

access_log = logging.getLogger("api.access")
log = logging.getLogger("api")


# What a LogRecord carries by itself; anything else on it came in through `extra=`.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request id and every
    `extra=` field (a traceback as `exc_info`).

    Written here rather than python-json-logger's formatter because this runs on every request
    (the access line) and that one cost ~110 us a line on this machine, a fifth of a /predict
    request's whole CPU time; this one is ~10 us (the same fields, orjson once)."""

    _second = -1
    _stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """logging's default time format, the date part made once a second."""
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS:
                line[key] = value
        if line.get("request_id") is None:
            line["request_id"] = request_id_var.get()
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        line.pop("color_message", None)  # uvicorn's ANSI-coloured duplicate
        return orjson.dumps(line, default=str).decode()


def log_config(level: str = "INFO") -> dict[str, Any]:
    """The logging configuration (logging.config.dictConfig) of every process of the service:
    JSON lines on stderr from the root logger, which every logger reaches (uvicorn's, the
    supervisor's, python-multipart's); uvicorn's access log off (the middleware logs each
    request once, with its id). uvicorn applies it in the supervisor and in each worker."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLineFormatter"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
        },
    }


# Loggers that write in a worker besides the root logger's: the service's, uvicorn's, and the
# libraries' whose lines would otherwise be plain text.
_NAMED = ("api", "uvicorn", "uvicorn.error", "python_multipart", "multipart", "py.warnings")


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the service's, uvicorn's and the libraries' loggers, and for
    Python warnings (idempotent). The root logger gets the JSON handler when nothing else
    configured it (a process of its own); a host process (tests) keeps its own."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    for name in _NAMED:
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level)
        logger.propagate = False
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers = []
    uvicorn_access.propagate = False
    uvicorn_access.disabled = True
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(handler)
        root.setLevel(level)
    logging.captureWarnings(True)
    # What a record would otherwise look up on every line (the caller's frame, the thread's
    # and process's names): the JSON lines carry none of it (logging's documented switches).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


class Metrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "ecom_api_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "ecom_api_request_duration_seconds",
            "Time from the first byte received to the last byte sent, by route.",
            ("method", "route"),
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.rows = Counter(
            "ecom_api_rows_scored",
            "Sessions scored, by endpoint.",
            ("endpoint",),
            registry=self.registry,
        )
        self.predict_rows = self.rows.labels("predict")  # looked up once: /predict's budget
        self.model_info = Gauge(
            "ecom_api_model_info",
            "1 for the model version this worker serves.",
            ("model_id",),
            registry=self.registry,
            multiprocess_mode="max",
        )

    def render(self) -> tuple[bytes, str]:
        """Prometheus text exposition: this worker's metrics, or all workers' in multiprocess
        mode."""
        if os.environ.get(MULTIPROC_ENV):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class ObservabilityMiddleware:
    """Request id, one access-log line and the request metrics, for every HTTP request.

    Also the last line of defence: an exception no handler took becomes a JSON 500 that
    carries the request id (and the traceback goes to the log, not to the caller).
    """

    def __init__(
        self, app: ASGIApp, metrics: Metrics, body_limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.body_limits = body_limits or {}
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, method: str, template: str, status: int) -> tuple[Any, Any]:
        """The labelled counter and histogram of a request, looked up once per label set
        (`labels()` costs ~10 us a call; route templates and statuses are few)."""
        key = (method, template, status)
        found = self._children.get(key)
        if found is None:
            found = (
                self.metrics.requests.labels(method, template, str(status)),
                self.metrics.latency.labels(method, template),
            )
            self._children[key] = found
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope.get("method", "")
        head = method == "HEAD"
        if head:  # answered by the GET route, without its body
            scope = {**scope, "method": "GET"}
        incoming = _header(scope, b"x-request-id")
        request_id = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        status = 500
        response_started = False
        id_header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), id_header]
            elif head and message.get("body"):
                message = {**message, "body": b""}
            await send(message)

        limit = self.body_limits.get(scope.get("path", ""))
        if limit is not None:
            receive = _limited(scope, receive, limit)
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not response_started:
                body = dumps(
                    {
                        "detail": f"Internal error (request id {request_id}); it is logged. "
                        "Retry, or report the request id.",
                        "errors": [],
                    }
                )
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            id_header,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
            status = 500
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            counter, histogram = self._series(method, template, status)
            counter.inc()
            histogram.observe(elapsed)
            access_log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope.get("path"),
                    "route": template,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                    "client": (scope.get("client") or ("", 0))[0],
                    "request_id": request_id,
                },
            )
            request_id_var.reset(token)


def _limited(scope: Scope, receive: Receive, limit: int) -> Receive:
    """`receive` that refuses a body over `limit` bytes, declared or streamed, with a 413
    (an HTTPException: FastAPI passes those through its body reading to our handler)."""
    from starlette.exceptions import HTTPException

    too_large = HTTPException(413, f"The request body is over the limit of {limit:,} bytes.")
    declared = _header(scope, b"content-length")
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_large
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise too_large
        return message

    return limited


def current_request_id() -> str | None:
    return request_id_var.get()
