"""The scoring API under load: real uvicorn on loopback, load from wrk in another process.

Figures, all from one run of this script, each server with W uvicorn workers on a free loopback
port (the API as deployed, `python -m api`; the baseline under plain uvicorn, access log off):
- baseline: a bare FastAPI endpoint returning a constant (benchmarks/api_baseline.py), the
  framework's ceiling on this machine;
- POST /predict?explain=false and POST /predict (with the waterfall PNG), each request a
  different session (wrk's Lua script varies the body);
- POST /sessions/score with a 20-event live session (and the shopper's history): the moment
  model's features built from the events, its calibrated probability, decision and SHAP values;
  these four at a fixed concurrency of 16 connections, bounded in time and request count;
- POST /bulk_predict with 100,000 rows as a JSON array and as a multipart CSV upload: one
  request at a time (a 100k-row call is a latency figure, not a throughput one), repeated;
- POST /predict?explain=false again while 100,000-row JSON bulk calls run beside it, back to
  back (a second wrk, one connection): its p99 as a ratio to its p99 alone;
- a hostile body: a 10 MB CSV of a header and 5,000,000 lines of `1` (under the 20 MB limit),
  the time to its refusal and the service's memory growth (every process of it, from /proc).
Printed: p50/p99 latency, requests/s, errors, the ratio to the baseline, OK/MISSED per target.

Targets (2-core machine): explain=false >= 0.5 x the baseline's requests/s with p50 < 3 ms and
zero errors; with the PNG p50 < 150 ms; /sessions/score p50 <= 2 x explain=false's, zero errors;
100,000 rows < 1 s as CSV and < 2 s as JSON; /predict p99 beside bulk calls <= 3 x alone; the
5,000,000-line CSV refused in < 1 s, < 100 MB growth.

The API runs as it is deployed: `python -m api` (its supervisor, W uvicorn workers, each with
its bulk process); the baseline under plain uvicorn with the same number of workers.

Models: the current ones of ECOM_DATA_DIR (default data/bench, which bench_model.py trains at
full scale); without a session model, a small one trained here through the real training path;
without a moment model, one trained here on a small warehouse the real pipeline builds (beside a
copy of the session versions, so data/bench is left as it was).
Needs Debian's `wrk` (`make bench` installs it). Run it alone, and read the figures as noisy
when other work runs (the load average is printed before and after).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.settings import REPO_ROOT, Settings

CONCURRENCY = 16
DURATION_S = 10
MAX_REQUESTS = 200_000  # per load run, whichever bound comes first
WARMUP_S = 2
BULK_ROWS = 100_000
BULK_REPEATS = 5
WORKERS = int(os.environ.get("BENCH_API_WORKERS", str(min(2, os.cpu_count() or 1))))

# One JSON line from wrk's done() hook: counts, errors and latency percentiles in microseconds.
LUA = r"""
wrk.method = "%(method)s"
%(headers)s
local path = "%(path)s"
local vary = %(vary)s
local body_file = "%(body_file)s"
local fixed_body = nil
if body_file ~= "" then
  local f = assert(io.open(body_file, "rb")); fixed_body = f:read("*a"); f:close()
end
local groups = {"treatment", "control"}
local i = 0
local limit = %(limit)d
local sent = 0
request = function()
  i = i + 1
  if vary then
    local body = string.format(
      '{"total_views":%%d,"total_carts":%%d,"session_duration_minutes":%%.2f,"experiment_group":"%%s"}',
      (i * 7) %% 41, 1 + (i * 3) %% 6, ((i * 37) %% 6000) / 100, groups[1 + i %% 2])
    return wrk.format(nil, path, nil, body)
  end
  return wrk.format(nil, path, nil, fixed_body)
end
response = function(status, headers, body)
  sent = sent + 1
  if sent >= limit then wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"status_errors": %%d, "socket_errors": %%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


@dataclass
class Figure:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, timeout: float = 5) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


