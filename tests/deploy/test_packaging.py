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


# Imported only inside functions an image never calls, so its extra leaves them out (as import
# names). Each entry must still be such an import (a stale one fails), with the reason.
LAZY_NOT_RUN = {
    "app": {
        "dbt": "pipeline.warehouse.build runs dbt inside build_warehouse()/run_dbt(); the app "
        "imports that module for dbt_paths() only",
    },
    "api": {
        "polars": "pipeline.experiment.rules builds Polars expressions inside its functions; the "
        "service imports the package for assign_group (pipeline.experiment.assignment) only",
        "polars_hash": "the same functions of pipeline.experiment.rules hash with it",
    },
}


@pytest.mark.parametrize(
    ("package", "extra", "lands_with"),
    [
        ("api", "api", (df.API_MODULE, "the API, issue 9")),
        ("streamlit_app", "app", (df.APP_SCRIPT, "the app, issue 10")),
    ],
)
def test_each_image_installs_what_its_code_imports(package, extra, lands_with):
    """Every third-party import reachable from the package (through pipeline/, imports inside
    functions included) is installed by its extra: the image cannot fail on an import."""
    df.require_file(*lands_with)
    used = graph.imported_modules(graph.modules_of(package))
    assert used, f"{package} imports nothing third-party: the walk found no code"
    installed = graph.installed_by([extra])
    allowed = LAZY_NOT_RUN[extra]
    missing = {
        module: sorted(use.importers)
        for module, use in used.items()
        if not graph.providers(module) & installed and not (use.lazy and module in allowed)
    }
    assert not missing, f"add to the `{extra}` extra (or stop importing): {missing}"
    stale = {
        m for m in allowed if m not in used or not used[m].lazy or graph.providers(m) & installed
    }
    assert not stale, f"LAZY_NOT_RUN[{extra!r}] no longer needs {sorted(stale)}"


SERVICE_CONTRACT = "The service and the serving core import nothing of the batch stack"


def test_the_service_code_reaches_none_of_the_batch_stack():
    """import-linter's contract (pyproject.toml) holds, forbids a module of every distribution
    the service must not carry, and excuses only the lazy imports LAZY_NOT_RUN gives reasons
    for (functions the service never calls: such a call would fail in the image)."""
    df.require_file(df.API_MODULE, "the API, issue 9")
    config = PYPROJECT["tool"]["importlinter"]
    (contract,) = [c for c in config["contracts"] if c["name"].startswith(SERVICE_CONTRACT)]
    assert set(contract["source_modules"]) == {"api", "pipeline.serving"}
    forbidden = {m for m in contract["forbidden_modules"] if "." not in m}
    uncovered = {
        dist
        for dist in NOT_IN_THE_SERVICE
        if not any(dist in graph.providers(module) for module in forbidden)
    }
    assert not uncovered, f"forbid a module of {sorted(uncovered)} in the contract"
    excused = {line.split(" -> ")[1] for line in contract.get("ignore_imports", [])}
    assert excused == set(LAZY_NOT_RUN["api"])
    result = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "lint-imports"), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    plain = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert re.search(rf"{SERVICE_CONTRACT}.* KEPT", plain), plain


def test_the_import_walk_sees_lazy_imports():
    """The walk the tests above rely on: from pipeline.warehouse it finds the BigQuery client
    imported inside connect()'s engine (lazy), DuckDB's module-level import of duckdb reached
    only through connect() (lazy too), and polars imported at module level (eager); an import
    no distribution provides is named as such."""
    used = graph.imported_modules(["pipeline.warehouse"])
    assert used["google"].lazy and used["duckdb"].lazy
    assert "pipeline.warehouse.bigquery" in used["google"].importers
    assert not used["polars"].lazy
    assert "google-cloud-bigquery" in graph.providers("google")
    assert graph.providers("dbt") >= {"dbt-core", "dbt-duckdb"}
    assert graph.providers("no_such_module") == {"<not installed: no_such_module>"}
    whole = graph.imported_modules(graph.modules_of("pipeline.warehouse"))
    assert not whole["duckdb"].lazy  # pipeline.warehouse.duckdb itself imports it at the top
