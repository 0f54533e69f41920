"""The dashboard's default page, computed while the app server starts (streamlit_app.launch),
so its first visitor does not wait for the warehouse: the page's queries run before the server
answers its health check instead of during the first visit.

Each prepared page is handed over once (the app's own query cache keeps it from there), and
only while it is younger than the cache's lifetime: a first visit long after start-up queries
the warehouse again. Keyed by the settings as JSON (as the app's caches are) and the experiment.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pipeline.settings import Settings

MAX_AGE_SECONDS = 600.0  # the app's query cache lifetime (resources.QUERY_TTL_SECONDS)

_lock = threading.Lock()
_ready: dict[str, tuple[float, Any]] = {}


def default_experiment(settings: Settings) -> str:
    """The experiment a first visit reads out: experiments.yml's first (the selector's
    default)."""
    from pipeline.experiment.config import load_experiments

    return load_experiments(settings).experiments[0].key


def default_page(settings: Settings, experiment: str):
    """(Bounds, Dashboard or None) as the app's first visit computes them."""
    from pipeline.abtest.readout import ReadoutConfig
    from pipeline.warehouse import connect
    from streamlit_app.data import experiments, metrics

    return metrics.load_bounds_and_dashboard(
        connect(settings), ReadoutConfig(), experiments.selected(settings, experiment)
    )


def prepare(settings: Settings) -> float:
    """Compute the default page now; the seconds it took (nothing is kept on an error: the
    app's own first visit then reports it)."""
    started = time.perf_counter()
    experiment = default_experiment(settings)
    page = default_page(settings, experiment)
    with _lock:
        _ready[_key(settings.model_dump_json(), experiment)] = (time.monotonic(), page)
    return time.perf_counter() - started


def take(key: str, experiment: str) -> Any | None:
    """The prepared page for these settings and experiment, once, if still fresh."""
    with _lock:
        found = _ready.pop(_key(key, experiment), None)
    if found is None or time.monotonic() - found[0] > MAX_AGE_SECONDS:
        return None
    return found[1]


def _key(settings_json: str, experiment: str) -> str:
    return f"{experiment}\n{settings_json}"
