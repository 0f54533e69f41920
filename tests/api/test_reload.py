"""Issue 21, cases 2 and 4, and the reload and kill drills: one model version per service at
a time, against `ecom serve api --workers 2` with two trained versions, real signals
(SIGHUP to the supervisor, SIGKILL to a worker) and a bounded load from a thread pool.

The service watches nothing here (ECOM_API_RELOAD_SECONDS=0): a promote alone changes nothing,
SIGHUP switches every worker together. Every stderr line the service wrote is JSON.
"""

from __future__ import annotations

import json
import shutil
import signal
import time

import httpx
import pytest

from pipeline.model.train import train_local
from pipeline.serving import registry
from pipeline.settings import Settings
from tests.api.conftest import SESSION
from tests.api.live import load, serve

SWITCH_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def versions(trained_api_model, tmp_path_factory):
    """A data folder with two versions (the shared model and one trained with fewer trees),
    the first one current."""
    data_dir = tmp_path_factory.mktemp("reload") / "data"
    shutil.copytree(trained_api_model.data_dir, data_dir)
    first = trained_api_model.model.model_id
    second = train_local(Settings(data_dir=data_dir), params={"n_estimators": 25}, n_boot=5)
    second_id = second.model_dir.name
    models_dir = Settings(data_dir=data_dir).models_dir
    registry.promote(models_dir, first)
    return data_dir, models_dir, first, second_id


@pytest.fixture(scope="module")
def service(versions, tmp_path_factory):
    data_dir, *_ = versions
    with serve(
        data_dir,
        tmp_path_factory.mktemp("reload-service"),
        workers=2,
        env={"ECOM_API_RELOAD_SECONDS": "0"},
    ) as running:
        yield running


def predict(http: httpx.Client, i: int) -> httpx.Response:
    session = {**SESSION, "total_views": i % 40, "session_duration_minutes": (i % 600) / 10}
    return http.post("/predict?explain=false", json=session)


def served_ids(service, n: int = 60) -> set[str]:
    """The versions n requests on new connections (spread over the workers) are scored by,
    and /ready names."""
    found = set()
    for i in range(n):
        with httpx.Client(base_url=service.base_url, timeout=30) as http:
            answer = predict(http, i)
        assert answer.status_code == 200, answer.text
        found.add(answer.json()["model"]["model_id"])
        found.add(httpx.get(service.base_url + "/ready", timeout=30).json()["model_id"])
    return found


def switch_to(service, models_dir, model_id: str) -> None:
    """Promote `model_id`, SIGHUP the supervisor, wait until every worker serves it."""
    registry.promote(models_dir, model_id)
    service_signal(service, signal.SIGHUP)
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while served_ids(service, 10) != {model_id}:
        assert time.monotonic() < deadline, service.log()[-3000:]
        time.sleep(0.5)


def service_signal(service, sig: signal.Signals) -> None:
    import os

    os.kill(service.supervisor, sig)


def wait_for_new_worker(service, gone: int) -> None:
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while gone in service.workers() or len(service.workers()) < 2:
        assert time.monotonic() < deadline, service.log()[-3000:]
        time.sleep(0.2)
    service.wait_ready(streak=12)


def test_a_respawned_worker_serves_the_services_version_not_the_pointer(service, versions):
    """Case 2: after `ecom models promote`, a worker that died and respawned loaded the new
    version while the other served the old: the same request got two models, /ready
    alternated. Now the service keeps one version until it reloads, and then switches."""
    import os

    _, models_dir, first, second = versions
    switch_to(service, models_dir, first)
    registry.promote(models_dir, second)  # no reload: ECOM_API_RELOAD_SECONDS=0
    victim = service.workers()[0]
    os.kill(victim, signal.SIGKILL)
    wait_for_new_worker(service, victim)
    assert served_ids(service) == {first}
    service_signal(service, signal.SIGHUP)
    deadline = time.monotonic() + SWITCH_TIMEOUT_S
    while httpx.get(service.base_url + "/ready", timeout=30).json()["model_id"] != second:
        assert time.monotonic() < deadline, service.log()[-3000:]
        time.sleep(0.2)
    assert served_ids(service) == {second}


