"""What crosses the command line's edge: options in as Settings, domain errors out as a red
message and an exit code (here and only here), tables out to the terminal."""

from __future__ import annotations

import functools
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, ParamSpec, TypeVar

import typer

from pipeline.errors import EcomError, InputError
from pipeline.progress import console
from pipeline.settings import Settings, get_settings

if TYPE_CHECKING:
    from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")

DataDir = Annotated[
    str | None,
    typer.Option("--data-dir", help="Root for generated and derived data (env ECOM_DATA_DIR)."),
]
ModelId = Annotated[
    str | None,
    typer.Option(
        "--model-id",
        help="A model version (`ecom models list`); default ECOM_MODEL_ID, else the current one.",
    ),
]


class Family(StrEnum):
    """pipeline.serving.registry.FAMILIES as a choice (tests/cli checks the two agree)."""

    session = "session"
    moment = "moment"


FamilyOption = Annotated[
    Family,
    typer.Option(
        "--family",
        help="The model family: session (the seed's whole-session model, a diagnostic of "
        "finished sessions) or moment (scores a live cart at a prediction point: the one to "
        "act on).",
    ),
]


def pinned_id(settings: Settings, family: Family) -> str | None:
    """ECOM_MODEL_ID when it names a version of `family`, by its id's prefix (`moment-…`); an
    id of no family's prefix (an imported export's) pins the session family, as before."""
    from pipeline.serving.registry import FAMILIES, SESSION

    pin = settings.model_id
    if pin is None:
        return None
    owner = next((f for f, folder in FAMILIES.items() if pin.startswith(f"{folder}-")), SESSION)
    return pin if owner == family.value else None


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


def settings_for(data_dir: str | None, **overrides: object) -> Settings:
    """Settings from the environment with CLI options on top; a bad value is an input error."""
    from pydantic import ValidationError

    try:
        return get_settings(data_dir=data_dir, **overrides)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise InputError(f"Invalid setting: {problems}") from err


def table_console() -> Console:
    """A terminal's own width; piped output (a log, a test) gets room for a whole row."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=120)
