"""What an incremental warehouse build rebuilds: the window of days whose rows may have changed.

Two records say what changed since the last build: the ingestion manifests (one per month:
which run made it live, and the time range of its rows) and the last build's own record
(`BuildRecord`, <data>/warehouse_build.json: the runs it built from). A month is changed when
its run differs (new, re-ingested) or its manifest is gone; its rows, old and new, lie within
the old and new ranges. From the earliest changed event on, anything may differ; before it,
events are unchanged, and so is everything computed from earlier events only, which is every
model but two reads: a session still going just before (the new events may extend it), and
fct_cart_moments' label, which looks `purchase_label_hours` past its point. So the window
starts at the start of the earliest session that ended within that lookahead plus the session
timeout before the first change (a query on the last build's sessions), on the UTC day
boundary before it, and ends on the last day any build held data for.

Without a record, with another warehouse's record, after a change to the dbt project or its
vars, or when a table of the last build is missing, the build is a full one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import WarehouseError
from pipeline.files import atomic_write, remove
from pipeline.sessions import SESSION_TIMEOUT_MINUTES
from pipeline.settings import DBT_PROJECT_DIR, Settings
from pipeline.warehouse import Warehouse
from pipeline.warehouse.templates import render

# How far past its point fct_cart_moments looks for a purchase (purchased_within_24h): the
# furthest any gold row reads past its own session. Passed to dbt as `purchase_label_hours`.
PURCHASE_LABEL_HOURS = 24
# What a rebuild must reach back before the first changed event (see the module docstring).
LOOKBACK = timedelta(hours=PURCHASE_LABEL_HOURS, minutes=SESSION_TIMEOUT_MINUTES)
# dbt's folders whose files decide what a build computes (their hash is the project's).
PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "tests")

Mode = Literal["full", "incremental", "unchanged"]


class MonthBuilt(BaseModel):
    """One ingested month as a build saw it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    run_id: str = Field(default="", description="The ingestion run that made the month live.")
    ingested_at: str = Field(description="When that run started (ISO 8601, UTC).")
    first_event_at: str | None = Field(
        default=None, description="The month's earliest event (ISO 8601, UTC)."
    )
    last_event_at: str | None = Field(
        default=None, description="The month's latest event (ISO 8601, UTC)."
    )


class IngestedMonth(MonthBuilt):
    """The fields of an ingestion manifest (<data>/manifests/<month>.json, published as
    pipeline.ingest.manifest.Manifest's JSON Schema) a build needs. Read here from the file:
    the warehouse sits below ingestion and does not import it."""

    month: str
    rows_written: int

    def built(self) -> MonthBuilt:
        return MonthBuilt.model_validate(self.model_dump())


