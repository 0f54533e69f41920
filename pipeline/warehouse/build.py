"""Build silver and gold with dbt, in-process, on the warehouse named by settings.

dbt runs through its programmatic entry point (dbtRunner) so the CLI gets a progress bar fed
by dbt's own events and a WarehouseError carrying dbt's own failure messages. The profile in
dbt/profiles.yml reads every name from environment variables; this module sets them from
Settings for the duration of one invocation. A build is incremental unless there is nothing to
build on: pipeline/warehouse/incremental.py decides the window from the ingestion manifests
and the last build's record, which a build of everything rewrites when it succeeds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import WarehouseError
from pipeline.experiment import CONTROL, TREATMENT, TREATMENT_HEX_DIGITS
from pipeline.sessions import SESSION_TIMEOUT_MINUTES
from pipeline.settings import DBT_PROJECT_DIR, EXPERIMENTS_FILE, Settings

if TYPE_CHECKING:
    from pipeline.experiment.config import ExperimentsFile
    from pipeline.warehouse.incremental import BuildPlan

# The SQL-scoring model needs a trained model first; `ecom score` builds it.
SCORING_SELECTOR = "tag:scoring"
UNIT_TESTS = "resource_type:unit_test"
PROFILES_DIR = DBT_PROJECT_DIR
FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})


@dataclass(frozen=True)
class NodeOutcome:
    """One model or test of a dbt invocation, as dbt reported it."""

    unique_id: str
    resource_type: str
    status: str
    message: str | None
    seconds: float


@dataclass(frozen=True)
class BuildResult:
    """What a build did: every node's outcome and where dbt wrote its artifacts."""

    target: str
    elapsed_seconds: float
    target_path: Path
    nodes: tuple[NodeOutcome, ...] = field(default_factory=tuple)
    plan: BuildPlan | None = None

    def count(self, resource_type: str) -> int:
        return sum(node.resource_type == resource_type for node in self.nodes)


def dbt_target(settings: Settings) -> str:
    """The profile target for the configured warehouse."""
    return "bigquery" if settings.warehouse == "bigquery" else "local"


def dbt_paths(settings: Settings) -> tuple[Path, Path]:
    """dbt's target/ and logs/ under the data dir, so builds of different data dirs never share
    compiled SQL, partial-parse state or logs."""
    root = settings.data_dir.resolve() / "dbt"
    return root / "target", root / "logs"


def dbt_env(settings: Settings) -> dict[str, str]:
    """The environment variables dbt/profiles.yml and the project read."""
    env = {
        "ECOM_DBT_TARGET": dbt_target(settings),
        "ECOM_DUCKDB_PATH": str(settings.warehouse_path.resolve()),
        "ECOM_BQ_LOCATION": settings.bq_location,
        "ECOM_BQ_BRONZE_DATASET": settings.bq_bronze_dataset,
        "ECOM_BQ_SILVER_DATASET": settings.bq_silver_dataset,
        "ECOM_BQ_GOLD_DATASET": settings.bq_gold_dataset,
        "ECOM_BQ_MAXIMUM_BYTES_BILLED": str(settings.bq_maximum_bytes_billed),
    }
    if settings.gcp_project:
        env["ECOM_GCP_PROJECT"] = settings.gcp_project
    if settings.bq_api_endpoint:
        # An emulator on loopback: any bearer token is accepted (callers may override both).
        env["ECOM_BQ_API_ENDPOINT"] = settings.bq_api_endpoint
        env["ECOM_BQ_AUTH_METHOD"] = os.environ.get("ECOM_BQ_AUTH_METHOD", "oauth-secrets")
        env["ECOM_BQ_TOKEN"] = os.environ.get("ECOM_BQ_TOKEN", "emulator")
    return env


def dbt_vars(settings: Settings | None = None) -> dict[str, Any]:
    """Project vars fixed by the Python side (one place for each fact): the session timeout
    (pipeline.sessions), the experiments' group names and assignment digits
    (pipeline.experiment), the experiments themselves (experiments.yml, with the run's
    overrides; the repository's file without settings), and how far fct_cart_moments' label
    looks ahead (pipeline.warehouse.incremental). dbt_project.yml repeats them as defaults for
    hand-run dbt, and tests/warehouse/test_dbt_project.py checks those defaults equal these
    values."""
    from pipeline.experiment.config import load_experiments, read_experiments
    from pipeline.warehouse.incremental import PURCHASE_LABEL_HOURS

    experiments = (
        read_experiments(EXPERIMENTS_FILE) if settings is None else load_experiments(settings)
    )
    return {
        "session_timeout_minutes": SESSION_TIMEOUT_MINUTES,
        "purchase_label_hours": PURCHASE_LABEL_HOURS,
        "control_group": CONTROL,
        "treatment_group": TREATMENT,
        "treatment_hex_digits": list(TREATMENT_HEX_DIGITS),
        "experiments": experiment_vars(experiments),
    }


