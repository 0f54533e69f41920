"""`ecom abtest`: the experiment readout on the gold layer.

queries (SQL -> sufficient statistics) -> readout (pipeline.stats) -> report (JSON, Markdown)
and plots (PNG, HTML), written to settings.reports_dir / "abtest".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pipeline.abtest import plots, queries, report
from pipeline.abtest.readout import Readout, ReadoutConfig, build_readout
from pipeline.errors import WarehouseError
from pipeline.settings import Settings
from pipeline.warehouse import Warehouse, connect

__all__ = ["AbtestOutputs", "Readout", "ReadoutConfig", "compute_readout", "run_abtest"]

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


def compute_readout(wh: Warehouse, config: ReadoutConfig) -> Readout:
    """Three queries on the gold layer, then the maths in Python."""
    totals = queries.totals_from_frame(
        _query(wh, queries.group_totals_sql(wh, config.winsorize_at), "group totals")
    )
    weekly = queries.weekly_from_frame(_query(wh, queries.weekly_sql(wh), "weekly"))
    segments = queries.segments_from_frame(_query(wh, queries.segments_sql(wh), "segments"))
    return build_readout(totals, weekly, segments, config)


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
    readout = compute_readout(connect(settings), config)
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
