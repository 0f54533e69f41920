"""POST /sessions/score in-process: the numbers equal the booster, its calibration and its decision
rule computed here; bad sessions get a 4xx that says why; the service runs without a moment
model and picks one up when it appears; /ready and /model report the family."""

from __future__ import annotations

import json
import math
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from api.main import create_app
from pipeline.errors import ModelError
from pipeline.serving import artifact, moment, registry
from pipeline.serving.decision import DecisionRule, read_rule
from pipeline.settings import Settings
from tests.api.conftest import SESSION, TrainedModel
from tests.moment_model import reference_margins

START = datetime(2020, 2, 3, 14, 0, tzinfo=UTC)


def event(seconds: float, kind: str = "view", product: int = 1, price: float = 5.5) -> dict:
    return {
        "event_time": (START + timedelta(seconds=seconds)).isoformat(),
        "event_type": kind,
        "product_id": product,
        "category_id": 100 + product % 3,
        "brand": None if product % 2 else "runail",
        "price": price,
    }


EVENTS = [
    event(0, "view", 1, 5.5),
    event(40, "view", 2, 12.0),
    event(95, "cart", 2, 12.0),
    event(130, "view", 3, 3.25),
    event(200, "remove_from_cart", 2, 12.0),
    event(260, "cart", 3, 3.25),
]
HISTORY = {
    "prior_sessions": 4,
    "prior_purchasing_sessions": 1,
    "prior_abandonment_rate": 0.5,
    "days_since_previous_session": 2.5,
    "prior_revenue": 31.4,
}
BODY = {"events": EVENTS, "history": HISTORY, "experiment_group": "treatment"}


