"""Readiness, the model card, metrics, the API key, the model pin and the OpenAPI page."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from pipeline.serving import registry
from pipeline.settings import Settings
from tests.api.conftest import API_KEY, SESSION, ready_client


def test_ready_is_503_until_a_model_exists_then_200(tmp_path, trained_api_model, monkeypatch):
    monkeypatch.setattr("api.state.RETRY_SECONDS", 0.2)
    settings = Settings(data_dir=tmp_path / "data")
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        deadline = time.monotonic() + 10
        while "ecom train" not in client.get("/ready").json()["detail"]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        not_ready = client.get("/ready")
        assert not_ready.status_code == 503 and "Retry-After" in not_ready.headers
        scoring = client.post("/predict", json=SESSION)
        assert scoring.status_code == 503 and "ecom train" in scoring.json()["detail"]
        # a model appears (a volume mounted, a training finished): the worker picks it up
        shutil.copytree(trained_api_model.data_dir / "models", settings.models_dir)
        assert app.state.serving.wait(60)
        ready = client.get("/ready").json()
        assert (ready["status"], ready["model_id"]) == ("ready", trained_api_model.model.model_id)
        assert ready["models"]["session"] == ready["model_id"]
        assert client.post("/predict", json=SESSION).status_code == 200


def test_model_id_pins_a_version(tmp_path, trained_api_model):
    """ECOM_MODEL_ID serves that version, not the current one."""
    models_dir = tmp_path / "data" / "models"
    shutil.copytree(trained_api_model.data_dir / "models", models_dir)
    current = registry.resolve(models_dir)
    other = tmp_path / "staged"
    shutil.copytree(current, other)
    card = json.loads((other / "model_card.json").read_text())
    card["model_id"] = "abandonment-000000000042"
    (other / "model_card.json").write_text(json.dumps(card))
    registry.register(models_dir, other, make_current=False)
    assert registry.current_id(models_dir) == trained_api_model.model.model_id
    for client in ready_client(Settings(data_dir=tmp_path / "data", model_id=card["model_id"])):
        assert client.get("/ready").json()["model_id"] == "abandonment-000000000042"
        assert client.post("/predict", json=SESSION).json()["model"]["model_id"] == card["model_id"]


def test_model_card(client, trained_api_model):
    card = client.get("/model").json()
    model = trained_api_model.model
    assert card["model_id"] == model.model_id
    assert card["features"] == list(model.card["features"])
    assert card["evaluation"].keys() == model.card["evaluation"].keys()
    assert card["risk_thresholds"] == {"medium": 0.5, "high": 0.8}


def test_metrics_count_requests_in_prometheus_text(client):
    client.post("/predict?explain=false", json=SESSION)
    client.post("/predict", content="{", headers={"Content-Type": "application/json"})
    text = client.get("/metrics").text
    assert "# TYPE ecom_api_requests_total counter" in text
    assert 'ecom_api_requests_total{method="POST",route="/predict",status="200"}' in text
    assert 'ecom_api_requests_total{method="POST",route="/predict",status="400"}' in text
    assert (
        'ecom_api_request_duration_seconds_bucket{le="0.001",method="POST",route="/predict"}'
        in text
    )
    assert 'ecom_api_rows_scored_total{endpoint="predict"}' in text
    assert "ecom_api_model_info{model_id=" in text


@pytest.fixture(scope="module")
def keyed(trained_api_model):
    yield from ready_client(trained_api_model.settings(api_key=API_KEY))


@pytest.mark.parametrize(
    ("method", "path"),
    [("post", "/predict"), ("post", "/bulk_predict"), ("get", "/model"), ("get", "/metrics")],
)
def test_api_key_required_except_on_probes(keyed, method, path):
    kwargs = {"json": [SESSION] if path == "/bulk_predict" else SESSION} if method == "post" else {}
    no_key = getattr(keyed, method)(path, **kwargs)
    assert no_key.status_code == 401 and "X-API-Key" in no_key.json()["detail"]
    wrong = getattr(keyed, method)(path, headers={"X-API-Key": "wrong"}, **kwargs)
    assert wrong.status_code == 401
    almost = getattr(keyed, method)(path, headers={"X-API-Key": API_KEY[:-1].encode()}, **kwargs)
    assert almost.status_code == 401
    right = getattr(keyed, method)(path, headers={"X-API-Key": API_KEY.encode()}, **kwargs)
    assert right.status_code == 200, right.text


def test_probes_stay_open_with_a_key(keyed):
    assert keyed.get("/health").status_code == 200
    assert keyed.get("/ready").status_code == 200


def test_openapi_documents_fields_examples_and_status_codes(client):
    spec = client.get("/openapi.json").json()
    session = spec["components"]["schemas"]["SessionIn"]
    assert session["additionalProperties"] is False
    assert set(session["required"]) == set(SESSION)
    for name, field in session["properties"].items():
        assert field.get("description") and field.get("examples"), name
    predict = spec["paths"]["/predict"]["post"]
    assert {"200", "400", "401", "413", "422", "503"} <= set(predict["responses"])
    bulk = spec["paths"]["/bulk_predict"]["post"]
    assert {"200", "400", "401", "413", "415", "422", "503"} <= set(bulk["responses"])
    assert set(bulk["requestBody"]["content"]) == {
        "application/json",
        "multipart/form-data",
        "text/csv",
    }
    assert "text/csv" in bulk["responses"]["200"]["content"]
    for path in ("/model", "/metrics"):
        assert "401" in spec["paths"][path]["get"]["responses"]
    assert "503" in spec["paths"]["/ready"]["get"]["responses"]
    error = spec["components"]["schemas"]["ErrorOut"]
    assert set(error["required"]) == {"detail", "errors"}
    assert spec["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    for schema in ("PredictionOut", "ExplanationOut", "BulkOut", "Contribution"):
        for name, field in spec["components"]["schemas"][schema]["properties"].items():
            assert field.get("description") or "$ref" in field or "allOf" in field, (schema, name)
