"""`ecom score`: the dbt model scores every cart session in DuckDB through the compiled macro,
its scores equal the loader's, every row names its model and when it was scored, re-scoring
replaces only that model's rows, and different models' scores stay side by side."""

from __future__ import annotations

import datetime as dt
import re

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import WarehouseError
from pipeline.model.bqml import MODEL_ID as BQML_MODEL
from pipeline.model.sql_scoring import DBT_VAR, MACRO_NAME, dbt_scoring_vars
from pipeline.model.train import train_local
from pipeline.serving import artifact, registry
from pipeline.serving.features import FEATURES, GROUP_CODES
from pipeline.settings import DBT_PROJECT_DIR, Settings
from pipeline.warehouse.build import SCORING_SELECTOR, dbt_paths, run_dbt
from tests.model.conftest import FAST

MACROS = DBT_PROJECT_DIR / "macros" / "scoring" / "score_cart_sessions.sql"
COMPILED = "cart_session_scores.sql"


def scores(settings: Settings) -> list[tuple]:
    """(model_id, scored_at, probability, the session's four inputs) per score row."""
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(
            "select s.model_id, s.scored_at, s.abandonment_probability, c.total_views, "
            "c.total_carts, c.session_duration_minutes, c.experiment_group "
            "from gold.cart_session_scores s left join gold.fct_cart_sessions c using (session_id)"
            " order by s.session_id, s.model_id"
        ).fetchall()


def check_equals_loader(rows: list[tuple], model: artifact.LoadedModel) -> None:
    X = np.array(
        [[np.nan if v is None else v for v in r[3:6]] + [GROUP_CODES[r[6]]] for r in rows],
        dtype=float,
    )
    np.testing.assert_allclose([r[2] for r in rows], model.predict_matrix(X), atol=1e-6, rtol=0)


