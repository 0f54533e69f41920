"""A small real FastAPI app speaking the scoring API's contract (C4), for the app's tests only
until `api/main.py` lands on main: the real model, real SHAP values, real HTTP on loopback.

Served with `uvicorn --factory tests.app.stand_in_api:create_app`; the model folder comes from
the settings (ECOM_MODELS_DIR), as the real service's does.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from pipeline.model import registry
from pipeline.model.artifact import load_model
from pipeline.model.explain import explain_matrix, explainer_for, waterfall_png
from pipeline.model.features import FEATURES, encode_value
from pipeline.model.risk import risk_band, risk_bands, thresholds_for
from pipeline.settings import Settings


def _error(status: int, detail: str, errors: list[dict] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    model = load_model(registry.resolve(settings.models_dir, settings.model_id))
    explainer = explainer_for(model)
    thresholds = thresholds_for(model.card)
    info = {
        "model_id": model.model_id,
        "engine": model.card.get("engine"),
        "trained_at": model.card.get("trained_at"),
    }
    app = FastAPI()

    @app.middleware("http")
    async def require_key(request: Request, call_next):
        open_paths = {"/health", "/ready"}
        key = request.headers.get("x-api-key")
        if settings.api_key and request.url.path not in open_paths and key != settings.api_key:
            return _error(401, "Missing or invalid X-API-Key.")
        return await call_next(request)

    def encode(rows: list[dict[str, Any]]) -> tuple[np.ndarray | None, list[dict]]:
        errors = []
        for i, row in enumerate(rows, start=1):
            for name in FEATURES:
                try:
                    encode_value(name, row.get(name))
                except ValueError as err:
                    errors.append({"row": i, "field": name, "message": str(err)})
        if errors:
            return None, errors
        return model.encode(rows), []

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> dict:
        return {"status": "ready", "model_id": model.model_id}

    @app.get("/model")
    def card() -> dict:
        return {**model.card, "model_id": model.model_id}

    @app.post("/predict")
    async def predict(request: Request, explain: bool = True) -> Any:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "The body is not valid JSON.")
        if not isinstance(body, dict):
            return _error(422, "The body must be one session object.")
        matrix, errors = encode([body])
        if matrix is None:
            return _error(422, "The session is invalid.", [{**e, "row": None} for e in errors])
        p = float(model.predict_matrix(matrix)[0])
        ex = explain_matrix(model, matrix, explainer)
        margin = float(ex.base_value + ex.values[0].sum())
        return {
            "abandonment_probability": p,
            "risk_band": risk_band(p, thresholds),
            "risk_thresholds": thresholds,
            "explanation": {
                "scale": "log-odds",
                "base_value": ex.base_value,
                "base_probability": 1 / (1 + math.exp(-ex.base_value)),
                "margin": margin,
                "probability": 1 / (1 + math.exp(-margin)),
                "contributions": [
                    {"feature": name, "value": body.get(name), "shap_value": float(v)}
                    for name, v in zip(FEATURES, ex.values[0], strict=True)
                ],
            },
            "model": info,
            "waterfall_png": base64.b64encode(waterfall_png(ex, 0)).decode() if explain else None,
        }

    @app.post("/bulk_predict")
    async def bulk(request: Request) -> Any:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                return _error(422, "Send the CSV in the form field 'file'.")
            raw = await upload.read()
            text = raw.decode("utf-8-sig")
            reader = csv.DictReader(io.StringIO(text, newline=""))
            header = reader.fieldnames or []
            rows = []
            for record in reader:
                row: dict[str, Any] = dict(record)
                for name in FEATURES:
                    value = (record.get(name) or "").strip()
                    if name == "experiment_group":
                        row[name] = value or None
                    elif value == "":
                        row[name] = None
                    else:
                        try:
                            number = float(value)
                            row[name] = (
                                int(number) if name != "session_duration_minutes" else number
                            )
                        except ValueError:
                            row[name] = value
                rows.append(row)
        else:
            body = await request.json()
            header, rows = list(FEATURES), body
        if len(rows) > settings.bulk_max_rows:
            return _error(413, f"At most {settings.bulk_max_rows} rows per call.")
        matrix, errors = encode(rows)
        if matrix is None:
            return _error(422, f"{len({e['row'] for e in errors})} rows are invalid.", errors)
        p = model.predict_matrix(matrix)
        bands = risk_bands(p, thresholds)
        if "text/csv" in request.headers.get("accept", ""):
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow([*header, "abandonment_probability", "risk_band", "model_id"])
            for record, prob, band in zip(rows, p, bands, strict=True):
                values = ["" if record.get(c) is None else record.get(c) for c in header]
                writer.writerow([*values, repr(float(prob)), band, model.model_id])
            return Response(out.getvalue(), media_type="text/csv")
        return {
            "model": info,
            "count": len(rows),
            "predictions": [
                {"row": i, "abandonment_probability": float(prob), "risk_band": str(band)}
                for i, (prob, band) in enumerate(zip(p, bands, strict=True), start=1)
            ],
        }

    return app
