"""`ecom abtest`: each experiment's readout (decision, evidence, files and warehouse rows)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.errors import InputError
from pipeline.progress import console
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.abtest import ReadoutConfig


class Correction(StrEnum):
    """pipeline.stats.multiple.Correction as a choice (that module imports numpy: too slow to
    import for `--help`; tests/cli checks the two agree)."""

    holm = "holm"
    bh = "bh"


@handles_errors
def abtest(
    alpha: Annotated[float, typer.Option(help="Significance level of tests and intervals.")] = 0.05,
    winsorize: Annotated[
        float | None,
        typer.Option(help="Cap per-user revenue at this percentile of both groups (e.g. 0.99)."),
    ] = None,
    correction: Annotated[
        Correction, typer.Option(help="Multiple-testing correction for segments: holm or bh.")
    ] = Correction.holm,
    sequential_tuning: Annotated[
        float,
        typer.Option(
            help="N* of the always-valid confidence sequence: the sample size where it is "
            "tightest (GrowthBook's default 5000; set it near the users you expect)."
        ),
    ] = 5000.0,
    target_lift: Annotated[
        float | None,
        typer.Option(
            help="Relative lift the sample-size figure is computed for (default: the "
            "experiment's minimum_detectable_effect in experiments.yml)."
        ),
    ] = None,
    revenue_margin: Annotated[
        float | None,
        typer.Option(
            help="Non-inferiority margin of the revenue-per-user guardrail: the largest relative "
            "fall that is acceptable (0.02 = -2%; default: its margin in experiments.yml)."
        ),
    ] = None,
    experiment: Annotated[
        list[str] | None,
        typer.Option(
            "--experiment",
            "-e",
            help="Read out only this experiment (its key in experiments.yml; repeatable). "
            "Default: every experiment.",
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Read out every experiment of experiments.yml: ship, do not ship, keep running or
    investigate, and why.

    Decision by a stated rule; SRM checks, overall, by day and by segment; pre-period balance;
    conversion of users who reached the cart (primary) and of all users; CUPED; guardrails;
    revenue; a Bayesian view; power; peeking-safe weekly view; segments; injected truth; the
    families of tests. Writes JSON, Markdown, PNG and HTML to
    <data-dir>/reports/abtest/<experiment key>, and every result to gold.experiment_results.
    """
    config = readout_config(
        alpha=alpha,
        winsorize_at=winsorize,
        correction=correction.value,
        sequential_tuning=sequential_tuning,
        target_relative_lift=target_lift,
        revenue_margin=revenue_margin,
    )
    run(settings_for(data_dir), config, experiment or None)


def readout_config(**fields: object) -> ReadoutConfig:
    """ReadoutConfig's own checks (finite numbers, ranges) as an input error."""
    from pipeline.abtest import ReadoutConfig

    try:
        return ReadoutConfig(**fields)
    except ValueError as err:
        raise InputError(str(err)) from err


def run(
    settings: Settings, config: ReadoutConfig | None = None, keys: list[str] | None = None
) -> None:
    from pipeline.abtest import run_abtest
    from pipeline.progress import progress

    with progress() as bar:
        done = run_abtest(settings, config or readout_config(), progress=bar, keys=keys)
    for key, outputs in done.items():
        readout = outputs.readout
        console.rule(f"{readout.experiment.name} ({key})", style="dim")
        console.print(f"Decision: {readout.decision.words}", highlight=False, markup=False)
        console.print(readout.verdict, highlight=False, markup=False)
        for warning in readout.warnings:
            console.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
        for path in (outputs.markdown, outputs.json, outputs.conversion_png, outputs.lift_png):
            console.print(f"  {path}", highlight=False)
        console.print(f"  {outputs.html}", highlight=False)
        console.print(
            f"  gold.experiment_results: {outputs.result_rows} rows of run {readout.run_id}",
            highlight=False,
        )
