"""Training-serving parity, against the running service: 1,000 prediction points drawn from a
warehouse the real pipeline built, each sent as a tracker would send it (the session's known
events by their raw type, the user's history, the group or the user id, `as_of` for a time
point) to `ecom serve api` (real uvicorn, 2 workers) over HTTP. The service must build exactly
the warehouse row's features and answer the probability the served version gives that row.

The expected probability is computed here from the booster file alone (xgboost routes the row,
the leaves come from its JSON dump, summed in double) and the version's calibration.json; the
third number held equal (1e-6) is the warehouse's own: `ecom score --family moment`'s
gold.cart_moment_scores for the same rows. The version is trained by the real moment trainer
(tests/moment_model.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
import xgboost as xgb

from pipeline.experiment import assign_group
from pipeline.serving import moment
from pipeline.serving.calibration import read_calibration
from pipeline.settings import Settings
from pipeline.warehouse import connect
from tests.api.conftest import API_KEY, TrainedModel
from tests.moment_model import reference_margins
from tests.warehouse.moments import (
    events_by_session,
    known_at,
    points,
    same,
    warehouse_features,
)

POINTS = 1_000
SEED = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(us: int) -> str:
    """Exact microseconds as the tracker's ISO 8601 UTC time."""
    return (_EPOCH + timedelta(microseconds=us)).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def drawn(moment_warehouse: Settings) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(warehouse row, request body) of 1,000 points drawn without replacement (seeded)."""
    wh = connect(moment_warehouse)
    moments = wh.query(
        "select m.*, s.session_number from gold.fct_cart_moments m "
        "join gold.fact_user_sessions s on m.session_id = s.session_id "
        "order by m.session_id, m.prediction_point"
    )
    assert moments.height >= POINTS, moments.height
    assert set(moments["prediction_point"]) == set(points())
    by_session = events_by_session(wh.query("select * from silver.int_session_events"))
    picked = np.sort(np.random.default_rng(SEED).choice(moments.height, POINTS, replace=False))
    pairs = []
    for k, row in enumerate(moments[picked.tolist()].iter_rows(named=True)):
        point = points()[row["prediction_point"]]
        point_us = moment.epoch_us(row["point_at"])
        known = known_at(by_session[(row["user_id"], row["session_number"])], point, point_us)
        body: dict[str, Any] = {
            "events": [
                {
                    "event_time": iso(e["event_time_us"]),
                    "event_type": e["original_event_type"],
                    "product_id": e["product_id"],
                    "category_id": e["category_id"],
                    "brand": e["brand"],
                    "price": e["price"],
                }
                for e in known
            ],
            "history": {name: row[name] for name in moment.HISTORY},
        }
        # half by group, half by user id (the service assigns the group by the experiment's rule)
        if k % 2:
            body["user_id"] = row["user_id"]
        else:
            body["experiment_group"] = row["experiment_group"]
        if point.after_minutes is not None:
            body["as_of"] = iso(point_us)
        pairs.append((row, body))
    return pairs


@pytest.fixture(scope="module")
def sql_scores(
    moment_warehouse: Settings, trained_api_model: TrainedModel
) -> dict[tuple[Any, str], float]:
    """gold.cart_moment_scores of the served version, built by `ecom score --family moment`
    (the calibrated probability in SQL), by (session, point)."""
    from pipeline.model.moment.scoring import score_moments

    version = trained_api_model.moment
    assert score_moments(moment_warehouse, version.folder).model_id == version.model_id
    frame = connect(moment_warehouse).query(
        "select session_id, prediction_point, abandonment_probability "
        f"from gold.cart_moment_scores where model_id = '{version.model_id}'"
    )
    return {
        (r["session_id"], r["prediction_point"]): r["abandonment_probability"]
        for r in frame.iter_rows(named=True)
    }


def test_the_running_service_builds_the_warehouses_features_and_its_probability(
    live_server, trained_api_model: TrainedModel, drawn, sql_scores
) -> None:
    version = trained_api_model.moment
    calibration = read_calibration(version.folder)
    rows = [row for row, _ in drawn]
    expected_features = [warehouse_features(row) for row in rows]
    X = np.asarray([moment.to_row(f) for f in expected_features])
    margins = reference_margins(version.booster, X)
    expected_p = calibration.probabilities(margins)
    float32_p = calibration.probabilities(
        version.booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
    )
    assert {r["prediction_point"] for r in rows} == set(points())
    assert sum(r["prior_sessions"] is not None and r["prior_sessions"] > 0 for r in rows) > 50
    answers = []
    with httpx.Client(
        base_url=live_server.base_url, headers={"X-API-Key": API_KEY.encode()}, timeout=30
    ) as http:
        for _, body in drawn:
            response = http.post("/sessions/score", json=body)
            assert response.status_code == 200, (body, response.text)
            answers.append(response.json())
    mismatched = []
    for i, (row, answer) in enumerate(zip(rows, answers, strict=True)):
        served = {n: np.nan if v is None else v for n, v in answer["features"].items()}
        if same(served, expected_features[i]):
            mismatched.append(
                (row["session_id"], row["prediction_point"], same(served, expected_features[i]))
            )
        assert assign_group(row["user_id"]) == row["experiment_group"]
        assert answer["model"]["model_id"] == version.model_id
    assert not mismatched, mismatched[:5]
    got = np.asarray([a["abandonment_probability"] for a in answers])
    np.testing.assert_allclose(got, expected_p, rtol=0, atol=1e-6)
    assert np.max(np.abs(got - expected_p)) < 1e-12  # the same leaves, summed the same way
    # the warehouse's SQL score of the same rows (its trees compiled to SQL, summed in DOUBLE)
    sql = np.asarray([sql_scores[(r["session_id"], r["prediction_point"])] for r in rows])
    np.testing.assert_allclose(got, sql, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, float32_p, rtol=0, atol=1e-5)  # xgboost's float32 sum
    served_margins = np.asarray([a["explanation"]["margin"] for a in answers])
    np.testing.assert_allclose(served_margins, margins, rtol=0, atol=1e-12)
    # the served SHAP values are xgboost's (its float32 arithmetic: within 1e-6)
    contribs = version.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    served_shap = np.asarray(
        [[c["shap_value"] for c in a["explanation"]["contributions"]] for a in answers]
    )
    np.testing.assert_allclose(served_shap, contribs[:, :-1], rtol=0, atol=1e-6)
    # the points differ: a real spread of probabilities, not one number 1,000 times
    assert np.unique(np.round(got, 6)).size > 300
    assert got.min() < 0.5 < got.max()
