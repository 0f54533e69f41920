"""The `ecom` command line: one module per command group, each command calling one function.

Options are declared with `Annotated`, choices as enums typer validates; domain errors
(pipeline.errors.EcomError) become a message and an exit code at the boundary only
(pipeline.cli.boundary). Every stage module has a `run...` function taking explicit Settings,
which its command and `ecom demo` call.
"""

from __future__ import annotations

import typer

from pipeline.cli import abtest, demo, drift, generate, ingest, model, models, serve, warehouse

app = typer.Typer(
    name="ecom",
    help="ecom-growth: raw clickstream -> lake -> warehouse -> A/B readout and abandonment model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Run one stage at a time, or `ecom demo` for the whole pipeline.

    Settings come from ECOM_* environment variables (docs: reference/settings.md).
    """


for command in (
    generate.generate,
    ingest.ingest,
    warehouse.warehouse,
    abtest.abtest,
    model.train,
    model.score,
    model.explain,
    drift.drift,
    demo.demo,
):
    app.command()(command)
app.add_typer(serve.app, name="serve")
app.add_typer(models.app, name="models")

__all__ = ["app"]