def test_a_rolling_reload_under_load_drops_nothing_and_switches_at_once(service, versions):
    """Case 4 and the reload drill: SIGHUP to the supervisor under a bounded load (10 s, 8
    callers) used to restart the workers and answer 503 while their models loaded. Now: no
    answer other than 200, no failed connection, and once one answer names the new version,
    every request sent after it is scored by the new version."""
    _, models_dir, first, second = versions
    switch_to(service, models_dir, second)
    registry.promote(models_dir, first)
    sent_hup = []

    def at(elapsed: float) -> None:
        if elapsed >= 3.0 and not sent_hup:
            service_signal(service, signal.SIGHUP)
            sent_hup.append(elapsed)

    answers = load(service.base_url, 10.0, 8, predict, during=at)
    assert [a for a in answers if a.status != 200] == []
    new = [a for a in answers if a.model_id == first]
    assert new, "the reload did not happen within the load"
    switched = min(a.done for a in new)
    late = [a for a in answers if a.sent > switched and a.model_id != first]
    print(
        f"\n{len(answers)} answers, all 200; switched {switched - sent_hup[0]:.2f} s after "
        f"SIGHUP; {len([a for a in answers if a.model_id == second])} before, {len(new)} after"
    )
    assert late == []
    assert {a.model_id for a in answers} == {first, second}


def test_a_worker_killed_under_load_costs_no_5xx(service):
    """The kill drill: SIGKILL a worker under load while the other is ready. Requests it was
    answering lose their connection; no caller gets a 5xx, and its replacement takes traffic
    only once its models are loaded (a new worker used to accept before and answer 503)."""
    import os

    killed: list[int] = []

    def at(elapsed: float) -> None:
        if elapsed >= 2.0 and not killed:
            victim = service.workers()[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    answers = load(service.base_url, 10.0, 8, predict, during=at)
    server_errors = [a for a in answers if a.status >= 500]
    lost = [a for a in answers if a.status == 0]
    print(f"\n{len(answers)} answers after a SIGKILL: {len(server_errors)} 5xx, {len(lost)} lost")
    assert server_errors == []
    assert len(lost) <= 8  # at most the requests in flight on the killed worker
    assert sum(a.status == 200 for a in answers if a.sent > 3.0) > 50
    wait_for_new_worker(service, killed[0])


def test_every_line_the_service_logged_is_json(service):
    """Case 7: the supervisor's lines and python-multipart's broke the JSON log stream. After
    the signals, kills and reloads above, and a multipart body the parser warns about, every
    line on the service's stderr is one JSON object."""
    broken = b"--xyzX\r\n"  # no CR after the boundary: python-multipart logs a warning
    answer = httpx.post(
        service.base_url + "/bulk_predict",
        content=broken,
        headers={"Content-Type": "multipart/form-data; boundary=xyz"},
        timeout=30,
    )
    assert answer.status_code == 400
    assert "boundary" not in answer.json()["detail"].lower().replace("'file'", "")
    assert "Did not find" not in answer.json()["detail"]
    time.sleep(1.0)
    lines = [line for line in service.log().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # raises on the first line that is not JSON
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "api.access", "api.control"} <= loggers
    assert any("python_multipart" in name for name in loggers), loggers
    assert any("died" in r["message"] for r in records if r["logger"] == "uvicorn.error")


def test_a_promote_alone_switches_a_watching_service(versions, tmp_path_factory):
    """Case 2: after a promote nothing reloaded until a restart. A service that watches the
    registry's pointer (here every 0.5 s) switches by itself, without a signal or a restart:
    the same worker process serves the promoted version."""
    data_dir, models_dir, first, second = versions
    registry.promote(models_dir, first)
    with serve(
        data_dir,
        tmp_path_factory.mktemp("watching-service"),
        workers=1,
        env={"ECOM_API_RELOAD_SECONDS": "0.5"},
    ) as watching:
        assert served_ids(watching, 5) == {first}
        (worker,) = watching.workers()
        registry.promote(models_dir, second)
        deadline = time.monotonic() + SWITCH_TIMEOUT_S
        while httpx.get(watching.base_url + "/ready", timeout=30).json()["model_id"] != second:
            assert time.monotonic() < deadline, watching.log()[-3000:]
            time.sleep(0.2)
        assert served_ids(watching, 5) == {second}
        assert watching.workers() == [worker]
