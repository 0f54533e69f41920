"""Trees compiled to SQL score exactly like the booster: every training row, missing values,
values exactly on split thresholds and one float32 step below them."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipeline.model import artifact
from pipeline.model.features import FEATURES, GROUP_CODES
from pipeline.model.sql_scoring import (
    GROUP_MACRO_NAME,
    MACRO_NAME,
    compile_expression,
    install_macros,
)
from tests.model.conftest import bqml_like_export, cart_sessions, design_matrix

TOLERANCE = 1e-6


def edge_rows(model: artifact.LoadedModel, base: np.ndarray) -> np.ndarray:
    """For every split of every tree: the threshold itself, the largest double below it that
    rounds to it in float32, and the next float32 below; plus each feature missing."""
    rows = []
    for tree in model.booster.get_dump(dump_format="json"):
        stack = [json.loads(tree)]
        while stack:
            node = stack.pop()
            if "leaf" in node:
                continue
            stack.extend(node["children"])
            column = int(node["split"].lstrip("f"))
            t = np.float32(node["split_condition"])
            below32 = np.nextafter(t, np.float32(-np.inf))
            rounds_up = (float(t) + float(below32)) / 2 + np.spacing(float(t))
            for value in (
                float(t),
                float(np.nextafter(float(t), -np.inf)),
                rounds_up,
                float(below32),
            ):
                row = base.copy()
                row[column] = value
                rows.append(row)
    for column in range(base.size):
        row = base.copy()
        row[column] = np.nan
        rows.append(row)
    return np.array(rows)


def sql_scores(model: artifact.LoadedModel, X: np.ndarray) -> np.ndarray:
    """Install the macro in a real DuckDB file and score X through it."""
    with duckdb.connect() as con:
        install_macros(con, model)
        con.execute(
            "create table inputs (i integer, total_views double, total_carts double, "
            "session_duration_minutes double, experiment_group double)"
        )
        con.executemany(
            "insert into inputs values (?, ?, ?, ?, ?)",
            [[i, *(None if np.isnan(v) else float(v) for v in row)] for i, row in enumerate(X)],
        )
        args = ", ".join(FEATURES)
        return np.array(
            [
                r[0]
                for r in con.execute(
                    f"select {MACRO_NAME}({args}) from inputs order by i"
                ).fetchall()
            ]
        )


def training_matrix(settings) -> np.ndarray:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        rows = con.execute(
            "select total_views, total_carts, session_duration_minutes, "
            "case experiment_group when 'treatment' then 1 else 0 end "
            "from gold.fct_cart_sessions"
        ).fetchall()
    return np.array([[np.nan if v is None else v for v in r] for r in rows], dtype=float)


def test_sql_equals_booster_on_every_training_row_and_edge(trained):
    model = trained.model
    X = training_matrix(trained.settings)
    assert np.isnan(X).any(), "the training set must contain missing values"
    X = np.vstack([X, edge_rows(model, X[0])])
    expected = model.predict_matrix(X)
    got = sql_scores(model, X)
    assert got.shape == expected.shape and not np.isnan(got).any()
    np.testing.assert_allclose(got, expected, atol=TOLERANCE, rtol=0)


def test_float32_comparison_matters(trained):
    """A value just below a threshold in double that rounds up to it in float32 goes right
    in xgboost; the SQL must agree (comparing in double would send it left)."""
    model = trained.model
    X = edge_rows(model, training_matrix(trained.settings)[1])
    np.testing.assert_allclose(sql_scores(model, X), model.predict_matrix(X), atol=TOLERANCE)


@pytest.mark.parametrize("class_names", [("1", "0"), ("0", "1")])
def test_sql_equals_loader_for_bigquery_softprob_export(tmp_path: Path, class_names):
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
    X = np.vstack([X, edge_rows(model, X[0])])
    np.testing.assert_allclose(sql_scores(model, X), model.predict_matrix(X), atol=TOLERANCE)


def test_default_parameter_model_compiles_exactly(tmp_path: Path):
    """100 trees of depth 4 (the real parameters) stay within 1e-6 too."""
    from pipeline.model.train import TRAIN_PARAMS, fit_booster

    data = cart_sessions(2000, seed=13)
    X = design_matrix(data)
    booster = fit_booster(X, data["abandoned_cart"].astype(int), TRAIN_PARAMS, seed=42)
    artifact.write_model(
        tmp_path / "m", booster, artifact.contract_metadata({}), {}, {"total_views": X[:2, 0]}
    )
    model = artifact.load_model(tmp_path / "m")
    assert model.booster.num_boosted_rounds() == 100
    X = np.vstack([X, edge_rows(model, X[0])])
    np.testing.assert_allclose(sql_scores(model, X), model.predict_matrix(X), atol=TOLERANCE)


def test_macros_signature_and_group_codes(trained):
    with duckdb.connect() as con:
        install_macros(con, trained.model)
        params = con.execute(
            "select parameters from duckdb_functions() where function_name = ?", [MACRO_NAME]
        ).fetchone()[0]
        assert tuple(params) == FEATURES
        for group, code in GROUP_CODES.items():
            assert (
                con.execute(f"select {GROUP_MACRO_NAME}(?)", [group.upper()]).fetchone()[0] == code
            )


def test_categorical_model_is_refused(reference_dir: Path):
    from pipeline.errors import ModelError

    model = artifact.load_model(
        reference_dir / "bqml_export" / "boosted_tree_classifier_model", features=None
    )
    with pytest.raises(ModelError, match="numeric inputs only"):
        compile_expression(model)
