"""The service imports nothing of the batch stack (its image does not install it)."""

from __future__ import annotations

import json
import subprocess
import sys

from pipeline.settings import REPO_ROOT

FORBIDDEN = ("dbt", "duckdb", "polars", "polars_hash", "evidently", "streamlit", "bigframes")

PROBE = """
import json, sys
import api.main
app = api.main.create_app()
from api import bulk, bulk_csv, bulk_out, bulk_process, scorer, supervisor, waterfall  # all a request or a process can touch
import shap  # what the loader thread imports
from fastapi.testclient import TestClient
with TestClient(app) as client:
    client.get("/health")
print(json.dumps(sorted(sys.modules)))
"""


def test_api_imports_no_batch_stack(tmp_path):
    env = {"ECOM_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    modules = json.loads(out.stdout.strip().splitlines()[-1])
    loaded = {m.split(".")[0] for m in modules}
    assert not loaded & set(FORBIDDEN), loaded & set(FORBIDDEN)
    # google-cloud: the site's namespace-package .pth files pre-import the empty `google` and
    # `google.cloud` packages in every interpreter; no client library may be imported.
    clients = [m for m in modules if m.startswith("google.cloud.") or m.startswith("google.api")]
    assert clients == []
    assert "api.main" in modules and "pipeline.serving.artifact" in modules
