"""`ecom train`, `ecom score`, `ecom explain`: the abandonment models made, used, explained.

Two families (--family): `session`, the seed's whole-session model (the default, unchanged),
and `moment`, which scores a live cart at a prediction point (pipeline.model.moment).
"""

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
)
from pipeline.progress import console
from pipeline.settings import Settings


class Engine(StrEnum):
    """Where the booster is trained."""

    local = "local"
    bqml = "bqml"


class Points(StrEnum):
    """pipeline.model.moment.evaluation.Points: which prediction points the moment model
    trains on."""

    pooled = "pooled"
    first_cart = "first_cart"


@handles_errors
def train(
    family: FamilyOption = Family.session,
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
            help="Session family: train on months up to and including this one (2020-Jan or "
            "2020-01); later months stay unseen for `ecom drift` (env ECOM_TRAIN_THROUGH; "
            "default: all). The moment family's months are its time split's (settings "
            "moment_calibration_month, moment_test_month)."
        ),
    ] = None,
    points: Annotated[
        Points,
        typer.Option(
            help="Moment family: train on every prediction point (pooled) or on first carts "
            "only; the card measures one against the other."
        ),
    ] = Points.pooled,
    data_dir: DataDir = None,
) -> None:
    """Train a cart-abandonment model and print its evaluation beside baselines.

    session (default): the seed's model on whole sessions (gold.fct_cart_sessions), evaluated
    on a random and a time split. moment: the point-in-time model (gold.fct_cart_moments),
    trained on the months before the calibration month, calibrated and given its decision
    threshold on that month, tested on the test month; it also writes the decision readout
    (reports/moment/decision.md). Either adds a version under
    data/models/<family folder>/versions/<model id>/ and makes it current; nothing is
    overwritten (`ecom models --family ...` lists, promotes, rolls back, prunes).
    """
    settings = settings_for(data_dir, train_through=through)
    if family is Family.moment:
        if engine is not Engine.local:
            from pipeline.errors import InputError

            raise InputError(
                "The moment family trains locally (xgboost, then Platt calibration and the "
                "decision rule). sql/bqml/moment_*.sql hold the same split and options for "
                "BigQuery ML: render them with `pipeline.model.moment.bqml.render_all`."
            )
        run_train_moment(settings, bootstrap=bootstrap, points=points)
        return
    run_train(settings, engine, bootstrap=bootstrap)


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


def run_train_moment(
    settings: Settings, *, bootstrap: int = 200, points: Points = Points.pooled
) -> None:
    """Train the moment family, print its evaluation, write the decision readout."""
    from pipeline.model.moment.report import evaluation_lines, write_decision_report
    from pipeline.model.moment.train import train_moment
    from pipeline.progress import progress

    with progress() as bar:
        result = train_moment(settings, n_boot=bootstrap, points=points.value, progress=bar)
    for line in evaluation_lines(result.card):
        console.print(line, highlight=False, markup=False)
    report = write_decision_report(result.card, settings.reports_dir)
    console.print(
        f"model {result.card['model_id']} written to {result.model_dir} (now current); "
        f"decision readout {report.with_suffix('.md')}",
        highlight=False,
    )


@handles_errors
def score(
    family: FamilyOption = Family.session,
    model_id: Annotated[
        str | None,
        typer.Option(help="Score with this model version (`ecom models list`); default: current."),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Score in plain SQL: every cart session (session family, gold.cart_session_scores) or
    every prediction point (moment family, gold.cart_moment_scores).

    Installs the scorer compiled from the model's trees (DuckDB: a macro; BigQuery: a function
    in the gold dataset; a BigQuery ML session model keeps ML.PREDICT), the moment family's
    Platt calibration included, then builds the dbt model: one row per (row, model),
    re-scoring replaces the model's own rows.
    """
    settings = settings_for(data_dir)
    # ECOM_MODEL_ID pins the family whose id it is.
    settings = settings.model_copy(update={"model_id": pinned_id(settings, family)})
    if family is Family.moment:
        run_score_moment(settings, model_id or settings.model_id)
        return
    run_score(settings, model_id)


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


def run_score_moment(settings: Settings, model_id: str | None = None) -> None:
    from pipeline.model.moment.scoring import MACRO_NAME, score_moments

    run = score_moments(settings, model_id=model_id, show_progress=True)
    console.print(
        f"gold.cart_moment_scores built with {run.model_id} via {MACRO_NAME}() "
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
