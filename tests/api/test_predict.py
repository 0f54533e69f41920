"""POST /predict in-process: numbers equal the loader, the TreeExplainer and the SQL macro;
strict validation; the C4 response and error shapes."""

from __future__ import annotations

import base64
import io
import json
import math

import duckdb
import numpy as np
import pytest
import xgboost as xgb
from PIL import Image

from pipeline.model.sql_scoring import install_macros
from pipeline.serving.features import FEATURES
from pipeline.serving.risk import DEFAULT_THRESHOLDS, risk_band
from tests.api.conftest import SESSION, ready_client

# Sessions with missing values and values on and around split thresholds.
SESSIONS = [
    SESSION,
    {**SESSION, "session_duration_minutes": None},
    {**SESSION, "experiment_group": None, "total_views": None},
    {
        "total_views": 0,
        "total_carts": 1,
        "session_duration_minutes": 0.0,
        "experiment_group": "control",
    },
    {
        "total_views": 40,
        "total_carts": 6,
        "session_duration_minutes": 300.25,
        "experiment_group": "control",
    },
    {
        "total_views": None,
        "total_carts": None,
        "session_duration_minutes": None,
        "experiment_group": None,
    },
    {
        "total_views": 100_000,
        "total_carts": 100_000,
        "session_duration_minutes": 10_080,
        "experiment_group": "treatment",
    },
]


def encoded(session: dict) -> list[float]:
    """Hand encoding (treatment = 1, null = NaN), independent of the service's."""
    group = {"treatment": 1.0, "control": 0.0, None: math.nan}[session["experiment_group"]]
    return [
        math.nan if session[name] is None else float(session[name]) for name in FEATURES[:3]
    ] + [group]


def sql_scores(model, sessions) -> list[float]:
    with duckdb.connect() as con:
        install_macros(con, model)
        out = []
        for s in sessions:
            row = con.execute(
                "select predict_abandonment(?, ?, ?, abandonment_group_code(?))",
                [
                    s["total_views"],
                    s["total_carts"],
                    s["session_duration_minutes"],
                    s["experiment_group"],
                ],
            ).fetchone()
            out.append(row[0])
    return out


def test_scores_equal_loader_sql_and_explainer(client, trained_api_model):
    model = trained_api_model.model
    X = np.array([encoded(s) for s in SESSIONS])
    loader = model.predict_matrix(X)
    sql = sql_scores(model, SESSIONS)
    contribs = model.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    import shap

    shap_values = shap.TreeExplainer(model.booster).shap_values(X)
    for i, session in enumerate(SESSIONS):
        body = client.post("/predict?explain=false", json=session).json()
        p = body["abandonment_probability"]
        assert p == pytest.approx(loader[i], abs=1e-6)
        assert p == pytest.approx(sql[i], abs=1e-6)
        ex = body["explanation"]
        assert ex["scale"] == "log-odds"
        got = [c["shap_value"] for c in ex["contributions"]]
        np.testing.assert_allclose(got, shap_values[i], atol=1e-5)
        np.testing.assert_allclose(got, contribs[i, :-1], atol=1e-5)
        assert ex["base_value"] == pytest.approx(contribs[i, -1], abs=1e-5)
        # additivity, stated in the answer itself
        assert ex["margin"] == pytest.approx(ex["base_value"] + sum(got), abs=1e-9)
        assert ex["probability"] == pytest.approx(1 / (1 + math.exp(-ex["margin"])), abs=1e-12)
        assert ex["probability"] == pytest.approx(p, abs=1e-6)
        assert ex["base_probability"] == pytest.approx(1 / (1 + math.exp(-ex["base_value"])))
        assert [c["feature"] for c in ex["contributions"]] == list(FEATURES)
        assert [c["value"] for c in ex["contributions"]] == [session[f] for f in FEATURES]
        assert body["risk_band"] == risk_band(p, DEFAULT_THRESHOLDS)
        assert body["risk_thresholds"] == DEFAULT_THRESHOLDS
        assert body["model"]["model_id"] == model.model_id
        assert body["model"]["engine"] == "local"
        assert body["waterfall_png"] is None


def test_missing_value_follows_the_default_branch_not_an_imputation(client, trained_api_model):
    """null must score as SQL NULL does: the trees' default branch (not 0, not a mean)."""
    model = trained_api_model.model
    body = client.post("/predict?explain=false", json={**SESSION, "total_views": None}).json()
    missing = model.predict_matrix(np.array([encoded({**SESSION, "total_views": None})]))[0]
    assert body["abandonment_probability"] == pytest.approx(missing, abs=1e-6)
    assert body["abandonment_probability"] == pytest.approx(
        sql_scores(model, [{**SESSION, "total_views": None}])[0], abs=1e-6
    )


def test_waterfall_png_is_a_picture(client):
    body = client.post("/predict", json=SESSION).json()
    png = base64.b64decode(body["waterfall_png"])
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size[0] >= 600 and image.size[1] >= 300
    # explain=true and explain=false agree on every number
    fast = client.post("/predict?explain=false", json=SESSION).json()
    assert {k: v for k, v in body.items() if k != "waterfall_png"} == {
        k: v for k, v in fast.items() if k != "waterfall_png"
    }


