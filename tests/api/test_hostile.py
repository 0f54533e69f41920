"""Issue 21, cases 1, 3 and 5, against a real service (`ecom serve api`, one worker, the
default limits), memory read from /proc: work is bounded before memory is, nesting is refused,
and bulk calls do not starve real-time scoring or liveness."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.api.conftest import API_KEY, SESSION
from tests.api.live import MemoryWatch, load, percentile, serve
from tests.api.test_bulk import rows

KEY = {"X-API-Key": API_KEY.encode()}
MB = 1 << 20
HEADER = b"total_views,total_carts,session_duration_minutes,experiment_group\n"


@pytest.fixture(scope="module")
def service(trained_api_model, tmp_path_factory):
    with serve(
        trained_api_model.data_dir,
        tmp_path_factory.mktemp("hostile"),
        workers=1,
        env={"ECOM_API_KEY": API_KEY},
    ) as running:
        yield running


def post(service, path: str, body: bytes, content_type: str, timeout: float = 120):
    headers = {**KEY, "Content-Type": content_type}
    return httpx.post(service.base_url + path, content=body, headers=headers, timeout=timeout)


def settled_rss(service) -> int:
    time.sleep(0.5)
    return service.rss()


def test_a_five_million_line_csv_is_refused_at_once_in_bounded_memory(service):
    """Case 1: a header plus 5,000,000 lines of `1` (10 MB, under the 20 MB limit) took 16 s
    to refuse and grew the server by 1.46 GB, which it kept."""
    body = HEADER + b"1\n" * 5_000_000
    before = settled_rss(service)
    with MemoryWatch(service.process.pid) as watch:
        started = time.monotonic()
        answer = post(service, "/bulk_predict", body, "text/csv")
        elapsed = time.monotonic() - started
    after = settled_rss(service)
    assert answer.status_code == 413, answer.text
    assert "100,000 rows" in answer.json()["detail"]
    print(
        f"\n5,000,000-line CSV: {answer.status_code} in {elapsed:.2f} s, peak growth "
        f"{(watch.peak - before) / MB:.1f} MB, kept {(after - before) / MB:.1f} MB"
    )
    assert elapsed < 2.0  # the target is 1 s (make bench); a loaded CI machine gets slack
    assert watch.peak - before < 100 * MB
    assert after - before < 40 * MB


def test_twenty_megabytes_of_empty_objects_are_refused_before_parsing(service):
    """Case 1: a 20 MB JSON body of `{}` objects added 590 MB before its 413; six at once
    reached 2.2 GB."""
    count = (20 * MB - 2) // 3
    body = b"[" + b"{}," * (count - 1) + b"{}]"
    assert len(body) <= 20 * MB
    before = settled_rss(service)
    with MemoryWatch(service.process.pid) as watch:
        one = post(service, "/bulk_predict", body, "application/json")
    assert one.status_code == 413, one.text
    assert watch.peak - before < 100 * MB
    with MemoryWatch(service.process.pid) as watch, ThreadPoolExecutor(6) as pool:
        answers = list(
            pool.map(lambda _: post(service, "/bulk_predict", body, "application/json"), range(6))
        )
    statuses = sorted(a.status_code for a in answers)
    print(
        f"\nsix 20 MB bodies at once: {statuses}, peak growth {(watch.peak - before) / MB:.0f} MB"
    )
    assert set(statuses) <= {413, 503} and 413 in statuses
    assert all("Retry-After" in a.headers for a in answers if a.status_code == 503)
    assert watch.peak - before < 250 * MB
    assert settled_rss(service) - before < 40 * MB


@pytest.mark.parametrize("path", ["/predict", "/bulk_predict"])
@pytest.mark.parametrize("body", [b"[" * 1000 + b"]" * 1000, b'{"a":' * 1000 + b"1" + b"}" * 1000])
def test_json_nested_a_thousand_deep_is_a_client_error(service, path, body):
    """Case 3: JSON nested 1,000 deep to /predict was a 500 (an uncaught RecursionError)."""
    answer = post(service, path, body, "application/json")
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.json()["detail"]


def test_bulk_calls_do_not_starve_predict_or_health(service):
    """Case 5: 100k-row bulk calls beside /predict load (one worker) took /predict's p99 from
    18 ms to 657 ms and stalled /health for 4.3 s."""
    sessions = rows(100_000, seed=8)
    bulk_body = json.dumps(sessions).encode()

    def predict(http: httpx.Client, i: int) -> httpx.Response:
        session = {**SESSION, "total_views": i % 50, "session_duration_minutes": (i % 900) / 10}
        return http.post("/predict?explain=false", json=session, headers=KEY)

    alone = load(service.base_url, 4.0, 4, predict)
    health: list[float] = []
    bulk: list[int] = []
    stop = threading.Event()

    def bulk_caller() -> None:
        with httpx.Client(base_url=service.base_url, timeout=120, headers=KEY) as http:
            while not stop.is_set():
                answer = http.post(
                    "/bulk_predict", content=bulk_body, headers={"Content-Type": "application/json"}
                )
                bulk.append(answer.status_code)

    def health_prober() -> None:
        with httpx.Client(base_url=service.base_url, timeout=30) as http:
            while not stop.is_set():
                started = time.monotonic()
                http.get("/health")
                health.append(time.monotonic() - started)
                stop.wait(0.1)

    threads = [threading.Thread(target=bulk_caller), threading.Thread(target=health_prober)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # the first bulk call is under way
        beside = load(service.base_url, 8.0, 4, predict)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert all(a.status == 200 for a in alone + beside)
    assert bulk and set(bulk) == {200}, bulk
    p99_alone = percentile([a.done - a.sent for a in alone], 0.99)
    p99_beside = percentile([a.done - a.sent for a in beside], 0.99)
    print(
        f"\n/predict p99 alone {p99_alone * 1000:.1f} ms, beside {len(bulk)} 100k-row bulk "
        f"calls {p99_beside * 1000:.1f} ms ({p99_beside / p99_alone:.2f}x); /health max "
        f"{max(health) * 1000:.0f} ms"
    )
    assert max(health) < 1.0
    assert p99_beside <= max(3 * p99_alone, p99_alone + 0.05)