class Server:
    """uvicorn --factory APP (or the API's supervisor, `python -m api`, when APP is "api") on a
    free loopback port, stopped on exit."""

    def __init__(self, app: str, env: dict[str, str], ready_path: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (lives as long as the server)
            prefix="bench-api-", suffix=".log", delete=False
        )
        where = ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(WORKERS)]
        if app == "api":
            command = [sys.executable, "-m", "api", *where]
        else:
            command = [
                sys.executable, "-m", "uvicorn", "--factory", app, *where, "--no-access-log",
                "--timeout-worker-healthcheck", "120",
            ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.ready_path = ready_path

    def wait_ready(self, timeout: float = 300) -> None:
        """Until every worker answers: 3 x WORKERS consecutive 200s on fresh connections."""
        deadline, streak = time.monotonic() + timeout, 0
        while streak < 3 * WORKERS:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server did not get ready; its log: {self.log.name}")
            status, _ = get(self.base + self.ready_path)
            streak = streak + 1 if status == 200 else 0
            time.sleep(0.05 if status == 200 else 0.5)

    def __enter__(self) -> Server:
        self.wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        Path(self.log.name).unlink(missing_ok=True)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (/proc/<pid>/status, VmRSS): the
    same reading as the hostile tests'."""
    from tests.api.live import descendants, rss_bytes

    return rss_bytes([pid, *descendants(pid)])


def hostile_csv(server: Server) -> tuple[int, float, float, float, float]:
    """(status, seconds, peak growth MB, kept MB, MB at rest before) of a 5,000,000-line CSV
    (the service's processes sampled every 10 ms)."""
    import threading

    body = (
        b"total_views,total_carts,session_duration_minutes,experiment_group\n" + b"1\n" * 5_000_000
    )
    time.sleep(1.0)
    before = tree_rss(server.process.pid)
    peak, done = before, threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss(server.process.pid))
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    request = urllib.request.Request(
        server.base + "/bulk_predict", data=body, headers={"Content-Type": "text/csv"}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            status = response.status
    except urllib.error.HTTPError as err:
        status = err.code
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    time.sleep(1.0)
    kept = tree_rss(server.process.pid) - before
    return status, seconds, (peak - before) / 2**20, kept / 2**20, before / 2**20


def wrk(
    name: str,
    url: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    vary: bool = False,
    body_file: str = "",
    connections: int = CONCURRENCY,
    duration: float = DURATION_S,
    limit: int = MAX_REQUESTS,
    timeout_s: int = 30,
) -> Figure:
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in (headers or {}).items())
    path = "/" + url.split("/", 3)[3]
    script = LUA % {
        "method": method,
        "headers": header_lines,
        "path": path,
        "vary": "true" if vary else "false",
        "body_file": body_file,
        "limit": max(1, limit // 1),  # one wrk thread: the limit is the run's
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script)
    try:
        command = [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, int(duration))}s",
            f"--timeout={timeout_s}s", "-s", fh.name, url,
        ]  # fmt: skip
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(fh.name)
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    r = json.loads(line.removeprefix("RESULT "))
    return Figure(
        name,
        requests=r["requests"],
        seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        errors=r["status_errors"] + r["socket_errors"],
    )


def ensure_model() -> Path:
    """A data dir whose current model the API serves (data/bench, or a small one trained now)."""
    data_dir = Path(os.environ.get("ECOM_DATA_DIR") or REPO_ROOT / "data" / "bench")
    from pipeline.errors import ModelError
    from pipeline.serving.registry import resolve

    try:
        resolve(Settings(data_dir=data_dir).models_dir)
        return data_dir
    except ModelError:
        pass
    shown = data_dir.relative_to(REPO_ROOT) if data_dir.is_relative_to(REPO_ROOT) else data_dir.name
    print(f"no model under {shown}: training a small one (synthetic gold, real training path)")
    from pipeline.model.train import train_local
    from tests.model.conftest import cart_sessions, write_warehouse

    data_dir = Path(tempfile.mkdtemp(prefix="bench-api-data-"))
    settings = Settings(data_dir=data_dir)
    write_warehouse(settings.warehouse_path, cart_sessions(20_000, seed=11))
    train_local(settings, n_boot=20)
    return data_dir


def ensure_moment_model(data_dir: Path) -> dict[str, str]:
    """Environment overrides that give the server a moment model: none when data_dir has one;
    else ECOM_MODELS_DIR pointing at a copy of its session versions plus a moment version
    trained by the moment trainer (`ecom train --family moment`) on a warehouse generated at a
    small scale, as the serving tests train theirs."""
    from pipeline.errors import ModelError
    from pipeline.serving.registry import MOMENT, resolve

    models = Settings(data_dir=data_dir).models_dir
    try:
        resolve(models, family=MOMENT)
        return {}
    except ModelError:
        pass
    print("no moment model: building a small warehouse and training one (0.2% scale)")
    from pipeline.generate import generate
    from pipeline.ingest import ingest
    from pipeline.serving.registry import family_folder
    from pipeline.warehouse.build import build_warehouse
    from tests.moment_model import train_moment_version

    root = Path(tempfile.mkdtemp(prefix="bench-api-moment-"))
    copied = root / "models"
    shutil.copytree(models / family_folder("session"), copied / family_folder("session"))
    warehouse = Settings(data_dir=root / "data", models_dir=copied)
    generate(warehouse.raw_dir, scale=0.002, seed=23)
    ingest(warehouse)
    build_warehouse(warehouse)
    train_moment_version(warehouse)
    return {"ECOM_MODELS_DIR": str(copied)}


