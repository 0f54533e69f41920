"""The model card's reading half: what the model is for, what it is not, and how to read it.

Training measures (metrics, calibration, the injected-purchase share, feature importance);
this module puts those numbers into the card's sections (`honest_sections`) and renders the
readable card (`render_markdown`, from templates/model_card.md.j2: model_card.md, and what
`ecom models show` prints). The renderer tolerates cards of older releases: a section whose
numbers are missing is left out. The card's data is pipeline.serving.card.ModelCard; this
module is training's (Jinja2 is in the batch extra, not the API's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import jinja2
from pydantic import BaseModel

from pipeline import markdown
from pipeline.serving.card import DataWindow, Evaluation, ModelCard, Rows
from pipeline.serving.risk import CARD_KEY as RISK_KEY
from pipeline.serving.risk import DEFAULT_THRESHOLDS

DECISION_THRESHOLD = 0.5
SPLITS = (("random_split", "random split"), ("time_split", "time split"))
# A calibration bin counts for the "largest gap" only when it holds this share of the rows:
# a bin of three sessions says nothing about calibration.
MIN_BIN_SHARE = 0.01
# Below this expected calibration error the card calls the probabilities calibrated.
CALIBRATED_ECE = 0.05


def calibration_summary(table: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Expected calibration error (row-weighted mean |predicted - observed| over the bins)
    and the largest gap in a bin holding at least MIN_BIN_SHARE of the rows."""
    rows = sum(int(b["rows"]) for b in table)
    if not rows:
        return None
    gaps = [(abs(b["mean_predicted"] - b["observed_rate"]), b) for b in table]
    ece = sum(gap * b["rows"] for gap, b in gaps) / rows
    counted = [(gap, b) for gap, b in gaps if b["rows"] >= MIN_BIN_SHARE * rows] or gaps
    gap, worst = max(counted, key=lambda item: item[0])
    return {
        "expected_calibration_error": ece,
        "max_gap": gap,
        "max_gap_bin": [round(worst["bin_low"], 6), round(worst["bin_high"], 6)],
        "max_gap_bin_rows": int(worst["rows"]),
        "bins": len(table),
    }


def _rank(importance: Mapping[str, float], name: str) -> int:
    ordered = sorted(importance, key=lambda k: -importance[k])
    return ordered.index(name) + 1


def _group_limitation(
    importance: Mapping[str, float] | None, injected: Mapping[str, Any] | None
) -> str:
    parts = []
    if importance and "experiment_group" in importance:
        parts.append(
            f"experiment_group ranks {_rank(importance, 'experiment_group')} of "
            f"{len(importance)} features by mean |SHAP| "
            f"({importance['experiment_group']:.3f} log-odds on the reference sample)"
        )
    else:
        parts.append("experiment_group carries weight in this model")
    # Users are assigned by a hash of their id, so the group can only predict abandonment
    # through the treatment's effect, which in this data set is the injected uplift.
    text = (
        parts[0] + ". Whatever weight it has is the checkout experiment's effect, which here is "
        "the uplift injected at ingestion"
    )
    if injected and injected.get("share") is not None:
        text += (
            f": {injected['share']:.1%} of the {injected['purchased_sessions']:,} purchased "
            "cart sessions of the training window purchased only through injected events"
        )
        if injected.get("treatment_share") is not None:
            text += f" ({injected['treatment_share']:.1%} of Treatment's)"
    elif injected and injected.get("not_measured"):
        text += f" (the injected share was not measured: {injected['not_measured']})"
    return (
        text + ". The model learns the simulation's injection rule, not shoppers' behaviour: "
        "on data without the injection (or after the experiment ends) the feature says little."
    )


