"""The moment card's reading half: what the model is for, its limits, what each number means.

Training measures; this module writes the card's words around the numbers (`honest_sections`)
and renders model_card.md (`render_markdown`, templates/moment_card.md.j2), which is also what
`ecom models show --family moment` prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import jinja2

from pipeline import markdown
from pipeline.serving.moment_card import MomentCard

SCORER_NAMES = {
    "model": "xgboost, 18 features at the point (this model)",
    "model_without_history": "this model, the user's history withheld",
    "logistic_regression": "logistic regression, same 18 features",
    "seed_at_point": "ablation: the seed's 4 totals at the point",
    "whole_session": "ablation: the session model on whole sessions (LEAKY)",
    "prior_rate": "prior rate (the training months' share)",
}

READING_GUIDE: dict[str, str] = {
    "roc_auc": (
        "ROC-AUC: the chance that a cart that was abandoned gets a higher probability than one "
        "that was bought, over the test month's rows. 0.5 is a coin, 1 is perfect. It says how "
        "well the model ranks carts, not whether its probabilities are right, nor what acting "
        "on them earns."
    ),
    "pr_auc": (
        "PR-AUC (average precision): precision for abandoned carts averaged over recall. "
        "Compare it with the abandoned share (the prior rate's PR-AUC), not with 0: most carts "
        "are abandoned, so even a useless score gets a high PR-AUC here."
    ),
    "intervals": (
        "[low, high] are 95% bootstrap intervals that resample sessions (a session's prediction "
        "points move together). They cover the sampling noise of one test month only; a "
        "different month, shop or season can move the numbers further."
    ),
    "brier_skill": (
        "Brier skill score: 1 - Brier / Brier of the prior rate. 0 means no better than "
        "predicting the base rate for everyone, negative worse. It rewards probabilities that "
        "are both sharp and right."
    ),
    "calibration": (
        "Expected calibration error (ECE): the row-weighted gap between mean predicted and "
        "observed abandonment over ten equal-width bins (the reliability table). Small means a "
        "probability of 0.8 is abandoned about 80% of the time on the test month; it does not "
        "mean each individual probability is right."
    ),
    "pooled_and_points": (
        "Pooled figures mix the prediction points, whose base rates differ (10 minutes after "
        "the first cart almost every open session is abandoned): pooled ROC-AUC rises partly "
        "because it ranks points against each other. Read the per-point tables; first_cart is "
        "the earliest moment to act."
    ),
    "ablation": (
        "seed_at_point is the seed model's four inputs as known at the point: the new "
        "features' gain is the model's row minus it. whole_session is the session family's "
        "model scored on the finished session's totals: it sees the future (events after the "
        "point, the purchase included), so it is an unreachable reference, not a competitor."
    ),
    "profit": (
        "Profit: the decision rule's value of the carts a policy acts on, using the test "
        "month's outcomes and the ASSUMED margin rate, recovery share and cost. It is what the "
        "assumptions imply on past data, not a forecast: until a holdout experiment measures "
        "the recovery share, the money is as uncertain as that assumption."
    ),
    "threshold": (
        "The threshold is chosen on the calibration month (the highest profit of 'intervene "
        "when P >= t') and only then applied to the test month. The API decides per cart with "
        "the expected-value rule (it also weighs the cart's price); both are reported."
    ),
    "label_24h": (
        "abandoned_bought_within_24h_share: of the abandoned carts, the share whose user bought "
        "within 24 hours of the point (in any session): those were not lost revenue. The model "
        "is trained on `abandoned`; its ROC-AUC for 'abandoned and not bought within 24 h' is "
        "given beside it."
    ),
}


def honest_sections(
    rule: Mapping[str, float], test_month: str, train_months: list[str], points: list[str]
) -> dict[str, Any]:
    """Intended use, limitations and the reading guide of a moment card."""
    return {
        "intended_use": {
            "summary": (
                "Estimates, at a prediction point of a live cart session ("
                + ", ".join(points)
                + "), the probability that the session ends without a purchase, from what is "
                "known at that instant: the session's events so far and the user's earlier "
                "sessions."
            ),
            "suitable_for": [
                "deciding during a live session whether to intervene (POST /sessions/score "
                "returns the calibrated probability and the decision rule's expected value)",
                "ranking carts at their prediction points in batch SQL "
                "(gold.cart_moment_scores, `ecom score --family moment`)",
            ],
            "not_suitable_for": [
                "describing finished sessions: that is the session family's model",
                "measuring what an intervention recovers: only a holdout experiment can",
                "measuring whether the new checkout works: the A/B readout (`ecom abtest`)",
                "decisions about individual people with legal or similarly significant effects",
            ],
        },
        "limitations": [
            {
                "topic": "recovery rate is an assumption",
                "text": (
                    f"The decision rule assumes an intervention saves "
                    f"{rule['recovery_share']:.0%} of the margin "
                    f"({rule['gross_margin_rate']:.0%} of the price) of a cart that would "
                    f"have been abandoned, and costs {rule['intervention_cost']:g} per cart. "
                    "Nothing in this data measures the recovery: it is an assumption until a "
                    "holdout experiment (a random share of the carts the rule would act on, "
                    "left alone) measures it. Every profit figure scales with it."
                ),
            },
            {
                "topic": "interventions change the labels",
                "text": (
                    "Once the rule acts, later months' outcomes include its effect, and a model "
                    "retrained on them learns a world with interventions. Keep a random "
                    "no-action holdout to retrain and monitor on."
                ),
            },
            {
                "topic": "experiment group",
                "text": (
                    "experiment_group predicts abandonment only through the checkout "
                    "experiment, here the uplift injected at ingestion: the model learns the "
                    "simulation's rule, which says nothing once the experiment ends."
                ),
            },
            {
                "topic": "missing history",
                "text": (
                    "A caller without the user's history scores five features as missing (the "
                    "trees' default branches). model_without_history measures what that costs "
                    "on the test month."
                ),
            },
            {
                "topic": "generated data",
                "text": (
                    "The rows come from this project's generator, not from a shop: the figures "
                    "describe the generator's behaviour and the method, not real shoppers."
                ),
            },
            {
                "topic": "time",
                "text": (
                    f"Trained on {', '.join(train_months)} and tested on {test_month}: run "
                    "`ecom drift --family moment` on later months before trusting the scores."
                ),
            },
        ],
        "reading_guide": dict(READING_GUIDE),
    }


# ----------------------------------------------------------------------------- markdown


def _fmt(value: Any, spec: str = ".4f") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return format(value, spec)
    return str(value)


@cache
def _template() -> jinja2.Template:
    return markdown.template(
        "pipeline.model.moment", "moment_card.md.j2", fmt=_fmt, f=format, scorer=SCORER_NAMES.get
    )


def render_markdown(card: MomentCard | Mapping[str, Any]) -> str:
    """model_card.md of a moment version: every section the card has numbers for."""
    if not isinstance(card, MomentCard):
        card = MomentCard.model_validate(card)
    return _template().render(card=card)
