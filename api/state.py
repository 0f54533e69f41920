"""What the service serves, loaded once per worker, in the background.

The lifespan starts `ServingState`; it resolves the model through the registry (the current
version, or ECOM_MODEL_ID), loads it with the one artifact loader, builds the SHAP
TreeExplainer and the lookup tables, draws one waterfall to warm the fonts, and only then
answers /ready. A model that is not there yet (a fresh deployment, a volume still mounting) is
retried every few seconds; /ready says why it is not ready meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from pipeline.errors import EcomError
from pipeline.settings import Settings

log = logging.getLogger("api.state")
RETRY_SECONDS = 5.0


@dataclass(frozen=True)
class Served:
    """A loaded model, ready to answer."""

    scorer: Any  # api.scorer.Scorer
    model_ref: dict[str, Any]  # {"model_id", "engine", "trained_at"}
    thresholds: dict[str, float]
    card: dict[str, Any]


class ServingState:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.served: Served | None = None
        self.problem = "the model is loading"
        self._stop = threading.Event()
        self._loaded = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_loaded: list[Any] = []

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="model-loader", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a model is loaded (tests and benchmarks); False on timeout."""
        return self._loaded.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.served = self.load()
                self.problem = ""
                self._loaded.set()
                for callback in self.on_loaded:
                    callback(self.served)
                return
            except EcomError as err:
                self.problem = str(err)
                log.error("model not loaded, retrying in %.0f s: %s", RETRY_SECONDS, err)
            except Exception as err:  # a broken folder must not kill the worker: say why
                self.problem = f"{type(err).__name__}: {err}"
                log.exception("model failed to load, retrying in %.0f s", RETRY_SECONDS)
            self._stop.wait(RETRY_SECONDS)

    def load(self) -> Served:
        from api.scorer import build_scorer
        from api.waterfall import Waterfall, render_png
        from pipeline.serving.artifact import load_model
        from pipeline.serving.registry import resolve

        started = time.perf_counter()
        folder = resolve(self.settings.models_dir, self.settings.model_id)
        model = load_model(folder)
        scorer = build_scorer(model)
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
        render_png(  # the first picture loads fonts: not on a caller's time
            Waterfall(
                scorer.feature_names,
                ["0"] * len(scorer.feature_names),
                [0.1 * (-1) ** i for i in range(len(scorer.feature_names))],
                0.0,
                0.5,
                "low",
            )
        )
        log.info(
            "model %s loaded from %s in %.2f s (fast SHAP path: %s)",
            model.model_id,
            folder,
            time.perf_counter() - started,
            "on" if scorer.tables is not None else f"off, {scorer.fast_path_problem}",
        )
        return served
