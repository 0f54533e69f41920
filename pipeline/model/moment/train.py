"""`ecom train --family moment`: the moment model, evaluated honestly, as a registry version.

xgboost with the seed's parameters (pipeline.model.train.TRAIN_PARAMS), seeded, on the rows of
gold.fct_cart_moments of the training months; Platt scaling and the decision threshold from the
calibration month; every figure of the card from the test month. The version folder is the
session family's layout plus calibration.json and decision.json (pipeline.serving), so the API
and the SQL scorer return the same calibrated probability and the API decides by the rule the
card's profits were computed with.

Pooled points by default: one model for every prediction point, because a live session is
scored at whatever point it has reached (the API scores after each event, not only at the first
cart). The card measures that choice against a model trained on first carts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.model.evaluate import mean_abs_contributions
from pipeline.model.moment import evaluation
from pipeline.model.moment.card import honest_sections, render_markdown
from pipeline.model.moment.data import FIRST_CART, PARTS, MomentSet, load_moment_set
from pipeline.model.moment.evaluation import UNCALIBRATED
from pipeline.model.moment.profit import decision_section
from pipeline.model.train import (
    TRAIN_PARAMS,
    TrainResult,
    feature_stats,
    library_versions,
    reference_sample,
)
from pipeline.model.writer import contract_metadata, write_model
from pipeline.serving import moment, registry
from pipeline.serving.calibration import write_calibration
from pipeline.serving.decision import DecisionRule, write_rule
from pipeline.serving.moment_card import MomentCard
from pipeline.serving.risk import DEFAULT_THRESHOLDS, check_thresholds
from pipeline.settings import Settings

ENGINE = "local"


def decision_rule(settings: Settings) -> DecisionRule:
    """The rule of the settings' assumptions (ECOM_DECISION_*)."""
    return DecisionRule(
        gross_margin_rate=settings.decision_gross_margin_rate,
        recovery_share=settings.decision_recovery_share,
        intervention_cost=settings.decision_intervention_cost,
    )


def part_rows(data: MomentSet) -> dict[str, dict[str, Any]]:
    out = {}
    for part in PARTS:
        mask = data.mask(part)
        out[part] = {
            "rows": int(mask.sum()),
            "sessions": int(np.unique(data.session_id[mask]).size),
            "abandoned_share": float(data.y[mask].mean()),
            "by_point": {p: int((mask & (data.point == p)).sum()) for p in data.points},
        }
    return out


def risk_thresholds(p: np.ndarray) -> tuple[dict[str, float], str]:
    """Bands for people from the calibration month's first carts: the least and most at-risk
    thirds (most carts are abandoned, so fixed 0.5 / 0.8 bands would call nearly all high)."""
    medium, high = (round(float(q), 2) for q in np.quantile(p, [1 / 3, 2 / 3]))
    try:
        return check_thresholds({"medium": medium, "high": high}), (
            "Tertiles of the calibrated P(abandon) over the calibration month's first carts: "
            "low, medium and high each hold about a third of them. A reading aid; the decision "
            "is the rule's (see the decision section)."
        )
    except ValueError:
        return dict(DEFAULT_THRESHOLDS), "The defaults (the tertiles were not distinct)."


def pooling_why(points: str, measured: Mapping[str, Any]) -> str:
    calibration = measured["calibration"]
    pooled, first = calibration["pooled"]["roc_auc"], calibration["first_cart"]["roc_auc"]
    return (
        f"{'Pooled' if points == 'pooled' else 'First carts only'} was asked for "
        f"(`ecom train --family moment --points`). On the calibration month's first carts the "
        f"pooled model ranks with ROC-AUC {pooled:.4f} and a model trained on first carts only "
        f"with {first:.4f}. Pooled is the default because the service scores a live session at "
        "whatever point it has reached, which a first-cart-only model never saw in training; "
        "pooling costs the first cart nothing when the two agree within their intervals."
    )


