"""SQL scores in DuckDB equal the booster's on every input: models trained with missing values,
real NaN doubles and NULLs, ±inf, -0.0, values beyond float32's range, values on (and one
float32 step around) every split threshold; for local models and BigQuery ML exports."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipeline.errors import ModelError
from pipeline.model.sql_scoring import (
    CELLS_TABLE,
    GROUP_MACRO_NAME,
    MACRO_NAME,
    MODEL_ID_MACRO_NAME,
    compile_expression,
    install_macros,
)
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES, GROUP_CODES
from pipeline.serving.trees import grid_parts
from tests.model.conftest import bqml_like_export, cart_sessions, design_matrix
from tests.model.scoring_inputs import (
    as_table,
    booster_predict,
    hard_inputs,
    train_with_missing,
    with_missing,
)

TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def inputs(missing_model) -> np.ndarray:
    return hard_inputs(missing_model, design_matrix(cart_sessions(3000, seed=21)))


def score(con: duckdb.DuckDBPyConnection, X: np.ndarray, expression: str | None = None):
    """Score X through the installed macro (or an expression over the feature columns), with
    X in a table of DOUBLEs: NaN as real NaN doubles, a third of them as NULL instead."""
    rows = as_table(X, null_share=0.33)  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute("create or replace temp table inputs as select * from rows")
    nan, null = con.execute(
        "select count(*) filter (where isnan(session_duration_minutes)), "
        "count(*) filter (where session_duration_minutes is null) from inputs"
    ).fetchall()[0]
    assert nan > 0 and null > 0, "the inputs must hold real NaN doubles and NULLs"
    call = expression or f"{MACRO_NAME}({', '.join(FEATURES)})"
    return np.array(
        [r[0] for r in con.execute(f"select {call} from inputs order by i").fetchall()],
        dtype=np.float64,
    )


def max_error(got: np.ndarray, expected: np.ndarray) -> float:
    assert got.shape == expected.shape and not np.isnan(got).any()
    return float(np.abs(got - expected).max())


def test_macro_equals_the_booster_on_every_kind_of_input(missing_model, inputs):
    with duckdb.connect() as con:
        install_macros(con, missing_model)
        got = score(con, inputs)
    assert max_error(got, booster_predict(missing_model, inputs)) < TOLERANCE
    assert max_error(got, missing_model.predict_matrix(inputs)) < TOLERANCE
    # The inputs exercise both default directions and the special values.
    assert np.isinf(inputs).any() and (np.abs(inputs[np.isfinite(inputs)]) > 3.4e38).any()


def test_nan_is_missing_not_a_number(missing_model, inputs):
    """A NaN double and a NULL score alike, as the booster's missing value; treating NaN as a
    number (DuckDB sorts it above every threshold) would differ on this model."""
    X = with_missing(design_matrix(cart_sessions(500, seed=8)), 0.5, 9)
    as_big = np.where(np.isnan(X), 1e300, X)  # where NaN would go if it were a number
    assert (
        max_error(booster_predict(missing_model, as_big), booster_predict(missing_model, X)) > 0.05
    )
    with duckdb.connect() as con:
        install_macros(con, missing_model)
        assert max_error(score(con, X), booster_predict(missing_model, X)) < TOLERANCE


def test_per_tree_expression_is_exact_too(missing_model, inputs):
    """The self-contained form (what BigQuery's function holds), run in DuckDB."""
    expression = compile_expression(missing_model, [f"cast({f} as double)" for f in FEATURES])
    with duckdb.connect() as con:
        got = score(con, inputs, expression)
    assert max_error(got, booster_predict(missing_model, inputs)) < TOLERANCE


def test_grid_in_parts_is_exact(missing_model, inputs):
    whole = grid_parts(missing_model)[0].cells
    with duckdb.connect() as con:
        scorer = install_macros(con, missing_model, max_cells=whole // 10)
        assert len(scorer.parts) > 3
        assert scorer.macro_sql.count(CELLS_TABLE) == len(scorer.parts)
        got = score(con, inputs)
    assert max_error(got, booster_predict(missing_model, inputs)) < TOLERANCE


@pytest.mark.parametrize("class_names", [("1", "0"), ("0", "1")])
def test_bigquery_softprob_export_imputes_nan_like_the_loader(tmp_path: Path, class_names):
    data = cart_sessions(1500, seed=11)
    X = design_matrix(data)
    bqml_like_export(
        tmp_path,
        X,
        data["abandoned_cart"].astype(int),
        class_names=class_names,
        means={"session_duration_minutes": 12.5, "total_views": 4.0},
    )
    model = artifact.load_model(tmp_path)
    X = hard_inputs(model, X)
    expected = model.predict_matrix(X)
    # coalesce(NaN, mean) keeps the NaN: the loader imputes it, so must the SQL.
    assert max_error(booster_predict(model, np.nan_to_num(X, nan=1e300)), expected) > 1e-3
    with duckdb.connect() as con:
        install_macros(con, model)
        assert max_error(score(con, X), expected) < TOLERANCE
        expression = compile_expression(model, [f"cast({f} as double)" for f in FEATURES])
        assert max_error(score(con, X, expression), expected) < TOLERANCE


def test_macros_in_a_warehouse_file(tmp_path: Path, missing_model):
    """Installed in a file, the macro works from a later connection (the table is found by
    its qualified name), reports its model, and a re-install replaces table and macro."""
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        install_macros(con, missing_model)
        params = con.execute(
            "select parameters from duckdb_functions() where function_name = ?", [MACRO_NAME]
        ).fetchall()[0][0]
        assert tuple(params) == FEATURES
    with duckdb.connect(str(path), read_only=True) as con:
        X = np.array([[3, 1, 12.5, 1], [np.nan, 2, np.nan, 0]])
        p = con.execute(
            f"select {MACRO_NAME}(3, 1, 12.5, {GROUP_MACRO_NAME}('Treatment')), "
            f"{MACRO_NAME}(null, 2, 'nan'::double, {GROUP_MACRO_NAME}('control')), "
            f"{MODEL_ID_MACRO_NAME}()"
        ).fetchall()[0]
        np.testing.assert_allclose(p[:2], booster_predict(missing_model, X), atol=TOLERANCE)
        assert p[2] == missing_model.model_id
        for group, code in GROUP_CODES.items():
            got = con.execute(f"select {GROUP_MACRO_NAME}(?)", [group.upper()]).fetchall()
            assert got[0][0] == code
        cells = con.execute(f"select count(*) from {CELLS_TABLE}").fetchall()[0][0]
    assert cells == sum(p.cells for p in grid_parts(missing_model))
    small = artifact.load_model(train_with_missing(tmp_path / "small", rows=800, n_estimators=5))
    with duckdb.connect(str(path)) as con:
        install_macros(con, small)
        assert con.execute(f"select {MODEL_ID_MACRO_NAME}()").fetchall()[0][0] == small.model_id
        assert con.execute(f"select count(*) from {CELLS_TABLE}").fetchall()[0][0] == sum(
            p.cells for p in grid_parts(small)
        )


def test_categorical_model_is_refused(reference_dir: Path):
    model = artifact.load_model(
        reference_dir / "bqml_export" / "boosted_tree_classifier_model", features=None
    )
    with pytest.raises(ModelError, match="numeric inputs only"):
        compile_expression(model)
    with duckdb.connect() as con, pytest.raises(ModelError):
        install_macros(con, model)
        assert con.execute("select count(*) from duckdb_tables()").fetchall()[0][0] == 0
