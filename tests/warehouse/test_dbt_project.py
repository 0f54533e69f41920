"""The dbt project's static contract: one timeout, profiles driven by the environment,
no hub packages, and the runner's environment and arguments."""

from __future__ import annotations

import hashlib
import json
from datetime import date

import yaml

from pipeline.experiment import CONTROL, GROUPS, TREATMENT, TREATMENT_HEX_DIGITS, assign_group
from pipeline.experiment.config import read_experiments
from pipeline.sessions import SESSION_TIMEOUT_MINUTES
from pipeline.settings import DBT_PROJECT_DIR, EXPERIMENTS_FILE, Settings
from pipeline.warehouse.build import dbt_args, dbt_env, dbt_paths, dbt_vars, experiment_vars
from pipeline.warehouse.incremental import PURCHASE_LABEL_HOURS

PYTHON_FACTS = {
    "session_timeout_minutes": SESSION_TIMEOUT_MINUTES,
    "purchase_label_hours": PURCHASE_LABEL_HOURS,
    "control_group": CONTROL,
    "treatment_group": TREATMENT,
    "treatment_hex_digits": list(TREATMENT_HEX_DIGITS),
    # experiments.yml, as the warehouse takes it
    "experiments": experiment_vars(read_experiments(EXPERIMENTS_FILE)),
}


def test_var_defaults_equal_the_python_constants() -> None:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    assert dbt_vars() == PYTHON_FACTS
    for name, value in PYTHON_FACTS.items():
        assert project["vars"][name] == value, name
    assert sorted((project["vars"]["control_group"], project["vars"]["treatment_group"])) == sorted(
        GROUPS
    )


def test_the_experiments_var_is_experiments_yml_with_the_runs_overrides(tmp_path) -> None:
    (checkout, aa) = dbt_vars()["experiments"]
    assert checkout == {
        "key": "checkout",
        "salt": "",
        "start": None,
        "end": None,
        "from_ingestion": True,
    }
    assert aa["key"] == "aa-standing" and aa["salt"] and not aa["from_ingestion"]
    overridden = Settings(data_dir=tmp_path, experiment_start=date(2019, 12, 1))
    assert dbt_vars(overridden)["experiments"][0]["start"] == "2019-12-01"
    assert dbt_vars(overridden)["experiments"][1] == aa


def test_the_treatment_digits_are_the_assignment_rule() -> None:
    # Users whose md5 ends in each hex digit: Treatment exactly for the passed digits.
    for user_id in range(200):
        digit = hashlib.md5(str(user_id).encode()).hexdigest()[-1]
        expected = TREATMENT if digit in dbt_vars()["treatment_hex_digits"] else CONTROL
        assert assign_group(user_id) == expected


def test_no_sql_or_yaml_restates_the_experiment_constants() -> None:
    # The group names and digits reach dbt as vars; only unit-test fixtures spell them out.
    for path in DBT_PROJECT_DIR.glob("[mt]*/**/*"):
        if path.suffix not in {".sql", ".yml"} or "scoring" in path.parts:
            continue
        text = path.read_text()
        assert "'1', '3', '5'" not in text, path
        assert "then 'treatment'" not in text and "'control'" not in text, path
        assert '["control", "treatment"]' not in text, path


def test_the_runner_passes_the_timeout_var_and_its_own_paths(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path / "d")
    args = dbt_args("build", settings, exclude="tag:scoring")
    assert json.loads(args[args.index("--vars") + 1]) == PYTHON_FACTS
    target_path, log_path = dbt_paths(settings)
    assert args[args.index("--target-path") + 1] == str(target_path)
    assert args[args.index("--log-path") + 1] == str(log_path)
    assert target_path.is_relative_to(settings.data_dir.resolve())
    assert args[args.index("--exclude") + 1] == "tag:scoring"
    assert args[args.index("--target") + 1] == "local"


