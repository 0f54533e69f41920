"""The dependency split: one lock, and each image's extra installs what its code imports and
nothing of the batch stack (the service's environment is also built for real in
test_service_env.py)."""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest

from pipeline.settings import REPO_ROOT
from tests.deploy import dependency_graph as graph
from tests.deploy import deploy_files as df

# What the service must not carry (issue 11), as distributions.
NOT_IN_THE_SERVICE = {
    "dbt-core",
    "dbt-duckdb",
    "dbt-bigquery",
    "duckdb",
    "polars",
    "evidently",
    "streamlit",
    "google-cloud-bigquery",
    "google-cloud-storage",
}
SERVICE_NEEDS = {
    "fastapi",
    "uvicorn",
    "xgboost-cpu",
    "numpy",
    "shap",
    "matplotlib",
    "pydantic",
    "pydantic-settings",
    "python-multipart",
    "prometheus-client",
}
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
EXTRAS = PYPROJECT["project"]["optional-dependencies"]


def test_the_lock_matches_pyproject():
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "uv"), "lock", "--check", "--offline"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, f"run `.venv/bin/uv lock`: {result.stderr}"


def test_the_service_installs_alone_without_the_batch_stack():
    service = graph.installed_by(["api"])
    assert service >= SERVICE_NEEDS, SERVICE_NEEDS - service
    assert not service & NOT_IN_THE_SERVICE, service & NOT_IN_THE_SERVICE
    assert not any(name.startswith(("dbt-", "google-cloud-")) for name in service)


def test_the_app_has_its_own_set_without_dbt_evidently_or_the_server():
    app = graph.installed_by(["app"])
    assert {"streamlit", "duckdb", "polars", "google-cloud-bigquery", "httpx"} <= app
    # (Streamlit 1.67 itself runs on uvicorn and starlette.)
    assert not app & {"dbt-core", "dbt-duckdb", "evidently", "fastapi", "prometheus-client"}


def test_development_installs_every_extra():
    makefile = (REPO_ROOT / "Makefile").read_text()
    (line,) = re.findall(r"^EXTRAS := (.+)$", makefile, re.MULTILINE)
    # bigframes (BigQuery DataFrames) is an opt-in: `ecom train --engine bqml` uses SQL.
    assert set(line.split()) == set(EXTRAS) - {"bigframes"}
    assert "$(addprefix --extra ,$(EXTRAS))" in makefile


@pytest.mark.parametrize(
    ("package", "extra", "lands_with"),
    [
        ("api", "api", (df.API_MODULE, "the API, issue 9")),
        ("streamlit_app", "app", (df.APP_SCRIPT, "the app, issue 10")),
    ],
)
def test_each_image_installs_what_its_code_imports(package, extra, lands_with):
    """Every third-party import reachable from the package (through pipeline/, lazy imports in
    functions included) is installed by its extra: the image cannot fail on an import."""
    df.require_file(*lands_with)
    used = graph.distributions_imported([package])
    assert used, f"{package} imports nothing third-party: the walk found no code"
    missing = {
        dist: sorted(who) for dist, who in used.items() if dist not in graph.installed_by([extra])
    }
    assert not missing, f"add to the `{extra}` extra (or stop importing): {missing}"


def test_the_service_code_reaches_none_of_the_batch_stack():
    df.require_file(df.API_MODULE, "the API, issue 9")
    used = graph.distributions_imported(["api"])
    assert not set(used) & NOT_IN_THE_SERVICE, {
        d: sorted(used[d]) for d in set(used) & NOT_IN_THE_SERVICE
    }


def test_the_import_walk_sees_lazy_imports():
    """The walk is what the two tests above rely on: it finds pipeline.warehouse's lazy,
    in-function import of the BigQuery client, and skips TYPE_CHECKING-only imports."""
    modules = graph.imported_modules(["pipeline"])
    assert "google.cloud.bigquery" in modules or "google.cloud" in modules
    assert "pipeline.warehouse.bigquery" in {m for who in modules.values() for m in who}
    assert graph.distribution_of("google.cloud.bigquery") == "google-cloud-bigquery"
    assert graph.distribution_of("dbt.cli.main") == "dbt-core"