def honest_sections(
    card: Mapping[str, Any],
    *,
    importance: Mapping[str, float] | None = None,
    injected: Mapping[str, Any] | None = None,
    reference_rows: int | None = None,
) -> dict[str, Any]:
    """The card's intended use, limitations, evaluation data, calibration summary, decision
    threshold and risk thresholds, from the numbers training measured."""
    evaluation = card.get("evaluation", {})
    rows = card.get("rows", {})
    window = card.get("data_window", {})
    calibration = {
        split: calibration_summary(evaluation[split]["model"]["calibration"])
        for split, _ in SPLITS
        if split in evaluation
    }
    abandoned_share = rows["abandoned"] / rows["total"] if rows.get("total") else None
    at_threshold = {}
    for split, _ in SPLITS:
        report = evaluation.get(split)
        if not report:
            continue
        cr = report["model"]["classification_report"]["abandoned"]
        bands = report.get("risk_bands") or []
        flagged = sum(b["rows"] for b in bands if b["band"] != "low")
        at_threshold[split] = {
            "precision_abandoned": cr["precision"],
            "recall_abandoned": cr["recall"],
            "accuracy": report["model"]["accuracy"],
            "flagged_share": flagged / report["test_rows"] if bands else None,
        }
    last_month = (window.get("months") or [None])[-1]
    ece = (calibration.get("random_split") or {}).get("expected_calibration_error")
    likely = f"p >= {DECISION_THRESHOLD} means abandonment is more likely than not"
    if ece is None:
        calibrated = f"If the probabilities are calibrated (see the tables), {likely}"
    elif ece <= CALIBRATED_ECE:
        calibrated = (
            f"The probabilities are calibrated (expected calibration error {ece:.3f} on the "
            f"random split's test rows), so {likely}"
        )
    else:
        calibrated = (
            f"Calibration is imperfect (expected calibration error {ece:.3f} on the random "
            f"split's test rows): only where the tables show it holds, {likely}"
        )
    return {
        "intended_use": {
            "summary": (
                "Estimates, for a cart session that has ended, the probability that it ended "
                "without a purchase (abandoned_cart)."
            ),
            "suitable_for": [
                "analysing finished cart sessions: which segments abandon more, how risk is "
                "distributed, how it moves month to month (with `ecom drift`)",
                "choosing finished sessions for a follow-up after the session ended (e.g. a "
                "reminder e-mail), in batch SQL (gold.cart_session_scores) or through the API",
            ],
            "not_suitable_for": [
                "acting during a live session (at add-to-cart time): the features are known "
                "only once the session has ended",
                "measuring whether the new checkout works: that is the randomized A/B readout's "
                "job (`ecom abtest`); this model is correlational",
                "decisions about individual people with legal or similarly significant effects",
            ],
        },
        "limitations": [
            {
                "topic": "whole-session features",
                "text": (
                    "total_views, total_carts, session_duration_minutes and experiment_group "
                    "are totals over the whole session: duration and views keep counting after "
                    "the purchase, so a purchasing session looks longer partly because it "
                    "purchased. The scores describe finished sessions; a live model needs "
                    "features known at cart time (time since session start, views so far, "
                    "cart value, past purchases)."
                ),
            },
            {
                "topic": "experiment group",
                "text": _group_limitation(importance, injected),
                "injected_purchases": dict(injected) if injected else None,
            },
            {
                "topic": "class balance",
                "text": (
                    f"{abandoned_share:.1%} of the cart sessions are abandoned, so accuracy "
                    "flatters any model (the majority-class baseline scores that share): judge "
                    "it by ROC-AUC and PR-AUC beside the baselines."
                    if abandoned_share is not None
                    else "Judge the model by ROC-AUC and PR-AUC beside the baselines."
                ),
            },
            {
                "topic": "missing values",
                "text": (
                    "A missing input follows each tree's default branch (local engine) or is "
                    "replaced by the training mean first (BigQuery ML export, as ML.PREDICT "
                    "does); a session with many missing values gets a less informed score."
                ),
            },
            {
                "topic": "time",
                "text": (
                    f"Trained on sessions up to {last_month}: the reference sample "
                    f"({reference_rows or 0:,} training sessions) is the baseline of "
                    "`ecom drift`; read its report for the months after that before trusting "
                    "the scores there."
                    if last_month
                    else "Check later months with `ecom drift` before trusting the scores there."
                ),
            },
        ],
        "evaluation_data": {
            "source": (
                "gold.fct_cart_sessions: one row per reconstructed session with at least one "
                "cart event; label abandoned_cart = the session has no purchase"
            ),
            "window": window,
            "rows": rows.get("total"),
            "abandoned_share": abandoned_share,
            "splits": {
                split: {
                    "how": evaluation[split].get("description"),
                    "train_rows": evaluation[split].get("train_rows"),
                    "test_rows": evaluation[split].get("test_rows"),
                    "booster": evaluation[split].get("booster"),
                }
                for split, _ in SPLITS
                if split in evaluation
            },
            "baselines": (
                "majority class (the training base rate as a constant score) and logistic "
                "regression on log1p-transformed, standardized inputs (median-imputed), both "
                "fitted on the same training rows and scored on the same test rows"
            ),
        },
        "calibration": calibration,
        "decision_threshold": DECISION_THRESHOLD,
        "decision_policy": {
            "threshold": DECISION_THRESHOLD,
            "how_chosen": (
                f"Fixed at {DECISION_THRESHOLD} before looking at any test set, not tuned on "
                f"it. {calibrated}, which "
                "minimises expected errors when a needless follow-up and a missed abandonment "
                "cost the same. With other costs use cost_fp / (cost_fp + cost_fn) as the "
                "threshold: the calibration table says how far the probabilities hold."
            ),
            "at_threshold": at_threshold,
        },
        RISK_KEY: dict(DEFAULT_THRESHOLDS),
        "risk_thresholds_note": (
            "Bands for people reading a score (pipeline/serving/risk.py defaults): medium from "
            f"{DEFAULT_THRESHOLDS['medium']} (the decision threshold), high from "
            f"{DEFAULT_THRESHOLDS['high']}. Each split's risk_bands give the band's share of "
            "test sessions and their observed abandonment."
        ),
        "feature_importance": (
            {
                "method": "mean |SHAP| (log-odds) over the reference sample, xgboost TreeSHAP",
                "values": dict(importance),
            }
            if importance
            else None
        ),
    }


