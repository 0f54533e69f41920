"""`ecom abtest`: the experiment readout on the gold layer.

queries (sql/readout/ -> sufficient statistics) -> readout (pipeline.stats) -> document
(readout.json's pydantic models) -> report (JSON, and Markdown from templates/readout.md.j2)
and plots (PNG, HTML), written to settings.reports_dir / "abtest". The dashboard calls
`compute_readout` (with its filters as `where`) or `build_readout` on statistics it has.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.abtest import plots, queries, report
from pipeline.abtest.document import ReadoutDocument
from pipeline.abtest.readout import Readout, ReadoutConfig, build_readout
from pipeline.abtest.recorded import recorded_experiment, start_mismatch
from pipeline.errors import WarehouseError
from pipeline.experiment import Experiment
from pipeline.settings import Settings
from pipeline.warehouse import Warehouse, connect

__all__ = [
    "OUTPUT_MODELS",
    "AbtestOutputs",
    "Readout",
    "ReadoutConfig",
    "build_readout",
    "compute_readout",
    "run_abtest",
]

# The outputs this package writes, as pydantic models (their JSON Schemas document them).
OUTPUT_MODELS = (ReadoutDocument,)

STEPS = ("query the gold layer", "compute the statistics", "write reports and plots")


@dataclass(frozen=True)
class AbtestOutputs:
    readout: Readout
    json: Path
    markdown: Path
    conversion_png: Path
    lift_png: Path
    html: Path


def _query(wh: Warehouse, sql: str, what: str):
    try:
        return wh.query(sql)
    except WarehouseError:
        raise
    except Exception as err:  # engine errors: missing gold tables, permissions, ...
        raise WarehouseError(
            f"The readout's {what} query failed: {err}. Build the gold layer first "
            "(`ecom ingest` then `ecom warehouse`)."
        ) from err


def compute_readout(
    wh: Warehouse,
    config: ReadoutConfig,
    experiment: Experiment | None = None,
    *,
    where: str | None = None,
    settings_source: str = "settings",
    warnings: tuple[str, ...] = (),
) -> Readout:
    """Four aggregate queries on gold.fct_experiment_users, then the maths in Python.

    `where` filters users by columns known at entry (the dashboard's filters)."""
    experiment = experiment or Experiment()
    stats = queries.stats_from_frames(
        _query(wh, queries.totals_sql(wh, config.winsorize_at, where), "group totals"),
        _query(wh, queries.window_sql(wh, where), "experiment window"),
    )
    weekly = queries.weekly_from_frame(_query(wh, queries.weekly_sql(wh, where), "weekly"))
    segments = queries.segments_from_frame(_query(wh, queries.segments_sql(wh, where), "segments"))
    notes = (*warnings, *start_mismatch(experiment, stats.start))
    return build_readout(
        stats,
        weekly,
        segments,
        config,
        experiment,
        "manifests" if settings_source == "manifests" else "settings",
        notes,
    )


def run_abtest(
    settings: Settings, config: ReadoutConfig | None = None, progress=None
) -> AbtestOutputs:
    config = config or ReadoutConfig()
    out_dir = settings.reports_dir / "abtest"
    out_dir.mkdir(parents=True, exist_ok=True)
    task = progress.add_task("abtest", total=len(STEPS)) if progress is not None else None

    def step(i: int) -> None:
        if progress is not None:
            progress.update(task, completed=i, description=STEPS[min(i, len(STEPS) - 1)])

    step(0)
    experiment, source, warnings = recorded_experiment(settings.manifest_dir, settings.experiment)
    readout = compute_readout(
        connect(settings),
        config,
        experiment,
        settings_source=source,
        warnings=tuple(warnings),
    )
    step(2)
    outputs = AbtestOutputs(
        readout=readout,
        json=report.write_json(readout, out_dir / "readout.json"),
        markdown=report.write_markdown(readout, out_dir / "readout.md"),
        conversion_png=plots.conversion_png(readout, out_dir / "conversion_by_group.png"),
        lift_png=plots.lift_png(readout, out_dir / "cumulative_lift.png"),
        html=plots.html(readout, out_dir / "readout.html"),
    )
    step(3)
    return outputs