def score(client: TestClient, body: dict, **kwargs) -> dict:
    response = client.post("/sessions/score", json=body, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


def refused(client: TestClient, body: object, status: int = 422, **kwargs) -> str:
    response = client.post("/sessions/score", json=body, **kwargs)
    assert response.status_code == status, response.text
    answer = response.json()
    assert set(answer) == {"detail", "errors"}
    return answer["detail"]


def expected_features(body: dict) -> dict[str, float]:
    """The shared builder on the same events, by hand."""
    events = [
        moment.Event(
            moment.epoch_us(datetime.fromisoformat(e["event_time"])),
            e["event_type"],
            e["product_id"],
            e["category_id"],
            e["brand"],
            e["price"],
        )
        for e in body["events"]
    ]
    group = {"control": 0, "treatment": 1}[body["experiment_group"]]
    return moment.features_at(events, group, body.get("history"))


def test_numbers_equal_the_booster_calibration_and_rule(client, trained_api_model: TrainedModel):
    version = trained_api_model.moment
    answer = score(client, BODY)
    features = expected_features(BODY)
    assert answer["features"] == {k: (None if math.isnan(v) else v) for k, v in features.items()}
    assert features["views_so_far"] == 3 and features["cart_price"] == 3.25
    assert features["seconds_since_session_start"] == 260.0
    row = np.asarray([moment.to_row(features)])
    margin = float(reference_margins(version.booster, row)[0])
    explanation = answer["explanation"]
    assert explanation["margin"] == pytest.approx(margin, abs=1e-12)
    p = version.calibration.probability(margin)
    assert answer["abandonment_probability"] == pytest.approx(p, abs=1e-12)
    # xgboost's own float32 margin agrees to its precision
    xgb_margin = version.booster.predict(xgb.DMatrix(row, missing=np.nan), output_margin=True)
    assert margin == pytest.approx(float(xgb_margin[0]), abs=1e-5)
    # SHAP on the margin scale: xgboost's values, adding up to the margin
    shap = version.booster.predict(xgb.DMatrix(row, missing=np.nan), pred_contribs=True)[0]
    got = [c["shap_value"] for c in explanation["contributions"]]
    assert [c["feature"] for c in explanation["contributions"]] == list(moment.FEATURES)
    np.testing.assert_allclose(got, shap[:-1], atol=1e-5)
    assert explanation["base_value"] == pytest.approx(float(shap[-1]), abs=1e-6)
    assert explanation["base_value"] + math.fsum(got) == pytest.approx(margin, abs=1e-5)
    assert explanation["scale"] == "margin"
    assert explanation["calibration"]["slope"] == version.calibration.slope
    # the decision: the version's decision.json, by its formula
    rule = read_rule(version.folder)
    assert rule == DecisionRule()
    ev = p * 3.25 * rule.gross_margin_rate * rule.recovery_share - rule.intervention_cost
    decision = answer["decision"]
    assert decision["expected_value"] == pytest.approx(ev, abs=1e-12)
    assert decision["intervene"] is (ev > 0)
    breakeven = rule.intervention_cost / (3.25 * rule.gross_margin_rate * rule.recovery_share)
    assert decision["break_even_probability"] == pytest.approx(breakeven, abs=1e-15)
    assert decision["intervene"] is (p > breakeven)
    # the bands of the version's card (the trainer's), or the defaults when it has none
    card = json.loads((version.folder / artifact.CARD_FILE).read_text())
    bands = card.get("risk_thresholds") or {"medium": 0.5, "high": 0.8}
    assert answer["risk_thresholds"] == bands
    expected_band = "high" if p >= bands["high"] else "medium" if p >= bands["medium"] else "low"
    assert answer["risk_band"] == expected_band
    assert answer["model"] == {
        "model_id": version.model_id,
        "engine": "local",
        "trained_at": answer["model"]["trained_at"],
        "family": "moment",
    }
    assert answer["point"] == {
        "at": "2020-02-03T14:04:20Z",
        "kind": "last_event",
        "events": 6,
    }


def test_the_cart_price_moves_the_break_even_point(client):
    expensive = score(client, {**BODY, "events": [*EVENTS[:-1], event(260, "cart", 9, 250.0)]})
    decision = expensive["decision"]
    assert decision["break_even_probability"] == pytest.approx(0.1 / (250.0 * 0.4 * 0.15))
    assert decision["intervene"] is True  # P > 0.67%
    cheap = score(client, {**BODY, "events": [*EVENTS[:-1], event(260, "cart", 9, 1.5)]})
    assert cheap["decision"]["break_even_probability"] is None  # 0.1 > 1.5 x 0.4 x 0.15
    assert cheap["decision"]["intervene"] is False and cheap["decision"]["expected_value"] < 0


def test_missing_history_is_scored_as_missing(client):
    without = score(client, {**BODY, "history": None})
    absent = score(client, {"events": EVENTS, "experiment_group": "treatment"})
    partial = score(client, {**BODY, "history": {"prior_sessions": 4}})
    for name in moment.HISTORY:
        assert without["features"][name] is None
    assert absent == without
    assert partial["features"]["prior_sessions"] == 4
    assert partial["features"]["prior_revenue"] is None


def test_events_out_of_order_are_sorted_by_time(client):
    shuffled = [EVENTS[i] for i in (3, 0, 5, 1, 4, 2)]
    assert score(client, {**BODY, "events": shuffled}) == score(client, BODY)


def test_the_group_comes_from_the_user_id_by_the_experiments_rule(client):
    from pipeline.experiment import assign_group

    user = next(u for u in range(1, 100) if assign_group(u) == "treatment")
    by_user = score(client, {"events": EVENTS, "history": HISTORY, "user_id": user})
    assert by_user == score(client, BODY)
    other = next(u for u in range(1, 100) if assign_group(u) == "control")
    detail = refused(client, {**BODY, "user_id": other})
    assert f"user {other} is in control, not treatment" in detail
    assert "experiment_group or user_id" in refused(client, {"events": EVENTS})


def test_as_of_scores_the_idle_time_since_the_last_event(client):
    later = START + timedelta(seconds=260 + 600)
    answer = score(client, {**BODY, "as_of": later.isoformat()})
    assert answer["features"]["seconds_since_last_event"] == 600.0
    assert answer["features"]["seconds_since_session_start"] == 860.0
    assert answer["point"] == {"at": "2020-02-03T14:14:20Z", "kind": "as_of", "events": 6}
    before = START + timedelta(seconds=100)
    assert "as_of is before the last event" in refused(
        client, {**BODY, "as_of": before.isoformat()}
    )
    ended = START + timedelta(seconds=260 + 31 * 60)
    assert "that session has ended" in refused(client, {**BODY, "as_of": ended.isoformat()})


@pytest.mark.parametrize(
    ("events", "says"),
    [
        ([event(0), event(60)], "no add-to-cart yet"),
        ([event(0, "cart"), event(60, "purchase")], "already purchased"),
        ([event(0, "cart"), event(31 * 60 + 1)], "more than one session"),
        ([*EVENTS, event(86_400)], "more than one session"),
    ],
)
def test_a_session_that_cannot_be_scored_is_a_422_saying_why(client, events, says):
    assert says in refused(client, {**BODY, "events": events})


def test_events_in_the_future_are_refused(client):
    soon = datetime.now(UTC) + timedelta(hours=2)
    future = [
        {**e, "event_time": (soon + timedelta(seconds=i)).isoformat()} for i, e in enumerate(EVENTS)
    ]
    assert "lies in the future" in refused(client, {**BODY, "events": future})


def test_ten_thousand_events_are_refused_before_any_work(client):
    many = [event(i * 0.01, "cart") for i in range(10_000)]
    compact = json.dumps({**BODY, "events": many}, separators=(",", ":")).encode()
    response = client.post(
        "/sessions/score", content=compact, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text  # over the byte limit (1 MiB)
    assert "over the limit" in response.json()["detail"]
    slim = [{k: v for k, v in e.items() if k not in ("brand", "category_id")} for e in many]
    detail = refused(client, {**BODY, "events": slim[:2_001]})
    assert "events" in detail and "2000" in detail


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"events": [{**EVENTS[0], "event_time": "2020-02-03T14:00:00"}]}, "events[0].event_time"),
        ({"events": [{**EVENTS[0], "event_type": "checkout"}]}, "events[0].event_type"),
        (
            {"events": [{**EVENTS[0], "event_time": "0001-01-01T00:00:00+01:00"}]},
            "events[0].event_time",
        ),
        ({"as_of": "1969-12-31T23:59:59Z"}, "as_of"),
        ({"events": [{**EVENTS[0], "price": "5.5"}]}, "events[0].price"),
        ({"events": [{**EVENTS[0], "product_id": 1.5}]}, "events[0].product_id"),
        ({"events": [{**EVENTS[0], "colour": "red"}]}, "events[0].colour"),
        ({"history": {"prior_abandonment_rate": 1.5}}, "history.prior_abandonment_rate"),
        ({"history": {"prior_sessions": -1}}, "history.prior_sessions"),
        ({"experiment_group": "B"}, "experiment_group"),
        ({"session": "s-1"}, "session"),
        ({"events": []}, "events"),
    ],
)
def test_invalid_fields_are_named(client, change, field):
    response = client.post("/sessions/score", json={**BODY, **change})
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]], response.json()


