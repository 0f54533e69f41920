"""The baseline of bench_api.py: a bare FastAPI app whose one endpoint returns a constant.

Served by uvicorn with the scoring API's worker count (no access log), it is the
framework's ceiling on this machine: /predict's requests/s are compared with its.
"""

from __future__ import annotations

from fastapi import FastAPI


def create_app() -> FastAPI:
    app = FastAPI()

    @app.get("/constant")
    async def constant() -> dict[str, str]:
        return {"status": "ok"}

    return app