def live_session_body(folder: Path, events: int = 20) -> Path:
    """One live session of `events` events (views, add-to-carts, removals over 13 minutes,
    no purchase) with the shopper's history, as a tracker sends it."""
    kinds = ["view", "view", "cart", "view", "remove_from_cart"]
    start = 1_580_738_400  # 2020-02-03 14:00 UTC
    body = {
        "events": [
            {
                "event_time": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(start + 40 * i))}Z",
                "event_type": kinds[i % len(kinds)],
                "product_id": 5_800_000 + i % 7,
                "category_id": 1_487_580_005_134_238_553 + i % 3,
                "brand": None if i % 4 else "runail",
                "price": round(2.5 + 1.75 * (i % 9), 2),
            }
            for i in range(events)
        ],
        "history": {
            "prior_sessions": 3,
            "prior_purchasing_sessions": 1,
            "prior_abandonment_rate": 0.5,
            "days_since_previous_session": 4.25,
            "prior_revenue": 27.9,
        },
        "experiment_group": "treatment",
    }
    path = folder / "session20.json"
    path.write_text(json.dumps(body))
    return path


def bulk_bodies(folder: Path) -> tuple[Path, Path, str]:
    """100,000 sessions as a JSON array and as a multipart CSV upload (files + boundary)."""
    rng = np.random.default_rng(3)
    views = rng.poisson(4, BULK_ROWS)
    carts = 1 + rng.poisson(0.6, BULK_ROWS)
    minutes = np.round(rng.exponential(12, BULK_ROWS), 2)
    groups = rng.choice(["treatment", "control"], BULK_ROWS)
    rows = [
        {
            "total_views": int(v),
            "total_carts": int(c),
            "session_duration_minutes": float(m),
            "experiment_group": str(g),
        }
        for v, c, m, g in zip(views, carts, minutes, groups, strict=True)
    ]
    json_path = folder / "bulk.json"
    json_path.write_text(json.dumps(rows))
    csv_text = "total_views,total_carts,session_duration_minutes,experiment_group\n" + "".join(
        f"{v},{c},{m},{g}\n" for v, c, m, g in zip(views, carts, minutes, groups, strict=True)
    )
    boundary = "benchboundary7d3e"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\n{csv_text}\r\n--{boundary}--\r\n"
    )
    csv_path = folder / "bulk.multipart"
    csv_path.write_text(multipart)
    return json_path, csv_path, boundary


def verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


