"""The app's API client against a real server on loopback: answers, the API's own error
bodies, and the two ways an API is unavailable (refused, hung)."""

from __future__ import annotations

import pytest

from streamlit_app.data import api_client
from streamlit_app.data.api_client import ApiClient, ApiError, ApiUnavailable
from streamlit_app.data.bulk import batches, check_upload, template_csv
from tests.app.conftest import API_KEY

SESSION = {
    "total_views": 3,
    "total_carts": 1,
    "session_duration_minutes": 12.5,
    "experiment_group": "treatment",
}


def test_predict_and_bulk_follow_the_contract(api_server) -> None:
    client = ApiClient(api_server.url, API_KEY)
    assert client.health() == {"status": "ok"}
    ready = client.ready()
    assert ready["status"] == "ready" and ready["model_id"].startswith("abandonment-")
    assert client.model()["model_id"] == ready["model_id"]
    result = client.predict(SESSION, explain=False)
    assert 0 < result["abandonment_probability"] < 1
    assert result["risk_band"] in {"low", "medium", "high"}
    assert result["waterfall_png"] is None
    contributions = result["explanation"]["contributions"]
    margin = result["explanation"]["base_value"] + sum(c["shap_value"] for c in contributions)
    assert margin == pytest.approx(result["explanation"]["margin"], abs=1e-4)
    (batch,) = batches(check_upload(template_csv()).frame, 10, 10_000)  # features only
    scored = client.bulk_predict_csv("sessions.csv", batch.csv).decode().splitlines()
    as_json = client.bulk_predict_json(
        [
            {
                "total_views": 3,
                "total_carts": 1,
                "session_duration_minutes": 12.5,
                "experiment_group": "treatment",
            }
        ]
    )
    assert len(scored) == 4
    assert float(scored[1].split(",")[-3]) == pytest.approx(
        as_json["predictions"][0]["abandonment_probability"], rel=1e-9
    )


def test_the_apis_error_body_reaches_the_caller(api_server) -> None:
    client = ApiClient(api_server.url, API_KEY)
    with pytest.raises(ApiError) as err:
        client.predict({**SESSION, "total_carts": 0})
    assert err.value.status == 422
    assert err.value.detail
    assert any(e.get("field") == "total_carts" for e in err.value.errors)


def test_refused_and_hung_are_unavailable(refused_url: str, hung_url: str, monkeypatch) -> None:
    with pytest.raises(ApiUnavailable, match=r"not reachable.*ecom serve api"):
        ApiClient(refused_url).ready()
    monkeypatch.setattr(api_client, "STATUS_TIMEOUT", 0.3)
    with pytest.raises(ApiUnavailable, match=r"did not answer within 0\.3 s"):
        ApiClient(hung_url).ready()


def test_a_missing_or_wrong_key_says_what_to_set(api_server) -> None:
    with pytest.raises(ApiError) as err:
        ApiClient(api_server.url).predict(SESSION)
    assert err.value.status == 401
    assert "set ECOM_API_KEY for the app too" in err.value.detail
    with pytest.raises(ApiError) as err:
        ApiClient(api_server.url, "wrong").predict(SESSION)
    assert err.value.status == 401
    assert "give it the API's key" in err.value.detail