def experiment_vars(experiments: ExperimentsFile) -> list[dict[str, Any]]:
    """Each experiment as gold.fct_experiment_users takes it: key, assignment salt, window,
    and whether ingestion assigned its groups (the injected one: bronze's experiment_group)."""
    injected = experiments.injected
    return [
        {
            "key": e.key,
            "salt": e.assignment.salt,
            "start": None if e.start is None else e.start.isoformat(),
            "end": None if e.end is None else e.end.isoformat(),
            "from_ingestion": injected is not None and e.key == injected.key,
        }
        for e in experiments.experiments
    ]


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for one dbt invocation, then restore the previous values."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def dbt_args(
    command: str,
    settings: Settings,
    *,
    select: str | None = None,
    exclude: str | None = None,
    extra: tuple[str, ...] = (),
    extra_vars: Mapping[str, Any] | None = None,
) -> list[str]:
    target_path, log_path = dbt_paths(settings)
    args = [
        *command.split(),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(PROFILES_DIR),
        "--target",
        dbt_target(settings),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
        "--vars",
        json.dumps({**dbt_vars(settings), **(extra_vars or {})}),
        "--no-send-anonymous-usage-stats",
        "--no-version-check",
        "--quiet",
    ]
    if select:
        args += ["--select", select]
    if exclude:
        args += ["--exclude", exclude]
    return args + list(extra)


class _ProgressFeed:
    """Advances a rich progress task from dbt's events: the first START line gives the
    number of selected nodes, each NodeFinished advances the bar by one."""

    def __init__(self, progress: Any | None, description: str) -> None:
        self.progress = progress
        self.task = progress.add_task(description, total=None) if progress else None
        self.sized = False

    def __call__(self, event: Any) -> None:
        if self.progress is None:
            return
        name = event.info.name
        if name == "LogStartLine" and not self.sized:
            self.sized = True
            self.progress.update(self.task, total=event.data.total)
        elif name == "NodeFinished":
            node = event.data.node_info
            self.progress.update(self.task, advance=1, description=f"dbt: {node.node_name}")


def _check_bronze(settings: Settings) -> None:
    """Fail early, with the fix, when there is nothing to build from (DuckDB only)."""
    if settings.warehouse != "duckdb":
        return
    import duckdb

    path = settings.warehouse_path
    hint = "Run `ecom ingest` first (or `make demo` to generate data and run everything)."
    if not path.exists():
        raise WarehouseError(f"No warehouse at {path}. {hint}")
    with duckdb.connect(str(path), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'bronze' and table_name = 'events'"
        ).fetchone()
    if not found or found[0] == 0:
        raise WarehouseError(f"{path} has no bronze.events table. {hint}")


def _release_duckdb() -> None:
    """Close the DuckDB database dbt-duckdb keeps open in this process after an invocation.

    Otherwise any later read-only connection to the same file from this process (the
    warehouse interface, tests, the app) fails with "different configuration".
    """
    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    except ImportError:  # dbt-duckdb not installed: nothing is open
        return
    env = getattr(DuckDBConnectionManager, "_ENV", None)
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def _outcomes(run_result: Any) -> tuple[NodeOutcome, ...]:
    """What ran: a build also lists each exposure (dbt/models/exposures.yml) as a `no-op`,
    which runs nothing and is left out."""
    results = getattr(run_result, "results", None) or []
    return tuple(
        NodeOutcome(
            unique_id=r.node.unique_id,
            resource_type=str(r.node.resource_type),
            status=str(r.status),
            message=r.message,
            seconds=float(r.execution_time or 0.0),
        )
        for r in results
        if str(r.node.resource_type) != "exposure"
    )


def _failure_message(nodes: tuple[NodeOutcome, ...], target_path: Path) -> str:
    failed = [n for n in nodes if n.status in FAILED_STATUSES]
    skipped = sum(n.status == "skipped" for n in nodes)
    lines = [f"dbt build failed: {len(failed)} node(s) failed, {skipped} skipped downstream."]
    lines += [f"  {n.status.upper()} {n.unique_id}: {n.message}" for n in failed]
    lines.append(
        f"The failing SQL is under {target_path / 'run'}; run it in the warehouse to see the "
        "offending rows, fix the data (or the model) and rerun `ecom warehouse`."
    )
    return "\n".join(lines)