def ecom_score(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(app, ["score", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_ecom_score_builds_the_scoring_model(trained, monkeypatch):
    settings = trained.settings
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    before = dt.datetime.now(dt.UTC)
    output = ecom_score(settings)
    assert trained.model.model_id in output
    rows = scores(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        n_sessions = con.execute("select count(*) from gold.fct_cart_sessions").fetchall()[0][0]
    assert len(rows) == n_sessions == 3000
    assert {r[0] for r in rows} == {trained.model.model_id}
    assert len({r[1] for r in rows}) == 1 and rows[0][1] >= before - dt.timedelta(seconds=1)
    check_equals_loader(rows, trained.model)
    # The SQL `ecom score` built passes FEATURES in order, the group encoded by GROUP_CODES.
    assert predict_arguments(compiled_scoring_sql(settings)) == expected_arguments(
        FEATURES, GROUP_CODES
    )


def test_rescoring_replaces_its_own_rows_and_keeps_other_models(warehouse_settings, monkeypatch):
    """Two versions in one registry: scores of both side by side; re-scoring one replaces its
    rows only (no duplicates; sessions gone from gold leave with them); --model-id picks; a
    scores table of the old layout (no model_id) is replaced."""
    settings = warehouse_settings
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    first = train_local(settings, params=FAST, n_boot=5)
    second = train_local(settings, params={**FAST, "max_depth": 2}, n_boot=5)
    first_id, second_id = first.card["model_id"], second.card["model_id"]
    assert registry.current_id(settings.models_dir) == second_id != first_id

    # A scores table from before model ids (one row per session): replaced, not an error.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute(
            "create table gold.cart_session_scores as select session_id, "
            "0.5 as abandonment_probability from gold.fct_cart_sessions"
        )
    ecom_score(settings)  # the current model
    ecom_score(settings, "--model-id", first_id)
    rows = scores(settings)
    assert len(rows) == 2 * 3000
    by_model = {m: [r for r in rows if r[0] == m] for m in (first_id, second_id)}
    check_equals_loader(by_model[first_id], artifact.load_model(first.model_dir))
    check_equals_loader(by_model[second_id], artifact.load_model(second.model_dir))
    second_scored_at = {r[1] for r in by_model[second_id]}

    # Sessions leave gold (a rebuild on another window), then the first model re-scores.
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("delete from gold.fct_cart_sessions where total_views > 6")
        left = con.execute("select count(*) from gold.fct_cart_sessions").fetchall()[0][0]
    assert 0 < left < 3000
    ecom_score(settings, "--model-id", first_id)
    rows = scores(settings)
    first_rows = [r for r in rows if r[0] == first_id]
    second_rows = [r for r in rows if r[0] == second_id]
    assert len(first_rows) == left and all(r[3] is not None for r in first_rows)
    assert len(second_rows) == 3000 and {r[1] for r in second_rows} == second_scored_at
    assert min(r[1] for r in first_rows) > max(second_scored_at)
    check_equals_loader(first_rows, artifact.load_model(first.model_dir))
    # And the installed macro is the model that scored last.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        assert con.execute("select abandonment_model_id()").fetchall()[0][0] == first_id


def test_unknown_model_id_says_where_to_look(trained, monkeypatch):
    monkeypatch.setenv("ECOM_DATA_DIR", str(trained.settings.data_dir))
    result = CliRunner().invoke(app, ["score", "--model-id", "abandonment-000000000000"])
    assert result.exit_code != 0
    assert "ecom models list" in " ".join(result.output.split())


def compiled_scoring_sql(settings) -> str:
    target, _ = dbt_paths(settings)
    return (target / "compiled" / "ecom_growth" / "models" / "scoring" / COMPILED).read_text()


def predict_arguments(sql: str) -> list[str]:
    """The top-level arguments of the predict_abandonment(...) call in compiled SQL,
    whitespace-normalised (the first call, not a mention in a comment)."""
    start = re.search(rf"\b{MACRO_NAME}\(\s*[^)\s]", sql).start() + len(MACRO_NAME) + 1
    depth, args, current = 0, [], []
    for char in sql[start:]:
        if char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                break
            depth -= 1
        if char == "," and depth == 0:
            args.append("".join(current))
            current = []
        else:
            current.append(char)
    args.append("".join(current))
    return [" ".join(a.split()) for a in args]


def expected_arguments(features, codes) -> list[str]:
    """What the dbt model must pass, written out here from the contract."""
    case = "case lower(experiment_group) " + " ".join(
        f"when '{group}' then {code}" for group, code in codes.items()
    )
    return [f"{case} end" if f == "experiment_group" else f for f in features]


def test_changed_contract_reaches_the_compiled_sql(trained):
    """The dbt side holds no copy of the contract: a different order or encoding in the var
    is what the compiled model uses, and the model id is the var's."""
    settings = trained.settings
    contract = dbt_scoring_vars("abandonment-0123456789ab")[DBT_VAR]
    changed = {
        **contract,
        "features": list(reversed(contract["features"])),
        "group_codes": {"treatment": 0, "control": 1},
    }
    run_dbt(settings, "compile", select="cart_session_scores", extra_vars={DBT_VAR: changed})
    sql = compiled_scoring_sql(settings)
    assert predict_arguments(sql) == expected_arguments(changed["features"], changed["group_codes"])
    assert "'abandonment-0123456789ab' as model_id" in sql
    assert "{{" not in sql and "abandonment_model_var" not in sql


def test_scoring_build_without_the_contract_var_says_to_use_ecom_score(trained):
    with pytest.raises(WarehouseError, match="ecom score"):
        run_dbt(trained.settings, "build", select=SCORING_SELECTOR)


def test_dbt_macros_hold_no_copy_of_the_contract():
    text = MACROS.read_text()
    assert "{% macro abandonment_group_code(" not in text  # that name is the DuckDB macro's
    assert "'treatment'" not in text and "'control'" not in text
    assert f".{BQML_MODEL}`" not in text  # the BigQuery ML model's name comes from the var