def test_profiles_have_a_duckdb_default_and_an_env_driven_bigquery_target() -> None:
    profile = yaml.safe_load((DBT_PROJECT_DIR / "profiles.yml").read_text())["ecom_growth"]
    assert "'local'" in profile["target"]
    local, bigquery = profile["outputs"]["local"], profile["outputs"]["bigquery"]
    assert local["type"] == "duckdb"
    assert "env_var('ECOM_DUCKDB_PATH'" in local["path"]
    assert bigquery["type"] == "bigquery"
    for key, env in {
        "project": "ECOM_GCP_PROJECT",
        "location": "ECOM_BQ_LOCATION",
        "dataset": "ECOM_BQ_GOLD_DATASET",
        "api_endpoint": "ECOM_BQ_API_ENDPOINT",
        "method": "ECOM_BQ_AUTH_METHOD",
    }.items():
        assert f"env_var('{env}'" in bigquery[key], key


def test_no_hub_packages_are_needed() -> None:
    # dbt hub is unreachable offline: generic tests live in the project.
    assert not (DBT_PROJECT_DIR / "packages.yml").exists()
    assert not (DBT_PROJECT_DIR / "dependencies.yml").exists()


def test_runner_environment_follows_settings(tmp_path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        warehouse="bigquery",
        gcp_project="proj-x",
        bq_location="EU",
        bq_silver_dataset="s_ds",
        bq_api_endpoint="http://127.0.0.1:9050",
    )
    env = dbt_env(settings)
    assert env["ECOM_DBT_TARGET"] == "bigquery"
    assert env["ECOM_GCP_PROJECT"] == "proj-x"
    assert env["ECOM_BQ_LOCATION"] == "EU"
    assert env["ECOM_BQ_SILVER_DATASET"] == "s_ds"
    assert env["ECOM_BQ_API_ENDPOINT"] == "http://127.0.0.1:9050"
    assert dbt_env(Settings(data_dir=tmp_path))["ECOM_DUCKDB_PATH"] == str(
        (tmp_path / "warehouse.duckdb").resolve()
    )


def test_models_contain_no_engine_specific_branches() -> None:
    # Engine differences belong in dispatched macros (macros/cross_db.sql), not in models.
    models = [p for p in (DBT_PROJECT_DIR / "models").rglob("*.sql") if "scoring" not in p.parts]
    assert len(models) >= 8
    for sql in models:
        text = sql.read_text()
        assert "target.type" not in text, sql
        assert "::" not in text, f"{sql}: use cast(), not DuckDB's :: syntax"
        for duckdb_only in ("epoch_us(", "strftime(", "md5(", "qualify"):
            assert duckdb_only not in text.lower(), f"{sql}: {duckdb_only}"


def test_the_runner_passes_the_experiment_start(tmp_path) -> None:
    import datetime as dt

    settings = Settings(data_dir=tmp_path / "d", experiment_start=dt.date(2019, 12, 1))
    args = dbt_args("build", settings)
    passed = json.loads(args[args.index("--vars") + 1])
    checkout, aa = PYTHON_FACTS["experiments"]
    assert passed == {**PYTHON_FACTS, "experiments": [{**checkout, "start": "2019-12-01"}, aa]}


def test_every_mart_has_a_declared_consumer() -> None:
    """Each mart (and the scores model) is read by an exposure; a mart nobody reads is removed."""
    models = DBT_PROJECT_DIR / "models"
    marts = {p.stem for folder in ("marts", "scoring") for p in (models / folder).rglob("*.sql")}
    exposures = yaml.safe_load((models / "exposures.yml").read_text())["exposures"]
    consumed = {
        ref.removeprefix("ref('").removesuffix("')")
        for exposure in exposures
        for ref in exposure["depends_on"]
    }
    assert marts - consumed == set(), f"marts without a consumer: {marts - consumed}"
    assert consumed - marts <= {"stg_events"}  # the silver events analysts query by name


def test_models_are_layered_by_folder_with_materialization_per_folder() -> None:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    folders = project["models"]["ecom_growth"]
    assert folders["staging"]["+materialized"] == "view"
    assert folders["intermediate"]["+materialized"] == "incremental"
    assert folders["marts"]["sessions"]["+materialized"] == "incremental"
    assert folders["marts"]["users"]["+materialized"] == "table"
    names = {p.stem: p.parent.name for p in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    for name, folder in names.items():
        prefix = {"staging": "stg_", "intermediate": "int_"}.get(folder)
        if prefix:
            assert name.startswith(prefix), name
        elif folder in ("sessions", "users"):
            # fct_/dim_, and the seed's two names analysts know (kept: see docs/reference/dbt.md)
            assert name.startswith(("fct_", "dim_")) or name == "fact_user_sessions", name
