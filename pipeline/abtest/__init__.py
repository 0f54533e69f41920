"""`ecom abtest`: every experiment of experiments.yml read out on the gold layer.

queries (sql/readout/ -> sufficient statistics) -> readout (pipeline.stats) -> document
(readout.json's pydantic models) -> report (JSON, and Markdown from templates/readout.md.j2)
and plots (PNG, HTML), written to settings.reports_dir / "abtest" / <experiment key>; results
(the rows of gold.experiment_results, written through the warehouse interface). The dashboard
calls `compute_readout` (with its filters as `where`) or `build_readout` on statistics it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pipeline.abtest import plots, queries, report, results
from pipeline.abtest.document import ReadoutDocument
from pipeline.abtest.readout import Readout, ReadoutConfig, build_readout
from pipeline.abtest.recorded import recorded_experiment, start_mismatch
from pipeline.errors import WarehouseError
from pipeline.experiment import Experiment
from pipeline.experiment.config import ExperimentSpec, load_experiments
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
OUTPUT_MODELS = (ReadoutDocument, results.ResultRow)

STEPS = ("query the gold layer", "compute the statistics", "write reports, plots and results")


@dataclass(frozen=True)
class AbtestOutputs:
    readout: Readout
    json: Path
    markdown: Path
    conversion_png: Path
    lift_png: Path
    html: Path
    result_rows: int  # rows of this run in gold.experiment_results


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
    spec: ExperimentSpec,
    recorded: Experiment | None = None,
    *,
    where: str | None = None,
    settings_source: str = "settings",
    warnings: tuple[str, ...] = (),
) -> Readout:
    """One experiment's aggregate queries on gold.fct_experiment_users, then the maths in
    Python. `recorded` is what ingestion injected (for the injected experiment); `where`
    filters users by columns known at entry (the dashboard's filters)."""
    sqls = queries.readout_queries(
        wh, spec.key, config.winsorize_at, where, injected=spec.is_injected
    )
    frames = {name: _query(wh, sql, name.replace("_", " ")) for name, sql in sqls.items()}
    data = queries.data_from_frames(frames)
    notes = list(warnings)
    if spec.is_injected and recorded is not None:
        notes += start_mismatch(recorded, data.stats.start)
    return build_readout(
        data,
        config,
        spec,
        recorded,
        "manifests" if settings_source == "manifests" else "settings",
        tuple(notes),
    )


def run_abtest(
    settings: Settings,
    config: ReadoutConfig | None = None,
    progress=None,
    keys: Sequence[str] | None = None,
) -> dict[str, AbtestOutputs]:
    """Read out each experiment (`keys`, default every one in experiments.yml): its files
    under reports/abtest/<key>/ and its rows in gold.experiment_results."""
    config = config or ReadoutConfig()
    experiments = load_experiments(settings)
    specs = [experiments.get(k) for k in keys] if keys else list(experiments.experiments)
    task = progress.add_task("abtest", total=len(STEPS) * len(specs)) if progress else None
    recorded, source, warnings = recorded_experiment(settings.manifest_dir, experiments.ingestion)
    wh = connect(settings)
    done: dict[str, AbtestOutputs] = {}
    for number, spec in enumerate(specs):

        def step(i: int, number: int = number, spec: ExperimentSpec = spec) -> None:
            if progress is not None:
                progress.update(
                    task,
                    completed=number * len(STEPS) + i,
                    description=f"{spec.key}: {STEPS[min(i, len(STEPS) - 1)]}",
                )

        step(0)
        injected = spec.is_injected
        readout = compute_readout(
            wh,
            config,
            spec,
            recorded if injected else None,
            settings_source=source if injected else "settings",
            warnings=tuple(warnings) if injected else (),
        )
        step(2)
        done[spec.key] = write_outputs(wh, readout, settings.reports_dir / "abtest" / spec.key)
        step(3)
    return done


def write_outputs(wh: Warehouse, readout: Readout, out_dir: Path) -> AbtestOutputs:
    """The readout's files, then its rows in gold.experiment_results (replacing the same run's
    rows, keeping earlier runs')."""
    out_dir.mkdir(parents=True, exist_ok=True)
    document = report.document(readout)
    return AbtestOutputs(
        readout=readout,
        json=report.write_json(readout, out_dir / "readout.json"),
        markdown=report.write_markdown(readout, out_dir / "readout.md"),
        conversion_png=plots.conversion_png(readout, out_dir / "conversion_by_group.png"),
        lift_png=plots.lift_png(readout, out_dir / "cumulative_lift.png"),
        html=plots.html(readout, out_dir / "readout.html"),
        result_rows=results.write_results(wh, document),
    )
