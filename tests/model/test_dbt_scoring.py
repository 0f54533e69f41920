"""`ecom score`: the dbt model scores every cart session in DuckDB through the compiled macro,
and its scores equal the Python loader's."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import WarehouseError
from pipeline.model.bqml import MODEL_ID
from pipeline.model.features import FEATURES, GROUP_CODES
from pipeline.model.sql_scoring import DBT_VAR, MACRO_NAME, dbt_scoring_vars
from pipeline.settings import DBT_PROJECT_DIR
from pipeline.warehouse.build import SCORING_SELECTOR, dbt_paths, run_dbt

MACROS = DBT_PROJECT_DIR / "macros" / "scoring" / "score_cart_sessions.sql"
COMPILED = "cart_session_scores.sql"


def test_ecom_score_builds_the_scoring_model(trained, monkeypatch):
    settings = trained.settings
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["score"])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select s.abandonment_probability, c.total_views, c.total_carts, "
            "c.session_duration_minutes, c.experiment_group "
            "from gold.cart_session_scores s join gold.fct_cart_sessions c using (session_id)"
        ).fetchall()
        n_sessions = con.execute("select count(*) from gold.fct_cart_sessions").fetchone()[0]
    assert len(rows) == n_sessions == 3000
    X = np.array(
        [[np.nan if v is None else v for v in r[1:4]] + [GROUP_CODES[r[4]]] for r in rows],
        dtype=float,
    )
    np.testing.assert_allclose(
        [r[0] for r in rows], trained.model.predict_matrix(X), atol=1e-6, rtol=0
    )
    # The SQL `ecom score` built passes FEATURES in order, the group encoded by GROUP_CODES.
    assert predict_arguments(compiled_scoring_sql(settings)) == expected_arguments(
        FEATURES, GROUP_CODES
    )


def compiled_scoring_sql(settings) -> str:
    target, _ = dbt_paths(settings)
    return (target / "compiled" / "ecom_growth" / "models" / "scoring" / COMPILED).read_text()


def predict_arguments(sql: str) -> list[str]:
    """The top-level arguments of predict_abandonment(...) in compiled SQL, whitespace-normalised."""
    start = sql.index(f"{MACRO_NAME}(") + len(MACRO_NAME) + 1
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
    is what the compiled model uses."""
    settings = trained.settings
    contract = dbt_scoring_vars()[DBT_VAR]
    changed = {
        **contract,
        "features": list(reversed(contract["features"])),
        "group_codes": {"treatment": 0, "control": 1},
    }
    run_dbt(settings, "compile", select="cart_session_scores", extra_vars={DBT_VAR: changed})
    sql = compiled_scoring_sql(settings)
    assert predict_arguments(sql) == expected_arguments(changed["features"], changed["group_codes"])
    assert "{{" not in sql and "abandonment_model_var" not in sql


def test_scoring_build_without_the_contract_var_says_to_use_ecom_score(trained):
    with pytest.raises(WarehouseError, match="ecom score"):
        run_dbt(trained.settings, "build", select=SCORING_SELECTOR)


def test_dbt_macros_hold_no_copy_of_the_contract():
    text = MACROS.read_text()
    assert "{% macro abandonment_group_code(" not in text  # that name is the DuckDB macro's
    assert "'treatment'" not in text and "'control'" not in text
    assert f"return('{MODEL_ID}')" not in text  # the id comes from the var too
