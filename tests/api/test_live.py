"""End to end: `ecom serve api` (real uvicorn, 2 workers) on a free loopback port, called
over HTTP; then schemathesis against its live OpenAPI schema."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.api.conftest import API_KEY, SESSION
from tests.api.test_bulk import csv_text, rows
from tests.api.test_predict import encoded
from tests.conftest import skip_unless_ci

HERE = Path(__file__).resolve().parent
KEY = {"X-API-Key": API_KEY.encode()}


def test_scores_over_http(live_server, trained_api_model):
    with httpx.Client(base_url=live_server.base_url, headers=KEY, timeout=30) as http:
        assert httpx.get(live_server.base_url + "/health").json() == {"status": "ok"}
        body = http.post("/predict", json=SESSION).json()
        p = trained_api_model.model.predict_matrix(np.array([encoded(SESSION)]))[0]
        assert body["abandonment_probability"] == pytest.approx(p, abs=1e-6)
        assert base64.b64decode(body["waterfall_png"]).startswith(b"\x89PNG")
        sessions = rows(300, seed=2)
        upload = csv_text(sessions, "\r\n", bom=True).encode()
        scored = http.post("/bulk_predict", files={"file": ("s.csv", upload, "text/csv")}).json()
        want = trained_api_model.model.predict_matrix(np.array([encoded(s) for s in sessions]))
        got = [r["abandonment_probability"] for r in scored["predictions"]]
        np.testing.assert_allclose(got, want, atol=1e-6)
        assert http.post("/predict", json=SESSION, headers={"X-API-Key": "nope"}).status_code == 401
        too_many = http.post("/bulk_predict", json=rows(20_001))
        assert too_many.status_code == 413 and "20,000 rows" in too_many.json()["detail"]
        metrics = http.get("/metrics").text  # both workers' counts (multiprocess mode)
        assert 'route="/bulk_predict",status="200"' in metrics


def test_64_concurrent_waterfalls_equal_sequential_ones(live_server):
    """Different sessions at once over HTTP (threads in two workers): each picture is the one
    the same session gets when asked alone."""
    sessions = [
        {
            "total_views": i % 23,
            "total_carts": 1 + i % 4,
            "session_duration_minutes": round(0.75 * i, 2),
            "experiment_group": ("treatment", "control", None)[i % 3],
        }
        for i in range(64)
    ]

    def picture(session):
        with httpx.Client(base_url=live_server.base_url, headers=KEY, timeout=60) as http:
            return http.post("/predict", json=session).json()["waterfall_png"]

    sequential = [picture(s) for s in sessions]
    assert len(set(sequential)) == 64
    with ThreadPoolExecutor(max_workers=16) as pool:
        concurrent = list(pool.map(picture, sessions))
    assert [i for i in range(64) if concurrent[i] != sequential[i]] == []


def test_logs_are_json_with_request_ids_and_no_secrets(live_server):
    marker_rows = [{**SESSION, "total_views": 4242}]
    with httpx.Client(base_url=live_server.base_url, headers=KEY, timeout=30) as http:
        http.post("/bulk_predict", json=marker_rows, headers={"X-Request-ID": "bulk-trace-1"})
        http.post(
            "/bulk_predict",
            files={
                "file": (
                    "s.csv",
                    b"total_views,total_carts,session_duration_minutes,experiment_group\n777,1,2.5,control\n",
                )
            },
        )
    # The access line is written once the response has gone out: give a busy worker a moment.
    deadline = time.monotonic() + 10
    while "bulk-trace-1" not in live_server.log() and time.monotonic() < deadline:
        time.sleep(0.1)
    lines = [line for line in live_server.log().splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    access = [r for r in records if r["logger"] == "api.access"]
    traced = [r for r in access if r.get("request_id") == "bulk-trace-1"]
    assert traced and traced[0]["route"] == "/bulk_predict" and traced[0]["status"] == 200
    text = live_server.log()
    assert API_KEY not in text and API_KEY.encode().decode("latin-1") not in text
    # Uploaded contents stay out: 4242 as a value of its own, not inside a request id's hex
    # or a duration's digits.
    assert not re.search(r"(?<![\w.])4242(?![\w.])", text) and "777,1,2.5" not in text
    assert "model abandonment-" in text and "loaded" in text


def test_schemathesis_against_the_live_schema(live_server, tmp_path):
    """Positive and negative data, >= 200 examples per operation, every check (they are all on
    unless tests/api/schemathesis.toml turns one off): no 5xx, no response that breaks its own
    schema, status codes and content types as documented, auth enforced."""
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if st is None:
        skip_unless_ci("schemathesis is not installed (dev group)")
    report = tmp_path / "junit.xml"
    command = [
        st, "--config-file", str(HERE / "schemathesis.toml"), "run",
        f"{live_server.base_url}/openapi.json",
        "--mode", "all", "--max-examples", "200", "--phases", "examples,coverage,fuzzing",
        "--seed", "20261201", "--generation-database", "none",
        "--header", f"X-API-Key:{API_KEY.encode().decode('latin-1')}",
        "--workers", "1", "--request-timeout", "30", "--no-color",
        "--report", "junit", "--report-junit-path", str(report),
    ]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    tested = re.findall(r'<testcase name="([^"]+)"', report.read_text())
    assert sorted(tested) == sorted(
        [
            "POST /predict",
            "POST /sessions/score",
            "POST /bulk_predict",
            "GET /health",
            "GET /ready",
            "GET /model",
            "GET /metrics",
        ]
    )
    # The three operations with bodies get >= 200 cases each (the GETs have only a handful of
    # distinct requests to make).
    generated = int(re.search(r"(\d+) generated", result.stdout).group(1))
    assert generated >= 3 * 200, result.stdout[-2000:]