def _with_cloud_hint(message: str, settings: Settings) -> str:
    """On BigQuery, add what fixes a known Google failure (credentials, permission, quota,
    byte cap, missing project or dataset) to dbt's message."""
    if settings.warehouse != "bigquery":
        return message
    from pipeline.warehouse.gcp_errors import hint_for_text

    hint = hint_for_text(message, settings)
    return f"{message}\n{hint}" if hint else message


def run_dbt(
    settings: Settings,
    command: str,
    *,
    select: str | None = None,
    exclude: str | None = None,
    extra: tuple[str, ...] = (),
    extra_vars: Mapping[str, Any] | None = None,
    show_progress: bool = False,
) -> BuildResult:
    """Invoke one dbt command in-process; raise WarehouseError if anything failed.

    extra_vars are project vars a caller adds to dbt_vars() (`ecom score` passes the model's)."""
    from dbt.cli.main import dbtRunner

    from pipeline.progress import progress as make_progress

    target_path, _ = dbt_paths(settings)
    args = dbt_args(
        command, settings, select=select, exclude=exclude, extra=extra, extra_vars=extra_vars
    )
    display = make_progress() if show_progress else None
    started = time.perf_counter()
    with environment(dbt_env(settings)), display or nullcontext():
        feed = _ProgressFeed(display, f"dbt {command}")
        try:
            result = dbtRunner(callbacks=[feed]).invoke(args)
        finally:
            _release_duckdb()
    elapsed = time.perf_counter() - started
    nodes = _outcomes(result.result)
    if result.exception is not None:
        message = (
            f"dbt {command} could not run: {result.exception}\n"
            f"Check dbt/profiles.yml and the logs in {dbt_paths(settings)[1]}."
        )
        raise WarehouseError(_with_cloud_hint(message, settings)) from result.exception
    if not result.success:
        raise WarehouseError(_with_cloud_hint(_failure_message(nodes, target_path), settings))
    return BuildResult(dbt_target(settings), elapsed, target_path, nodes)


def build_warehouse(
    settings: Settings,
    select: str | None = None,
    *,
    exclude: str | None = None,
    full_refresh: bool = False,
    data_tests: bool = True,
    show_progress: bool = False,
) -> BuildResult:
    """`dbt build` (models, data tests, unit tests) of silver and gold: incremental when the
    last build's record allows it, in full otherwise or with `full_refresh`. `data_tests=False`
    runs the models only (`dbt run`: the BigQuery equality tests, whose data tests are DuckDB's).

    Without a selection, everything but the scoring model (tag:scoring) is built, and the
    build's record is rewritten when it succeeds. Nothing runs when nothing was ingested since
    the last build (the result's plan says so); a selection is then rebuilt in full.
    """
    from pipeline.warehouse import connect
    from pipeline.warehouse.incremental import (
        BuildRecord,
        mark_pending,
        plan_build,
        project_hash,
        record_build,
    )

    everything = select is None and exclude is None
    if everything:
        exclude = SCORING_SELECTOR
    _check_bronze(settings)
    project = project_hash(dbt_vars(settings))
    plan = plan_build(settings, connect(settings), project, full_refresh=full_refresh)
    if plan.mode == "unchanged" and everything:
        return BuildResult(dbt_target(settings), 0.0, dbt_paths(settings)[0], plan=plan)
    if plan.mode == "incremental":
        mark_pending(settings, plan)
        extra: tuple[str, ...] = ()
        if everything:
            # Unit tests check the SQL, which is the last build's (else this would be a full
            # build): they ran then. Data tests check the window's rows.
            exclude = f"{exclude} {UNIT_TESTS}"
    else:
        if everything:
            BuildRecord.forget(settings)
        extra = ("--full-refresh",)
    result = run_dbt(
        settings,
        "build" if data_tests else "run",
        select=select,
        exclude=exclude,
        extra=extra,
        extra_vars=plan.dbt_vars(),
        show_progress=show_progress,
    )
    if everything:
        record_build(settings, plan, project, incremental_tables(result.target_path))
    return replace(result, plan=plan)


def incremental_tables(target_path: Path) -> list[str]:
    """'layer.name' of every incremental model of the project but scoring's, from dbt's
    manifest: the tables an incremental build needs from the one before."""
    manifest = json.loads((target_path / "manifest.json").read_text())
    return [
        f"{node['config']['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["config"]["materialized"] == "incremental"
        and "scoring" not in node["tags"]
    ]


def generate_docs(settings: Settings) -> Path:
    """`dbt docs generate`: the static docs site (index.html, catalog.json) in dbt's target."""
    return run_dbt(settings, "docs generate").target_path


__all__ = [
    "BuildResult",
    "NodeOutcome",
    "build_warehouse",
    "dbt_env",
    "dbt_vars",
    "generate_docs",
    "run_dbt",
]