def test_bqml_export_with_means_is_served_on_the_log_odds_scale(bqml_api_model):
    """A multi:softprob export: contributions explain log(p / (1 - p)) and add up to it;
    the missing duration is imputed by the export's mean, as the loader and SQL do."""
    model = bqml_api_model.model
    for client in ready_client(bqml_api_model.settings()):
        for session in SESSIONS[:6]:
            body = client.post("/predict?explain=false", json=session).json()
            p = model.predict_matrix(np.array([encoded(session)]))[0]
            assert body["abandonment_probability"] == pytest.approx(p, abs=1e-6)
            assert body["abandonment_probability"] == pytest.approx(
                sql_scores(model, [session])[0], abs=1e-6
            )
            assert body["explanation"]["margin"] == pytest.approx(math.log(p / (1 - p)), abs=1e-5)
            assert body["model"] == {
                "model_id": "abandonment-bqmltest0001",
                "engine": "bqml",
                "trained_at": "2026-01-01",
            }


INVALID = [
    # (raw JSON body, field the 422 must name)
    (
        '{"total_views": NaN, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null}',
        "total_views",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": NaN, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": Infinity, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": -Infinity, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": 1e999, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": -1, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null}',
        "total_views",
    ),
    (
        '{"total_views": 1, "total_carts": 0, "session_duration_minutes": 1, "experiment_group": null}',
        "total_carts",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": -0.5, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": 10081, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": 100001, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null}',
        "total_views",
    ),
    (
        '{"total_views": "3", "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null}',
        "total_views",
    ),
    (
        '{"total_views": 3, "total_carts": 1, "session_duration_minutes": "12.5", "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": true, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null}',
        "total_views",
    ),
    (
        '{"total_views": 1, "total_carts": false, "session_duration_minutes": 1, "experiment_group": null}',
        "total_carts",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": true, "experiment_group": null}',
        "session_duration_minutes",
    ),
    (
        '{"total_views": 3.5, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null}',
        "total_views",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": "treatmnt"}',
        "experiment_group",
    ),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": 1}',
        "experiment_group",
    ),
    ('{"total_views": 1, "total_carts": 1, "session_duration_minutes": 1}', "experiment_group"),
    (
        '{"total_views": 1, "total_carts": 1, "session_duration_minutes": 1, "experiment_group": null, "total_view": 2}',
        "total_view",
    ),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_invalid_sessions_are_422_naming_the_field(client, body, field):
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    payload = response.json()
    assert set(payload) == {"detail", "errors"}
    assert field in payload["detail"]
    assert [e["field"] for e in payload["errors"]] == [field]
    assert payload["errors"][0]["row"] is None


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ("", 400, "empty"),
        ("{", 400, "not valid JSON"),
        ('{"total_views": 3,', 400, "not valid JSON"),
        ("not json at all", 400, "not valid JSON"),
        ("[]", 422, "JSON object"),
        ('"a string"', 422, "JSON object"),
        ("null", 422, "JSON object"),
    ],
)
def test_empty_and_unparsable_bodies(client, body, status, words):
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert words in response.json()["detail"]
    assert response.json()["errors"] == [] or status == 422


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/json; charset=utf-8", 200),
        ("application/vnd.ecom+json", 200),
        ("text/plain", 415),  # only a JSON content type is read as JSON
        (None, 415),
    ],
)
def test_content_type_decides_whether_the_body_is_json(client, content_type, status):
    headers = {"Content-Type": content_type} if content_type else {}
    body = json.dumps(SESSION).encode()
    response = client.post("/predict?explain=false", content=body, headers=headers)
    assert response.status_code == status, response.text
    if status == 415:
        assert "Content-Type: application/json" in response.json()["detail"]


def test_whole_floats_are_counts(client):
    """JSON Schema's integer includes 3.0: it scores as 3 (and is echoed as 3)."""
    as_float = client.post("/predict?explain=false", json={**SESSION, "total_views": 3.0}).json()
    as_int = client.post("/predict?explain=false", json=SESSION).json()
    assert as_float == as_int


def test_explain_query_is_validated(client):
    response = client.post("/predict?explain=perhaps", json=SESSION)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "explain"


def test_oversized_predict_body_is_413(client):
    body = '{"total_views": 1, "pad": "' + "x" * 70_000 + '"}'
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert "65,536 bytes" in response.json()["detail"]

    def chunks():  # no Content-Length: refused while streaming
        for _ in range(80):
            yield b"x" * 1000

    streamed = client.post(
        "/predict", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413


def test_unknown_route_and_method_are_json(client):
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and "/docs" in missing.json()["detail"]
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.json()["errors"] == []
    assert "POST" in wrong.headers["allow"]


def test_request_id_is_echoed_or_made(client):
    given = client.get("/health", headers={"X-Request-ID": "trace-42.a:b"})
    assert given.headers["x-request-id"] == "trace-42.a:b"
    made = client.get("/health")
    assert len(made.headers["x-request-id"]) == 32
    junk = client.get("/health", headers={"X-Request-ID": "bad id\twith spaces"})
    assert junk.headers["x-request-id"] != "bad id\twith spaces"
    # errors carry it too
    assert (
        client.post("/predict", content="{", headers={"X-Request-ID": "e1"}).headers["x-request-id"]
        == "e1"
    )


def test_cors_only_for_the_app_origin(client):
    allowed = client.options(
        "/predict",
        headers={"Origin": "http://localhost:8501", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:8501"
    other = client.options(
        "/predict",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in other.headers
    simple = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers
