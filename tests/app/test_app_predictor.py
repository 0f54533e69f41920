"""The Real-Time Predictor tab's session model through AppTest: sliders and the radio drive
/predict calls; a stopped or hung API is reported in the tab (in both modes)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from streamlit_app.data import api_client
from tests.app.apptest import Downloads, metric, no_exception, open_app, switch_tab, texts
from tests.app.conftest import KEY_HEADER, Pipeline

PREDICTOR = "Real-Time Predictor"
PROBABILITY = "Probability the cart is abandoned"


def finished_mode(at):
    """The seed's sliders: the session model (the tab opens on the live mode)."""
    return at.radio(key="p_mode").set_value("finished").run()


def direct(url: str, session: dict) -> dict:
    """The same question asked of the API without the app."""
    response = httpx.post(
        f"{url}/predict", params={"explain": "false"}, json=session, headers=KEY_HEADER, timeout=30
    )
    response.raise_for_status()
    return response.json()


def test_sliders_and_radio_ask_the_api(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    downloads = Downloads(monkeypatch)
    at = finished_mode(open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=PREDICTOR))
    no_exception(at)
    session = {
        "total_views": 3,
        "total_carts": 1,
        "session_duration_minutes": 12.5,
        "experiment_group": "control",
    }
    first = direct(api_server.url, session)
    assert metric(at, PROBABILITY) == f"{first['abandonment_probability']:.1%}"
    band = first["risk_band"].capitalize()
    shown = texts(at, {"low": "success", "medium": "warning", "high": "error"}[first["risk_band"]])
    assert any(s.startswith(f"**{band} risk**") for s in shown)
    (image,) = at.get("image")  # the SHAP waterfall, inline, as the API drew it
    assert downloads.files[Path(image.value[0]).stem].data.startswith(b"\x89PNG\r\n\x1a\n")
    contributions = at.dataframe[0].value
    assert list(contributions["feature"]) == [
        "total_views",
        "total_carts",
        "session_duration_minutes",
        "experiment_group",
    ]

    at.slider(key="p_carts").set_value(6).run()
    at.slider(key="p_minutes").set_value(55.0).run()
    no_exception(at)
    moved = direct(api_server.url, {**session, "total_carts": 6, "session_duration_minutes": 55.0})
    assert metric(at, PROBABILITY) == f"{moved['abandonment_probability']:.1%}"
    assert moved["abandonment_probability"] != first["abandonment_probability"]

    at.radio(key="p_group").set_value("treatment").run()
    no_exception(at)
    treated = direct(
        api_server.url,
        {
            **session,
            "total_carts": 6,
            "session_duration_minutes": 55.0,
            "experiment_group": "treatment",
        },
    )
    assert metric(at, PROBABILITY) == f"{treated['abandonment_probability']:.1%}"
    assert treated["abandonment_probability"] != moved["abandonment_probability"]


def test_api_down_is_reported_and_the_dashboard_still_works(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url, tab=PREDICTOR)
    no_exception(at)
    assert any(
        "Live scoring is unavailable" in w and "not reachable" in w for w in texts(at, "warning")
    )
    at = finished_mode(at)
    warnings = texts(at, "warning")
    assert any(
        "Predictions are unavailable" in w and refused_url in w and "not reachable" in w
        for w in warnings
    )
    assert not at.metric
    at.slider(key="p_views").set_value(10).run()  # still usable, still says so
    no_exception(at)
    assert any("not reachable" in w for w in texts(at, "warning"))
    at = switch_tab(at, "A/B Test Dashboard")
    no_exception(at)
    assert [m.label for m in at.metric].count("Users") == 2


def test_a_hung_api_times_out_with_a_message(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, hung_url: str
) -> None:
    monkeypatch.setattr(api_client, "STATUS_TIMEOUT", 0.5)
    at = open_app(monkeypatch, pipeline_run.data_dir, hung_url, tab=PREDICTOR)
    no_exception(at)
    assert any("did not answer within 0.5 s" in w for w in texts(at, "warning"))


def test_a_slow_prediction_times_out_with_a_message(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    """The API is up (ready answers) but the prediction takes longer than the app waits."""
    monkeypatch.setattr(api_client, "PREDICT_TIMEOUT", 0.001)
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=PREDICTOR)
    no_exception(at)
    assert any("did not answer within 0.001 s" in w for w in texts(at, "warning"))


def test_the_app_without_the_apis_key(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, ECOM_API_KEY="")
    at = switch_tab(at, PREDICTOR)
    no_exception(at)
    assert any("401" in e or "key" in e for e in texts(at, "error")), texts(at, "error")
    assert any("set ECOM_API_KEY for the app too" in e for e in texts(at, "error"))
