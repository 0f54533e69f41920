"""The `ecom` command line: one command per pipeline stage, each calling one function.

Domain errors (pipeline.errors.EcomError) become a red message and an exit code here, and
only here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

import typer

from pipeline.errors import EcomError
from pipeline.progress import console
from pipeline.settings import Settings, get_settings

app = typer.Typer(
    name="ecom",
    help="ecom-growth: raw clickstream -> lake -> warehouse -> A/B readout and abandonment model.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

P = ParamSpec("P")
R = TypeVar("R")

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help="Root for generated and derived data (env ECOM_DATA_DIR)."),
]


def handles_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a domain error into its message and exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except EcomError as err:
            console.print(f"[bold red]error:[/] {err}")
            raise typer.Exit(err.exit_code) from err

    return wrapper


def settings_for(data_dir: str | None) -> Settings:
    return get_settings(data_dir=data_dir)


# Commands are registered below, one section per stage.
