"""`ecom models ...`: the model versions (list, show, promote, rollback, prune, migrate)."""

from __future__ import annotations

from typing import Annotated

import typer

from pipeline.cli.boundary import DataDir, handles_errors, settings_for, table_console
from pipeline.progress import console
from pipeline.settings import Settings

app = typer.Typer(
    name="models",
    help="Model versions: list, show, promote, rollback, prune, migrate "
    "(data/models/abandonment/).",
    no_args_is_help=True,
)


def _auc(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


@app.command("list")
@handles_errors
def models_list(data_dir: DataDir = None) -> None:
    """Every version, oldest first: id, engine, trained_at, rows, ROC-AUC on both splits."""
    from rich.table import Table

    from pipeline.errors import ModelError
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    versions = registry.list_versions(settings.models_dir)
    root = registry.model_root(settings.models_dir)
    if not versions:
        console.print(f"No model versions in {root}: run `ecom train`.", highlight=False)
        if (root / "model.bst").exists():
            console.print("An old single-folder model is there: `ecom models migrate` keeps it.")
        return
    table = Table(title=f"model versions in {root}", title_justify="left")
    table.add_column("", no_wrap=True)
    table.add_column("model id", no_wrap=True)
    table.add_column("engine")
    table.add_column("trained at (UTC)", no_wrap=True)
    for column in ("rows", "ROC-AUC random", "ROC-AUC time"):
        table.add_column(column, justify="right")
    for v in versions:
        marker = "current" if v.is_current else ""
        if settings.model_id == v.model_id:
            marker = (marker + " pinned").strip()
        if v.problem:
            table.add_row(marker, v.model_id, "[red]unreadable[/]", v.problem, "", "", "")
            continue
        stamp = (v.trained_at or "–").replace("T", " ").removesuffix("+00:00")
        rows = "–" if v.rows is None else f"{v.rows:,}"
        table.add_row(
            marker,
            v.model_id,
            v.engine or "–",
            stamp,
            rows,
            _auc(v.roc_auc_random),
            _auc(v.roc_auc_time),
        )
    table_console().print(table)
    try:
        registry.read_pointer(settings.models_dir)
    except ModelError as err:
        console.print(f"[bold yellow]warning:[/] {err}", highlight=False)
    if settings.model_id:
        console.print(f"ECOM_MODEL_ID pins {settings.model_id} for every consumer.")


@app.command("show")
@handles_errors
def models_show(
    model_id: Annotated[
        str | None, typer.Argument(help="The version to show; default the current one.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print model_card.json instead.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Print a version's model card (intended use, limitations, evaluation, thresholds)."""
    import json

    from pipeline.model.card import render_markdown
    from pipeline.serving.artifact import load_model
    from pipeline.serving.registry import resolve

    settings = settings_for(data_dir)
    model = load_model(resolve(settings.models_dir, model_id or settings.model_id))
    text = json.dumps(model.card, indent=2) if as_json else render_markdown(model.card)
    typer.echo(text)


@app.command("promote")
@handles_errors
def models_promote(
    model_id: Annotated[str, typer.Argument(help="The version to make current.")],
    data_dir: DataDir = None,
) -> None:
    """Make a version current (after checking that it loads)."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    before = _current_or_none(settings)
    registry.promote(settings.models_dir, model_id)
    console.print(f"current model: {model_id} (was {before or 'none'})", highlight=False)
    _restart_hint()


@app.command("rollback")
@handles_errors
def models_rollback(data_dir: DataDir = None) -> None:
    """Go back to the version that was current before this one."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    before = _current_or_none(settings)
    model_id = registry.rollback(settings.models_dir)
    console.print(f"current model: {model_id} (rolled back from {before})", highlight=False)
    _restart_hint()


@app.command("prune")
@handles_errors
def models_prune(
    keep: Annotated[int, typer.Option(help="How many of the newest versions to keep.")],
    data_dir: DataDir = None,
) -> None:
    """Delete all but the newest --keep versions; the current (and a pinned) one always stays."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    protect = [settings.model_id] if settings.model_id else []
    removed = registry.prune(settings.models_dir, keep, protect=protect)
    if removed:
        console.print(f"removed {len(removed)}: {', '.join(removed)}", highlight=False)
    else:
        console.print("nothing to remove", highlight=False)


@app.command("migrate")
@handles_errors
def models_migrate(data_dir: DataDir = None) -> None:
    """Keep a model of the old single-folder layout as a version (training does it too)."""
    from pipeline.serving import registry

    settings = settings_for(data_dir)
    model_id = registry.migrate_legacy(settings.models_dir)
    console.print(
        f"kept as version {model_id}" if model_id else "nothing to migrate", highlight=False
    )


def _current_or_none(settings: Settings) -> str | None:
    from pipeline.errors import ModelError
    from pipeline.serving import registry

    try:
        return registry.current_id(settings.models_dir)
    except ModelError:
        return None


def _restart_hint() -> None:
    console.print(
        "Consumers load the current model when they start: restart the API, and run "
        "`ecom score` to re-score gold.cart_session_scores with it."
    )