def main() -> int:
    if shutil.which("wrk") is None:
        print("wrk is not installed: `apt-get install -y wrk` (make bench does it)")
        return 1
    data_dir = ensure_model()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECOM_")},
        "ECOM_DATA_DIR": str(data_dir),
        **ensure_moment_model(data_dir),
        "PYTHONPATH": str(REPO_ROOT),
    }
    print(
        f"uvicorn workers: {WORKERS}; wrk: 1 thread, {CONCURRENCY} connections, "
        f"{DURATION_S} s or {MAX_REQUESTS:,} requests per figure; cpus: {os.cpu_count()}; "
        f"load average before: {os.getloadavg()[0]:.1f}"
    )
    figures: dict[str, Figure] = {}
    with Server("benchmarks.api_baseline:create_app", env, "/constant") as base:
        url = base.base + "/constant"
        wrk("warm-up", url, duration=WARMUP_S)
        figures["baseline"] = wrk("baseline GET /constant", url)
    json_headers = {"Content-Type": "application/json"}
    with (
        tempfile.TemporaryDirectory(prefix="bench-api-") as tmp,
        Server("api", env, "/ready") as api,
    ):
        json_path, csv_path, boundary = bulk_bodies(Path(tmp))
        fast = api.base + "/predict?explain=false"
        wrk("warm-up", fast, method="POST", headers=json_headers, vary=True, duration=WARMUP_S)
        figures["explain=false"] = wrk(
            "POST /predict?explain=false", fast, method="POST", headers=json_headers, vary=True
        )
        score_url = api.base + "/sessions/score"
        session_body = str(live_session_body(Path(tmp)))
        wrk(
            "warm-up",
            score_url,
            method="POST",
            headers=json_headers,
            body_file=session_body,
            duration=WARMUP_S,
        )
        figures["sessions"] = wrk(
            "POST /sessions/score (20 events)",
            score_url,
            method="POST",
            headers=json_headers,
            body_file=session_body,
        )
        png = api.base + "/predict"
        wrk("warm-up", png, method="POST", headers=json_headers, vary=True, duration=WARMUP_S)
        figures["png"] = wrk(
            "POST /predict (PNG)", png, method="POST", headers=json_headers, vary=True
        )
        bulk = api.base + "/bulk_predict"
        common = {"method": "POST", "connections": 1, "duration": 120, "limit": BULK_REPEATS}
        wrk(
            "warm-up",
            bulk,
            headers=json_headers,
            body_file=str(json_path),
            **{**common, "limit": 1},
        )  # type: ignore[arg-type]
        figures["bulk json"] = wrk(
            f"POST /bulk_predict {BULK_ROWS:,} rows JSON",
            bulk,
            headers=json_headers,
            body_file=str(json_path),
            **common,  # type: ignore[arg-type]
        )
        csv_headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        figures["bulk csv"] = wrk(
            f"POST /bulk_predict {BULK_ROWS:,} rows CSV",
            bulk,
            headers=csv_headers,
            body_file=str(csv_path),
            **common,  # type: ignore[arg-type]
        )
        figures["bulk csv->csv"] = wrk(
            f"POST /bulk_predict {BULK_ROWS:,} rows CSV, Accept: text/csv",
            bulk,
            headers={**csv_headers, "Accept": "text/csv"},
            body_file=str(csv_path),
            **common,  # type: ignore[arg-type]
        )
        # /predict again, with 100k-row JSON bulk calls back to back beside it
        beside: dict[str, Figure] = {}
        import threading

        def bulk_beside() -> None:
            beside["bulk"] = wrk(
                f"  (beside: POST /bulk_predict {BULK_ROWS:,} rows JSON)",
                bulk,
                method="POST",
                headers=json_headers,
                body_file=str(json_path),
                connections=1,
                duration=DURATION_S + 4,
            )

        bulk_thread = threading.Thread(target=bulk_beside)
        bulk_thread.start()
        time.sleep(2.0)  # the first bulk call is under way
        figures["beside bulk"] = wrk(
            "POST /predict?explain=false beside bulk calls",
            fast,
            method="POST",
            headers=json_headers,
            vary=True,
        )
        bulk_thread.join()
        figures["bulk beside"] = beside["bulk"]
        hostile = hostile_csv(api)
    baseline = figures["baseline"].rps
    fast, png, live = figures["explain=false"], figures["png"], figures["sessions"]
    targets = {
        "baseline": "",
        "explain=false": (
            f">= 0.5x baseline rps, p50 < 3 ms, 0 errors: "
            f"{verdict(fast.rps >= 0.5 * baseline and fast.p50_ms < 3 and fast.errors == 0)}"
        ),
        "sessions": (
            f"p50 <= 2x explain=false's ({live.p50_ms / fast.p50_ms:.2f}x), 0 errors: "
            f"{verdict(live.p50_ms <= 2 * fast.p50_ms and live.errors == 0)}"
        ),
        "png": f"p50 < 150 ms: {verdict(png.p50_ms < 150 and png.errors == 0)}",
        "bulk json": f"< 2 s: {verdict(figures['bulk json'].p50_ms < 2000 and figures['bulk json'].errors == 0)}",
        "bulk csv": f"< 1 s: {verdict(figures['bulk csv'].p50_ms < 1000 and figures['bulk csv'].errors == 0)}",
        "bulk csv->csv": "(no target)",
        "beside bulk": (
            f"p99 <= 3x alone: {figures['beside bulk'].p99_ms / fast.p99_ms:.2f}x "
            f"{verdict(figures['beside bulk'].p99_ms <= 3 * fast.p99_ms and figures['beside bulk'].errors == 0)}"
        ),
        "bulk beside": "(the calls beside it)",
    }
    print(
        f"\n{'figure':<46}{'requests':>9}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'errors':>8}{'x base':>8}  target"
    )
    for key, f in figures.items():
        print(
            f"{f.name:<46}{f.requests:>9,}{f.rps:>10,.1f}{f.p50_ms:>9.2f}{f.p99_ms:>9.2f}"
            f"{f.errors:>8}{f.rps / baseline:>8.3f}  {targets[key]}"
        )
    status, seconds, grown, kept, at_rest = hostile
    print(
        f"\nservice memory at rest: {at_rest:.0f} MB (supervisor, {WORKERS} workers and their bulk "
        "processes, /proc VmRSS summed)"
    )
    print(
        f"5,000,000-line CSV (10 MB): {status} in {seconds:.2f} s, memory growth {grown:.1f} MB "
        f"at peak, {kept:.1f} MB kept (every process of the service, /proc VmRSS); targets "
        f"< 1 s and < 100 MB: {verdict(status == 413 and seconds < 1 and grown < 100)}"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f} (above ~0.5 the figures are noisy)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
