"""`ecom drift`: Evidently drift reports of the model's inputs and output, as tables."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from pipeline.cli.boundary import (
    DataDir,
    Family,
    FamilyOption,
    ModelId,
    handles_errors,
    pinned_id,
    settings_for,
    table_console,
)
from pipeline.progress import console
from pipeline.settings import Settings


class Reference(StrEnum):
    """pipeline.drift.data.Reference as a choice (that module imports the model stack: too slow
    to import for `--help`; tests/cli checks the two agree)."""

    sample = "sample"
    window = "window"


@handles_errors
def drift(
    months: Annotated[
        list[str] | None,
        typer.Option(
            "--month",
            help="Month(s) to compare, e.g. 2020-Feb; default: each month after the "
            "model's training window.",
        ),
    ] = None,
    shift: Annotated[
        bool,
        typer.Option(
            "--shift",
            help="Compare a deliberately shifted copy instead (views and duration "
            "x1.5): a demonstration of what drift looks like.",
        ),
    ] = False,
    reference: Annotated[
        Reference,
        typer.Option(
            help="sample: the model's 1,000-row reference sample (statistical tests); window: "
            "its whole training window from the warehouse (distances)."
        ),
    ] = Reference.sample,
    fail_on_drift: Annotated[
        bool, typer.Option(help="Exit with code 1 when a slice's data set has drifted.")
    ] = False,
    family: FamilyOption = Family.session,
    model_id: ModelId = None,
    data_dir: DataDir = None,
) -> None:
    """Evidently data-drift reports: the model's reference vs later rows of its family.

    session: cart sessions' four totals; moment: prediction points' 18 features. Also the drift
    of the predicted P(abandoned) (the moment family's calibrated one). Writes
    drift_<month>.html/.json and latest.json to <data-dir>/reports/drift/ (the moment family's
    to reports/drift/moment/).
    """
    settings = settings_for(data_dir, model_id=model_id)
    # A pin (ECOM_MODEL_ID or --model-id) counts for the family whose id it is.
    settings = settings.model_copy(update={"model_id": pinned_id(settings, family)})
    drifted = run(settings, months, shift=shift, reference=reference, family=family)
    if fail_on_drift and drifted:
        raise typer.Exit(1)


def run(
    settings: Settings,
    months: list[str] | None = None,
    *,
    shift: bool = False,
    reference: Reference = Reference.sample,
    family: Family = Family.session,
) -> bool:
    """Print each slice's table; whether any slice's data set has drifted."""
    from rich.table import Table

    from pipeline.drift import run_drift
    from pipeline.progress import progress

    with progress() as bar:
        result = run_drift(
            settings,
            model_id=settings.model_id,
            months=months,
            shift=shift,
            reference=reference.value,
            progress=bar,
            family=family.value,
        )
    summary = result.summary
    out = table_console()
    for piece in summary.slices:
        out.print(
            f"[bold]{piece.label}[/]: {piece.rows:,} rows vs "
            f"{summary.reference_rows:,} reference rows ({summary.reference}), "
            f"{piece.method_regime} regime, {piece.drifted_count}/"
            f"{piece.columns_checked} columns drifted"
            + (" [bold red](data set drifted)[/]" if piece.dataset_drifted else ""),
            highlight=False,
        )
        table = Table()
        for column in ("column", "method", "threshold", "score", "drifted"):
            table.add_column(
                column, justify="right" if column in ("threshold", "score") else "left"
            )
        for c in piece.columns:
            score = "–" if c.score is None else f"{c.score:.4g}"
            threshold = "–" if c.threshold is None else f"{c.threshold:g}"
            flag = "[bold red]yes[/]" if c.drifted else "no"
            table.add_row(c.column, c.method, threshold, score, flag)
        out.print(table)
    console.print(
        f"model {result.model_id}; reports in {result.out_dir} (latest: {result.latest.name})",
        highlight=False,
    )
    return any(p.dataset_drifted for p in summary.slices)