class BuildRecord(BaseModel):
    """The last warehouse build: what it built from, so the next one knows what changed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    built_at: str = Field(description="When the build finished (ISO 8601, UTC).")
    mode: Literal["full", "incremental"] = Field(description="How it was built.")
    target: str = Field(description="The warehouse it built (a DuckDB file or BigQuery datasets).")
    project: str = Field(description="Hash of the dbt project's files and vars it ran.")
    months: dict[str, MonthBuilt] = Field(description="Each ingested month it built from.")
    incremental_tables: list[str] = Field(
        description="The tables it keeps between builds ('layer.name'); all must exist."
    )
    rebuilt_from: str | None = Field(
        default=None, description="An incremental build's first rebuilt day ('YYYY-MM-DD')."
    )
    pending_from: str | None = Field(
        default=None,
        description="The window of a rebuild that started and did not finish: the next build "
        "starts no later (its tables may be half rewritten).",
    )

    def write(self, settings: Settings) -> None:
        path = settings.warehouse_build_path
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, self.model_dump_json(indent=2) + "\n")

    @classmethod
    def read(cls, settings: Settings) -> BuildRecord | None:
        """The record, or None when there is none or it cannot be read (then: a full build)."""
        try:
            return cls.model_validate_json(settings.warehouse_build_path.read_text())
        except (OSError, ValueError):
            return None

    @staticmethod
    def forget(settings: Settings) -> None:
        """Before a full build: until it succeeds, nothing is known to be built."""
        remove(settings.warehouse_build_path)


@dataclass(frozen=True)
class BuildPlan:
    """What the next build does, and why."""

    mode: Mode
    reason: str
    rebuild_from: date | None = None
    rebuild_until: date | None = None
    changed: tuple[str, ...] = ()

    def dbt_vars(self) -> dict[str, str]:
        """The window as dbt vars (macros/incremental.sql); none for a full build."""
        if self.rebuild_from is None or self.rebuild_until is None:
            return {}
        return {
            "rebuild_from": self.rebuild_from.isoformat(),
            "rebuild_until": self.rebuild_until.isoformat(),
        }


def target_of(settings: Settings) -> str:
    if settings.warehouse == "bigquery":
        datasets = f"{settings.bq_silver_dataset},{settings.bq_gold_dataset}"
        return f"bigquery:{settings.gcp_project}:{datasets}"
    return f"duckdb:{settings.warehouse_path.resolve()}"


def project_hash(dbt_vars: dict[str, Any]) -> str:
    """The dbt project's files and the vars it runs with: a change to either rebuilds in full."""
    digest = hashlib.sha256(json.dumps(dbt_vars, sort_keys=True, default=str).encode())
    for part in PROJECT_PARTS:
        root = DBT_PROJECT_DIR / part
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(DBT_PROJECT_DIR).as_posix().encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ingested_months(settings: Settings) -> dict[str, IngestedMonth]:
    """The live manifests by month (files being committed are hidden folders, not read)."""
    months = {}
    for path in sorted(settings.manifest_dir.glob("*.json")):
        try:
            month = IngestedMonth.model_validate_json(path.read_text())
        except (OSError, ValueError) as err:
            raise WarehouseError(
                f"Cannot read the ingestion manifest {path} ({err}): re-ingest its month "
                "(`ecom ingest --month ...`), or build everything with `--full-refresh`."
            ) from err
        months[month.month] = month
    return months


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def plan_build(
    settings: Settings,
    warehouse: Warehouse,
    project: str,
    *,
    full_refresh: bool = False,
) -> BuildPlan:
    """Full, incremental from a day, or nothing to do (and why), from the records."""
    if full_refresh:
        return BuildPlan("full", "--full-refresh")
    months = ingested_months(settings)
    if not months:
        return BuildPlan(
            "full", "no ingestion manifests: nothing says what changed in bronze since a build"
        )
    record = BuildRecord.read(settings)
    if record is None:
        return BuildPlan("full", "no earlier build is recorded (the first build)")
    if record.target != target_of(settings):
        return BuildPlan("full", "the recorded build was of another warehouse")
    if record.project != project:
        return BuildPlan("full", "the dbt project or its vars changed since the last build")
    missing = [t for t in record.incremental_tables if not warehouse.exists(*t.split(".", 1))]
    if missing:
        return BuildPlan("full", f"{', '.join(missing)} no longer exist(s)")
    unranged = [m for m, f in months.items() if f.rows_written and f.last_event_at is None]
    if unranged:
        return BuildPlan(
            "full",
            f"the manifest of {', '.join(unranged)} predates event ranges (re-ingest the "
            "month once to build incrementally after it)",
        )
    now = {month: manifest.built() for month, manifest in months.items()}
    changed = sorted(
        month
        for month in now.keys() | record.months.keys()
        if _run(now.get(month)) != _run(record.months.get(month))
    )
    if not changed and record.pending_from is None:
        return BuildPlan("unchanged", f"nothing was ingested since the build of {record.built_at}")
    # The changed months' rows before and after: where the first change is.
    touched = [b for m in changed for b in (now.get(m), record.months.get(m)) if b is not None]
    firsts = [_instant(b.first_event_at) for b in touched if b.first_event_at]
    starts = []
    if firsts:
        first_change = min(firsts)
        earliest_open = rebuild_start(settings, warehouse, first_change - LOOKBACK)
        starts += [first_change, *([earliest_open] if earliest_open else [])]
    if record.pending_from:
        starts.append(datetime.combine(date.fromisoformat(record.pending_from), time(), UTC))
    lasts = [_instant(b.last_event_at) for b in [*now.values(), *touched] if b.last_event_at]
    if not starts or not lasts:
        return BuildPlan("unchanged", "the changed months hold no rows", changed=tuple(changed))
    start = min(starts).date()
    until = max(max(lasts).date(), start)
    what = ", ".join(changed) if changed else "an unfinished rebuild"
    return BuildPlan("incremental", f"{what} changed", start, until, tuple(changed))


def _run(built: MonthBuilt | None) -> tuple[str, str] | None:
    return None if built is None else (built.run_id, built.ingested_at)


def rebuild_start(settings: Settings, warehouse: Warehouse, since: datetime) -> datetime | None:
    """The start of the earliest session of the last build that ended at or after `since`."""
    sql = render(
        "warehouse/rebuild_start.sql",
        warehouse.engine,  # type: ignore[arg-type]
        table=warehouse.table("gold", "fact_user_sessions"),
        since=since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S"),
    )
    found = warehouse.query(sql)["session_start"][0]
    return None if found is None else found.astimezone(UTC)


def record_build(
    settings: Settings,
    plan: BuildPlan,
    project: str,
    incremental_tables: list[str],
) -> BuildRecord:
    """After a build of everything succeeded: what it built from."""
    record = BuildRecord(
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        mode="incremental" if plan.mode == "incremental" else "full",
        target=target_of(settings),
        project=project,
        months={m: f.built() for m, f in ingested_months(settings).items()},
        incremental_tables=sorted(incremental_tables),
        rebuilt_from=plan.rebuild_from.isoformat() if plan.rebuild_from else None,
    )
    record.write(settings)
    return record


def mark_pending(settings: Settings, plan: BuildPlan) -> None:
    """Before a rebuild: if it does not finish, the next build starts no later than it."""
    record = BuildRecord.read(settings)
    if record is not None and plan.rebuild_from is not None:
        record.model_copy(update={"pending_from": plan.rebuild_from.isoformat()}).write(settings)


# The outputs this module publishes a JSON Schema for (the documentation's reference pages).
OUTPUT_MODELS: tuple[type[BaseModel], ...] = (BuildRecord,)