def test_bodies_that_are_not_a_session(client):
    post = client.post
    assert post("/sessions/score", content=b"").status_code == 400
    bad_json = post("/sessions/score", content=b"{", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400 and "not valid JSON" in bad_json.json()["detail"]
    text = post("/sessions/score", content=b"{}", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    assert post("/sessions/score", json=[BODY]).status_code == 422
    nan = json.dumps(BODY).replace("5.5", "NaN").encode()
    assert post(
        "/sessions/score", content=nan, headers={"Content-Type": "application/json"}
    ).status_code in (400, 422)


def test_model_and_ready_report_the_moment_family(client, trained_api_model):
    version = trained_api_model.moment
    ready = client.get("/ready").json()
    assert ready["models"] == {
        "session": trained_api_model.model.model_id,
        "moment": version.model_id,
    }
    assert ready["problems"] == {}
    card = client.get("/model", params={"family": "moment"}).json()
    assert card["model_id"] == version.model_id and card["family"] == "moment"
    assert card["features"] == list(moment.FEATURES)
    assert card["probability_calibration"]["slope"] == version.calibration.slope
    assert card["decision_rule"]["recovery_share"] == 0.15
    assert card["decision_rule"]["source"] == f"decision.json of {version.model_id}"
    assert client.get("/model").json()["model_id"] == trained_api_model.model.model_id
    assert client.get("/model", params={"family": "other"}).status_code == 422
    score(client, BODY)
    metrics = client.get("/metrics").text
    assert 'ecom_api_rows_scored_total{endpoint="sessions_score"}' in metrics
    assert f'ecom_api_model_info{{model_id="{version.model_id}"}} 1.0' in metrics


def test_without_a_moment_model_the_service_serves_predict_and_says_what_to_run(
    tmp_path, trained_api_model
):
    models = tmp_path / "data" / "models"
    shutil.copytree(trained_api_model.data_dir / "models" / "abandonment", models / "abandonment")
    app = create_app(Settings(data_dir=tmp_path / "data", api_reload_seconds=0.2))
    with TestClient(app) as client:
        assert app.state.serving.wait(120)
        assert client.post("/predict", json=SESSION).status_code == 200
        problem = client.get("/ready").json()["problems"]["moment"]
        assert "ecom train --family moment" in problem
        ready = client.get("/ready")
        assert ready.status_code == 200 and ready.json()["models"]["moment"] is None
        answer = client.post("/sessions/score", json=BODY)
        assert answer.status_code == 503 and "Retry-After" in answer.headers
        assert "ecom train --family moment" in answer.json()["detail"]
        assert client.get("/model", params={"family": "moment"}).status_code == 503
        # a moment version appears (a training finished): the worker picks it up
        shutil.copytree(trained_api_model.data_dir / "models" / "moment", models / "moment")
        deadline = time.monotonic() + 60
        while client.get("/ready").json()["models"]["moment"] is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert client.post("/sessions/score", json=BODY).status_code == 200
        assert client.get("/ready").json()["models"]["moment"] == trained_api_model.moment.model_id


def test_a_broken_moment_version_does_not_stop_the_service(tmp_path, trained_api_model):
    data = tmp_path / "data"
    shutil.copytree(trained_api_model.data_dir / "models", data / "models")
    broken = data / "models" / "moment" / "versions" / trained_api_model.moment.model_id
    (broken / "model.bst").write_bytes(b"not a booster")
    app = create_app(Settings(data_dir=data))
    with TestClient(app) as client:
        assert app.state.serving.wait(120)
        assert client.post("/predict", json=SESSION).status_code == 200
        deadline = time.monotonic() + 30
        while "corrupt" not in client.get("/ready").json()["problems"].get("moment", ""):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = client.post("/sessions/score", json=BODY)
        assert answer.status_code == 503 and "corrupt" in answer.json()["detail"]


def _copy_moment_version(models: Path, model_id: str, new_id: str, broken: bool = False) -> None:
    """Register a copy of a moment version under another id (`broken`: its booster unreadable)."""
    staged = models / "copy-staging"
    shutil.copytree(registry.version_dir(models, model_id, registry.MOMENT), staged)
    card = json.loads((staged / artifact.CARD_FILE).read_text())
    (staged / artifact.CARD_FILE).write_text(json.dumps({**card, "model_id": new_id}))
    if broken:
        (staged / "model.bst").write_bytes(b"not a booster")
    registry.register(models, staged, make_current=False, family=registry.MOMENT)


def _served_moment(client: TestClient) -> str | None:
    return client.get("/ready").json()["models"]["moment"]


def test_a_promoted_moment_version_is_switched_to_and_a_broken_one_is_refused(
    tmp_path, trained_api_model
):
    """The moment family is one version per service like the session one: a promote switches
    the service (every answer names the new version); a broken version is refused and the
    version served before stays."""
    data = tmp_path / "data"
    shutil.copytree(trained_api_model.data_dir / "models", data / "models")
    models = data / "models"
    first = trained_api_model.moment.model_id
    _copy_moment_version(models, first, "moment-copy-good")
    _copy_moment_version(models, first, "moment-copy-broken", broken=True)
    app = create_app(Settings(data_dir=data, api_reload_seconds=0.2))
    with TestClient(app) as client:
        assert app.state.serving.wait(120)
        assert _served_moment(client) == first
        registry.promote(models, "moment-copy-good", registry.MOMENT)
        deadline = time.monotonic() + 60
        while _served_moment(client) != "moment-copy-good":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        answer = client.post("/sessions/score", json=BODY)
        assert answer.status_code == 200
        assert answer.json()["model"]["model_id"] == "moment-copy-good"
        with pytest.raises(ModelError, match="corrupt"):  # the registry refuses to promote it
            registry.promote(models, "moment-copy-broken", registry.MOMENT)
        # ...but a version damaged on disk after its promote reaches the service's reload
        with registry._locked(models, registry.MOMENT) as root:
            registry._switch(root, models, "moment-copy-broken", registry.MOMENT)
        time.sleep(3)  # many reload periods: the broken version is tried and refused
        assert _served_moment(client) == "moment-copy-good"
        assert client.post("/sessions/score", json=BODY).json()["model"]["model_id"] == (
            "moment-copy-good"
        )
        assert client.get("/ready").json()["model_id"] == trained_api_model.model.model_id
