"""The moment family's model, served beside the session one: its loading in one place.

`load_moment` is what a version of the moment family becomes in the service: the booster
(loaded against the moment contract), its scorer, its calibration (calibration.json) and its
decision rule (decision.json). `MomentState` loads it in the background, like the session
model's state, with one difference: the service does not wait for it. Without a moment model
the service starts, answers /ready and serves /predict; /sessions/score answers 503 saying what
to run, and the loader looks again every MOMENT_RETRY_SECONDS, so a version trained later is
picked up without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.errors import EcomError
from pipeline.settings import Settings

log = logging.getLogger("api.state")
MOMENT_RETRY_SECONDS = 10.0
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


def load_moment(settings: Settings) -> MomentServed:
    """The current moment version (EcomError when there is none or it is broken)."""
    from api.moment_scorer import MomentScorer
    from pipeline.serving import moment
    from pipeline.serving.artifact import load_model
    from pipeline.serving.calibration import read_calibration
    from pipeline.serving.decision import DECISION_FILE, DecisionRule, read_rule
    from pipeline.serving.registry import MOMENT, resolve
    from pipeline.serving.risk import thresholds_for

    started = time.perf_counter()
    folder = resolve(settings.models_dir, None, family=MOMENT)
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
        "moment model %s loaded from %s in %.2f s (scoring path: %s)",
        model.model_id,
        folder,
        time.perf_counter() - started,
        "TreeSHAP tables" if scorer.fast else f"xgboost, one row ({scorer.problem})",
    )
    return served


class MomentState:
    """The moment model of one worker: None until a version is found and loaded."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.served: MomentServed | None = None
        self.problem = "the moment model is loading"
        self.on_loaded: list[Callable[[MomentServed], None]] = []
        self._stop = threading.Event()
        self._loaded = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name="moment-loader", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a moment model is loaded (tests and benchmarks); False on timeout."""
        return self._loaded.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.served = load_moment(self.settings)
            except Exception as err:  # a broken folder must not kill the worker: say why
                problem = str(err) if isinstance(err, EcomError) else f"{type(err).__name__}: {err}"
                if problem != self.problem:  # once per problem, not every retry
                    log.warning("no moment model served: %s", problem)
                self.problem = problem
                self._stop.wait(MOMENT_RETRY_SECONDS)
                continue
            self.problem = ""
            self._loaded.set()
            for callback in self.on_loaded:
                callback(self.served)
            return
