"""`ecom train`, `ecom score`, `ecom explain`: the abandonment model made, used, explained."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from pipeline.cli.boundary import DataDir, ModelId, handles_errors, settings_for
from pipeline.progress import console
from pipeline.settings import Settings


class Engine(StrEnum):
    """Where the booster is trained."""

    local = "local"
    bqml = "bqml"


@handles_errors
def train(
    engine: Annotated[
        Engine,
        typer.Option(help="local (xgboost on the warehouse) or bqml (BigQuery ML + export)."),
    ] = Engine.local,
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap resamples for the ROC-AUC / PR-AUC intervals.")
    ] = 200,
    through: Annotated[
        str | None,
        typer.Option(
            help="Train on months up to and including this one (2020-Jan or 2020-01); later "
            "months stay unseen for `ecom drift` (env ECOM_TRAIN_THROUGH; default: all)."
        ),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Train the cart-abandonment model and print both evaluations beside baselines.

    Adds a version under data/models/abandonment/versions/<model id>/ (booster + metadata in
    BigQuery ML's export layout, model card, reference sample) and makes it current; nothing
    is overwritten (`ecom models` lists, promotes, rolls back, prunes).
    """
    run_train(settings_for(data_dir, train_through=through), engine, bootstrap=bootstrap)


def run_train(settings: Settings, engine: Engine = Engine.local, *, bootstrap: int = 200) -> None:
    from pipeline.model.report import metrics_lines
    from pipeline.progress import progress

    with progress() as bar:
        if engine is Engine.bqml:
            from pipeline.model.bqml import train_bqml

            result = train_bqml(settings, n_boot=bootstrap, progress=bar)
        else:
            from pipeline.model.train import train_local

            result = train_local(settings, n_boot=bootstrap, progress=bar)
    for line in metrics_lines(result.card):
        console.print(line, highlight=False, markup=False)
    console.print(
        f"model {result.card['model_id']} written to {result.model_dir} (now current)",
        highlight=False,
    )


@handles_errors
def score(
    model_id: Annotated[
        str | None,
        typer.Option(help="Score with this model version (`ecom models list`); default: current."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Score every cart session in plain SQL (gold.cart_session_scores).

    Installs predict_abandonment() compiled from the model's trees (DuckDB: a macro over a
    lookup table; BigQuery: a function in the gold dataset; a BigQuery ML model keeps
    ML.PREDICT), then builds the dbt model: one row per (session, model), re-scoring replaces
    the model's own rows.
    """
    run_score(settings_for(data_dir), model_id)


def run_score(settings: Settings, model_id: str | None = None) -> None:
    from pipeline.model.sql_scoring import score_warehouse

    run = score_warehouse(settings, model_id=model_id, show_progress=True)
    scorer = "ML.PREDICT" if run.scorer == "ml_predict" else "predict_abandonment()"
    console.print(
        f"gold.cart_session_scores built with {run.model_id} via {scorer} "
        f"({run.build.count('model')} model, {run.build.count('test')} tests passed) "
        f"in {run.build.elapsed_seconds:.1f} s",
        highlight=False,
    )


@handles_errors
def explain(model_id: ModelId = None, data_dir: DataDir = None) -> None:
    """SHAP plots of a model version: beeswarm, mean |SHAP| bar, and a waterfall.

    The model is the current one, or --model-id; the waterfall is of its highest-risk reference
    session.
    """
    run_explain(settings_for(data_dir, model_id=model_id))


def run_explain(settings: Settings) -> None:
    from pipeline.model.explain import explain_model
    from pipeline.serving.registry import resolve

    model_dir = resolve(settings.models_dir, settings.model_id)
    console.print(f"explaining {model_dir.name}", highlight=False)
    paths = explain_model(model_dir, settings.reports_dir / "shap")
    for name, path in paths.items():
        console.print(f"{name}: {path}")