def build_card(
    data: MomentSet,
    settings: Settings,
    parameters: Mapping[str, Any],
    sections: Mapping[str, Any],
) -> MomentCard:
    """The card: identity first (the id hashes what determines the model), then the numbers."""
    card: dict[str, Any] = {
        "model": moment.FAMILY,
        "model_id": None,
        "engine": ENGINE,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "features": list(moment.FEATURES),
        "label": moment.LABEL,
        "prediction_points": data.points,
        "parameters": dict(parameters),
        "data_window": {
            "train_months": data.months("train"),
            "calibration_month": settings.moment_calibration_month,
            "test_month": settings.moment_test_month,
        },
        "rows": part_rows(data),
        "training_data_fingerprint": data.fingerprint(),
        "library_versions": library_versions(),
    }
    card["model_id"] = registry.compute_model_id(registry.identity_of(card), registry.MOMENT)
    return MomentCard.model_validate({**card, **sections})


def train_moment(
    settings: Settings,
    *,
    params: Mapping[str, Any] | None = None,
    points: evaluation.Points = "pooled",
    n_boot: int = 200,
    out_dir: Path | None = None,
    progress=None,
) -> TrainResult:
    """Read the split, fit, calibrate, evaluate, decide, and write a new moment version."""
    params = {**TRAIN_PARAMS, **(params or {})}
    seed = settings.seed
    rule = decision_rule(settings)
    task = progress.add_task("train moment model", total=4) if progress else None

    def step() -> None:
        if progress is not None:
            progress.advance(task)

    data = load_moment_set(settings)
    booster, model = evaluation.fit_model(data, params, seed, points)
    step()
    scorers = evaluation.fit_scorers(data, booster, model, params, seed, points)
    prior = float(data.y[evaluation.training_rows(data, points)].mean())
    tested = evaluation.evaluate_test(data, scorers, prior, n_boot=n_boot, seed=seed)
    measured = evaluation.compare_pooling(data, model, points, params, seed, n_boot)
    step()
    first_calibration = data.mask("calibration", FIRST_CART)
    first_test = data.mask("test", FIRST_CART)

    def carts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return model.probability(mask), data.y[mask], data.cart_price[mask]

    decision = decision_section(
        rule,
        FIRST_CART,
        carts(first_calibration),
        carts(first_test),
        (settings.moment_calibration_month, settings.moment_test_month),
    )
    thresholds, thresholds_note = risk_thresholds(model.probability(first_calibration))
    train_rows = evaluation.training_rows(data, points)
    reference = reference_sample(data, train_rows, seed, moment.FEATURES, moment.LABEL)
    importance = mean_abs_contributions(
        booster, np.column_stack([reference[n] for n in moment.FEATURES]), moment.FEATURES
    )
    scored = tested["pooled"]["scorers"]
    sections = {
        **honest_sections(
            decision["rule"], settings.moment_test_month, data.months("train"), data.points
        ),
        "calibration": {
            "method": "platt",
            "slope": model.platt.slope,
            "intercept": model.platt.intercept,
            "fitted_on": model.platt.fitted_on,
            "test_ece_before": tested["pooled"][UNCALIBRATED]["expected_calibration_error"],
            "test_ece_after": scored["model"]["expected_calibration_error"],
            "test_brier_before": tested["pooled"][UNCALIBRATED]["brier"],
            "test_brier_after": scored["model"]["brier"],
        },
        "evaluation": tested,
        "pooling": {"chosen": points, "why": pooling_why(points, measured), "measured": measured},
        "decision": decision,
        "risk_thresholds": thresholds,
        "risk_thresholds_note": thresholds_note,
        "feature_importance": {
            "method": "mean |SHAP| (log-odds, before calibration) over the reference sample, "
            "xgboost TreeSHAP",
            "values": importance,
        },
    }
    parameters = {
        **params,
        "seed": seed,
        "points": points,
        "calibration_month": settings.moment_calibration_month,
        "test_month": settings.moment_test_month,
        "decision_rule": decision["rule"],
    }
    card = build_card(data, settings, parameters, sections)
    step()
    metadata = contract_metadata(
        feature_stats(data.X[train_rows], moment.FEATURES), moment.FEATURES, moment.LABEL
    )

    def extras(folder: Path) -> None:
        write_calibration(folder, model.platt)
        write_rule(folder, rule)

    def write(folder: Path) -> Path:
        return write_model(
            folder, booster, metadata, card, reference, render=render_markdown, extras=extras
        )

    folder = (
        write(out_dir)
        if out_dir
        else registry.save_version(settings.models_dir, write, family=registry.MOMENT)
    )
    step()
    return TrainResult(folder, card.to_dict())
