"""The moment family's model as the service holds it: one version folder loaded in one place.

`load_moment` is what a version of the moment family becomes in a worker: the booster (loaded
against the moment contract), its scorer, its calibration (calibration.json) and its decision
rule (decision.json). It is the `load` of the moment entry in api.families, so the moment model
is resolved, loaded before traffic and switched with the session model like any family; being
optional, the service serves /predict without it and /sessions/score answers 503 until one is.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("api.state")
NO_RULE = "defaults (this version has no decision.json)"


@dataclass(frozen=True)
class MomentServed:
    """A loaded moment version, ready to answer."""

    scorer: Any  # api.moment_scorer.MomentScorer
    model_ref: dict[str, Any]  # {"model_id", "engine", "trained_at", "family"}
    thresholds: dict[str, float]
    card: dict[str, Any]
    rule: Any  # pipeline.serving.decision.DecisionRule
    rule_source: str


def load_moment(folder: Path) -> MomentServed:
    """The moment version in `folder` (EcomError when it is broken)."""
    from api.moment_scorer import MomentScorer
    from pipeline.serving import moment
    from pipeline.serving.artifact import load_model
    from pipeline.serving.calibration import read_calibration
    from pipeline.serving.decision import DECISION_FILE, DecisionRule, read_rule
    from pipeline.serving.registry import MOMENT
    from pipeline.serving.risk import thresholds_for

    started = time.perf_counter()
    model = load_model(folder, features=moment.FEATURES)
    scorer = MomentScorer(model, read_calibration(folder))
    rule = read_rule(folder)
    served = MomentServed(
        scorer=scorer,
        model_ref={
            "model_id": model.model_id,
            "engine": model.card.get("engine"),
            "trained_at": model.card.get("trained_at"),
            "family": MOMENT,
        },
        thresholds=thresholds_for(model.card),
        card=model.card,
        rule=rule or DecisionRule(),
        rule_source=f"{DECISION_FILE} of {model.model_id}" if rule else NO_RULE,
    )
    log.info(
        "moment model %s loaded in %.2f s (scoring path: %s)",
        model.model_id,
        time.perf_counter() - started,
        "TreeSHAP tables" if scorer.fast else f"xgboost, one row ({scorer.problem})",
        extra={"family": MOMENT},
    )
    return served
