"""`ecom serve api`: check that a model is there, then hand over to uvicorn.

The app itself is built by `api.main:create_app` in each worker, from the environment: this
module only passes the CLI's choices on through it (ECOM_DATA_DIR, and for several workers
prometheus-client's multiprocess folder, so /metrics counts every worker's requests).
"""

from __future__ import annotations

import os
import shutil
import tempfile

from pipeline.settings import Settings

APP = "api.main:create_app"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve_api(
    settings: Settings, *, host: str, port: int, workers: int, data_dir: str | None = None
) -> None:
    import uvicorn

    from pipeline.serving.registry import resolve

    resolve(settings.models_dir, settings.model_id)  # no model: say `ecom train` now, not later
    if data_dir:
        os.environ["ECOM_DATA_DIR"] = data_dir
    own_metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        own_metrics_dir = tempfile.mkdtemp(prefix="ecom-api-metrics-")
        os.environ[MULTIPROC_ENV] = own_metrics_dir
    try:
        uvicorn.run(
            APP,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,  # the app logs every request itself, in JSON, with its id
            # A worker imports xgboost, shap and pyarrow before it answers the supervisor's
            # health pings: on a busy 2-core machine that can take longer than the default 5 s.
            timeout_worker_healthcheck=60,
        )
    finally:
        if own_metrics_dir:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