# ----------------------------------------------------------------------------- markdown

_SCORERS = (
    ("xgboost (this model)", "model"),
    ("logistic regression", "logistic_regression"),
    ("majority class", "majority_class"),
)


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return format(value, spec)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _is_set(section: BaseModel | None) -> bool:
    """A section that holds anything (an empty object in the JSON counts as absent)."""
    return bool(section is not None and section.model_dump(exclude_unset=True))


@cache
def _template() -> jinja2.Template:
    return markdown.template("pipeline.model", "model_card.md.j2", fmt=_fmt, f=format)


def render_markdown(card: ModelCard | Mapping[str, Any]) -> str:
    """The readable model card (templates/model_card.md.j2): every section the card has
    numbers for."""
    if not isinstance(card, ModelCard):
        card = ModelCard.model_validate(card)
    evaluation = card.evaluation or Evaluation()
    reports = []
    for split, title in SPLITS:
        report = getattr(evaluation, split)
        if not _is_set(report):
            continue
        metrics = {"model": report.model, **report.baselines}
        scorers = [(name, metrics[key]) for name, key in _SCORERS if _is_set(metrics.get(key))]
        reports.append((title, report, scorers, card.calibration.get(split)))
    random_split = evaluation.random_split
    return _template().render(
        card=card,
        window=card.data_window or DataWindow(),
        rows=card.rows or Rows(),
        has_evaluation=_is_set(card.evaluation),
        reports=reports,
        splits=SPLITS,
        bands=random_split.risk_bands if random_split else [],
    )
