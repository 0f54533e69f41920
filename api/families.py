"""The model families the service serves, and how a version of each is loaded.

One entry per family: its registry name, whether the service is ready without it, the setting
that pins its version, how a worker loads a version into what its handlers use, and, for a
family scored in bulk, how the bulk process loads it (without what only explanations need).
The session family serves /predict and /bulk_predict; the moment family (POST
/sessions/score, optional: the service is ready without it) is the second entry: api.control
and api.state treat every family alike (resolved once, loaded before traffic, switched
together).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.moment_family import load_moment
from pipeline.serving import registry
from pipeline.settings import Settings

log = logging.getLogger("api.state")


@dataclass(frozen=True)
class Family:
    name: str  # the registry's family (pipeline.serving.registry.FAMILIES)
    required: bool  # /ready and the service's scoring wait for it; optional families may lack one
    pin: Callable[[Settings], str | None]  # the setting that pins a version (else: current)
    load: Callable[[Path], Any]  # a version folder -> what the worker's handlers use
    load_bulk: Callable[[Path], Any] | None = None  # the same for the bulk process


@dataclass(frozen=True)
class Served:
    """A loaded session-model version, ready to answer."""

    scorer: Any  # api.scorer.Scorer
    model_ref: dict[str, Any]  # {"model_id", "engine", "trained_at"}
    thresholds: dict[str, float]
    card: dict[str, Any]


def load_session(folder: Path, explain: bool = True) -> Served:
    """The session model of a version folder: booster, lookup tables, and (with `explain`) the
    SHAP explainer and one waterfall drawn to load the fonts before a caller waits for them."""
    from api.scorer import build_scorer
    from pipeline.serving.artifact import load_model

    started = time.perf_counter()
    model = load_model(folder)
    scorer = build_scorer(model, explain=explain)
    card = model.card
    served = Served(
        scorer=scorer,
        model_ref={
            "model_id": model.model_id,
            "engine": card.get("engine"),
            "trained_at": card.get("trained_at"),
        },
        thresholds=scorer.thresholds,
        card=card,
    )
    if explain:
        from api.waterfall import Waterfall, render_png

        names = scorer.feature_names
        render_png(
            Waterfall(
                names,
                ["0"] * len(names),
                [0.1 * (-1) ** i for i in range(len(names))],
                0.0,
                0.5,
                "low",
            )
        )
    log.info(
        "model %s loaded in %.2f s (fast path: %s)",
        model.model_id,
        time.perf_counter() - started,
        "on" if scorer.tables is not None else f"off, {scorer.fast_path_problem}",
        extra={"family": registry.SESSION, "explain": explain},
    )
    return served


def _load_session_for_bulk(folder: Path) -> Served:
    return load_session(folder, explain=False)


SESSION = Family(
    name=registry.SESSION,
    required=True,
    pin=lambda settings: settings.model_id,
    load=load_session,
    load_bulk=_load_session_for_bulk,
)
MOMENT = Family(
    name=registry.MOMENT,
    required=False,
    pin=lambda settings: settings.moment_model_id,
    load=load_moment,
)
FAMILIES: tuple[Family, ...] = (SESSION, MOMENT)
BY_FAMILY: dict[str, Family] = {f.name: f for f in FAMILIES}


def version_folder(settings: Settings, family: str, model_id: str) -> Path:
    return registry.version_dir(settings.models_dir, model_id, family)
