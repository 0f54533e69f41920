"""`ecom generate`: synthetic monthly CSVs in the real files' format."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for
from pipeline.progress import console
from pipeline.settings import Settings

MALFORMED_SHARE = 0.0002


@handles_errors
def generate(
    scale: Annotated[
        float,
        typer.Option(help="Size relative to the real data set (1.0 = 20.7M events, 2.4 GB)."),
    ] = 1.0,
    seed: Annotated[
        int | None, typer.Option(help="Random seed; same seed, same bytes (default ECOM_SEED).")
    ] = None,
    months: Annotated[
        list[str] | None,
        typer.Option("--month", "--months", help="Month(s) to write, e.g. 2019-Oct; default all."),
    ] = None,
    malformed_share: Annotated[
        float,
        typer.Option(help="Share of lines made malformed on purpose (5 kinds, see *.truth.json)."),
    ] = MALFORMED_SHARE,
    out_dir: Annotated[
        str | None, typer.Option(help="Where the CSVs go; default <data-dir>/raw.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Write synthetic monthly CSVs (2019-Oct.csv … 2020-Feb.csv) in the real files' format.

    Calibrated to the real set's statistics. Each CSV gets a <month>.truth.json sidecar that
    lists its malformed lines by kind and line number (the header is line 1).
    """
    run(
        settings_for(data_dir),
        scale=scale,
        seed=seed,
        months=months,
        malformed_share=malformed_share,
        out_dir=Path(out_dir) if out_dir else None,
    )


def run(
    settings: Settings,
    *,
    scale: float = 1.0,
    seed: int | None = None,
    months: list[str] | None = None,
    malformed_share: float = MALFORMED_SHARE,
    out_dir: Path | None = None,
) -> None:
    import json

    from pipeline.generate import generate as write_months
    from pipeline.progress import progress
    from pipeline.settings import MONTHS

    with progress() as bar:
        paths = write_months(
            out_dir or settings.raw_dir,
            scale=scale,
            seed=settings.seed if seed is None else seed,
            months=months or MONTHS,
            malformed_share=malformed_share,
            progress=bar,
        )
    for path in paths:
        truth = json.loads(path.with_name(path.stem + ".truth.json").read_text())
        console.print(
            f"{path}  {truth['data_lines']:,} lines, {truth['malformed_lines']:,} malformed"
        )
