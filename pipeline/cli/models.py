"""`ecom models ...`: the model versions (list, show, promote, rollback, prune, migrate), per
family (--family session, the default, or moment): each family has its own versions and
current pointer (pipeline.serving.registry)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.boundary import (
    DataDir,
    Family,
    FamilyOption,
    handles_errors,
    pinned_id,
    settings_for,
    table_console,
)
from pipeline.progress import console
from pipeline.settings import Settings

app = typer.Typer(
    name="models",
    help="Model versions per family: list, show, promote, rollback, prune, migrate "
    "(data/models/abandonment/ for --family session, data/models/moment/ for moment).",
    no_args_is_help=True,
)


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


# The list's ROC-AUC columns per family: (heading, VersionInfo field).
AUC_COLUMNS = {
    Family.session: (("ROC-AUC random", "roc_auc_random"), ("ROC-AUC time", "roc_auc_time")),
    Family.moment: (("ROC-AUC test, first cart", "roc_auc_time"),),
}


@app.command("list")
@handles_errors
def models_list(family: FamilyOption = Family.session, data_dir: DataDir = None) -> None:
    """Every version of a family, oldest first: id, engine, trained_at, rows, ROC-AUC (session:
    both splits; moment: the test month's first carts)."""
    from rich.table import Table

    from pipeline.errors import ModelError
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    versions = registry.list_versions(settings.models_dir, family.value)
    root = registry.model_root(settings.models_dir, family.value)
    pin = pinned_id(settings, family)
    if not versions:
        train = "ecom train" + ("" if family is Family.session else f" --family {family}")
        console.print(f"No model versions in {root}: run `{train}`.", highlight=False)
        if (root / "model.bst").exists():
            console.print("An old single-folder model is there: `ecom models migrate` keeps it.")
        return
    table = Table(title=f"model versions in {root}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("model id", no_wrap=True)
    table.add_column("engine")
    table.add_column("trained at (UTC)", no_wrap=True)
    columns = AUC_COLUMNS[family]
    for column in ("rows", *(heading for heading, _ in columns)):
        table.add_column(column, justify="right")
    for v in versions:
        marker = "current" if v.is_current else ""
        if pin == v.model_id:
            marker = (marker + " pinned").strip()
        if v.problem:
            table.add_row(
                marker, v.model_id, "[red]unreadable[/]", v.problem, "", *("" for _ in columns)
            )
            continue
        stamp = (v.trained_at or "–").replace("T", " ").removesuffix("+00:00")
        rows = "–" if v.rows is None else f"{v.rows:,}"
        table.add_row(
            marker,
            v.model_id,
            v.engine or "–",
            stamp,
            rows,
            *(_auc(getattr(v, field)) for _, field in columns),
        )
    table_console().print(table)
    try:
        registry.read_pointer(settings.models_dir, family.value)
    except ModelError as err:
        console.print(f"[bold yellow]warning:[/] {err}", highlight=False)
    if pin:
        console.print(f"ECOM_MODEL_ID pins {pin} for every consumer.")


@app.command("show")
@handles_errors
def models_show(
    model_id: Annotated[
        str | None, typer.Argument(help="The version to show; default the current one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print model_card.json instead.")] = False,
    family: FamilyOption = Family.session,
    data_dir: DataDir = None,
) -> None:
    """Print a version's model card (intended use, limitations, evaluation, thresholds)."""
    import json

    from pipeline.serving import registry

    settings = settings_for(data_dir)
    folder = registry.resolve(
        settings.models_dir, model_id or pinned_id(settings, family), family.value
    )
    model = registry.load_version(folder, family.value)
    if as_json:
        text = json.dumps(model.card, indent=2)
    elif family is Family.moment:
        from pipeline.model.moment.card import render_markdown as render_moment

        text = render_moment(model.card)
    else:
        from pipeline.model.card import render_markdown

        text = render_markdown(model.card)
    typer.echo(text)


@app.command("promote")
@handles_errors
def models_promote(
    model_id: Annotated[str, typer.Argument(help="The version to make current.")],
    family: FamilyOption = Family.session,
    data_dir: DataDir = None,
) -> None:
    """Make a version current (after checking that it loads)."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    before = _current_or_none(settings, family)
    registry.promote(settings.models_dir, model_id, family.value)
    console.print(f"current {_label(family)}: {model_id} (was {before or 'none'})", highlight=False)
    _restart_hint(family)


@app.command("rollback")
@handles_errors
def models_rollback(family: FamilyOption = Family.session, data_dir: DataDir = None) -> None:
    """Go back to the version that was current before this one."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    before = _current_or_none(settings, family)
    model_id = registry.rollback(settings.models_dir, family.value)
    console.print(
        f"current {_label(family)}: {model_id} (rolled back from {before})", highlight=False
    )
    _restart_hint(family)


@app.command("prune")
@handles_errors
def models_prune(
    keep: Annotated[int, typer.Option(help="How many of the newest versions to keep.")],
    family: FamilyOption = Family.session,
    data_dir: DataDir = None,
) -> None:
    """Delete all but the newest --keep versions; the current (and a pinned) one always stays."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    pin = pinned_id(settings, family)
    protect = [pin] if pin else []
    removed = registry.prune(settings.models_dir, keep, protect=protect, family=family.value)
    if removed:
        console.print(f"removed {len(removed)}: {', '.join(removed)}", highlight=False)
    else:
        console.print("nothing to remove", highlight=False)


@app.command("migrate")
@handles_errors
def models_migrate(family: FamilyOption = Family.session, data_dir: DataDir = None) -> None:
    """Keep a model of the old single-folder layout as a version (training does it too)."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    model_id = registry.migrate_legacy(settings.models_dir, family.value)
    console.print(
        f"kept as version {model_id}" if model_id else "nothing to migrate", highlight=False
    )


def _current_or_none(settings: Settings, family: Family) -> str | None:
    from pipeline.errors import ModelError
    from pipeline.serving import registry

    try:
        return registry.current_id(settings.models_dir, family.value)
    except ModelError:
        return None


def _label(family: Family) -> str:
    """How messages name a family's model (the session family's words are the seed's)."""
    return "model" if family is Family.session else f"{family} model"


def _restart_hint(family: Family) -> None:
    table = "cart_session_scores" if family is Family.session else "cart_moment_scores"
    score = "ecom score" + ("" if family is Family.session else f" --family {family}")
    console.print(
        "Consumers load the current model when they start: restart the API, and run "
        f"`{score}` to re-score gold.{table} with it."
    )
