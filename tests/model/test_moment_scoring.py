"""The moment model's calibrated probability in SQL equals the Python scorer's (what the API
computes: Platt of the booster's margin) to 1e-6 on every kind of input, in a DuckDB macro; and
`ecom score --family moment` builds gold.cart_moment_scores with it, one row per prediction
point and model, the decision rule's expected value beside it."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.errors import WarehouseError
from pipeline.model.moment import scoring
from pipeline.model.moment.train import train_moment
from pipeline.serving import moment, registry
from pipeline.serving.calibration import Platt, read_calibration
from pipeline.serving.decision import DecisionRule, read_rule
from pipeline.serving.features import GROUP_CODES
from pipeline.serving.trees import booster_margin
from pipeline.warehouse.build import run_dbt
from tests.model.conftest import FAST_MOMENT, MomentTrained
from tests.model.scoring_inputs import hard_inputs

TOLERANCE = 1e-6


def python_scores(folder, X: np.ndarray) -> np.ndarray:
    """The serving core's calibrated P: Platt(slope, intercept) of xgboost's own margin."""
    model = registry.load_version(folder, "moment")
    margin = booster_margin(model, model.booster, X)
    return read_calibration(folder).probabilities(margin)


def moment_table(X: np.ndarray, null_share: float = 0.33, seed: int = 2) -> pa.Table:
    """X as DOUBLE columns named by the moment contract plus a row index; a share of the NaN
    cells become NULL, the others stay NaN doubles."""
    nulls = np.isnan(X) & (np.random.default_rng(seed).random(X.shape) < null_share)
    columns = {"i": pa.array(np.arange(X.shape[0]))}
    for j, name in enumerate(moment.FEATURES):
        columns[name] = pa.array(X[:, j], mask=nulls[:, j])
    return pa.table(columns)


def training_matrix(settings) -> np.ndarray:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.sql("select * from gold.fct_cart_moments").pl()
    return np.column_stack(
        [
            frame["experiment_group"].replace_strict(GROUP_CODES).to_numpy().astype(float)
            if name == "experiment_group"
            else frame[name].cast(float).to_numpy()
            for name in moment.FEATURES
        ]
    )


def test_the_macro_equals_the_python_scorer_on_every_kind_of_input(moment_trained: MomentTrained):
    folder = moment_trained.folder
    model = registry.load_version(folder, "moment")
    X = hard_inputs(model, training_matrix(moment_trained.settings)[:400])
    rows = moment_table(X)  # noqa: F841 (read by DuckDB's replacement scan)
    with duckdb.connect() as con:
        scoring.install_duckdb(con, model, read_calibration(folder))
        con.execute("create table inputs as select * from rows")
        nan, null = con.execute(
            "select count(*) filter (where isnan(prior_revenue)), "
            "count(*) filter (where prior_revenue is null) from inputs"
        ).fetchone()
        assert nan > 0 and null > 0, "real NaN doubles and NULLs"
        call = f"{scoring.MACRO_NAME}({', '.join(moment.FEATURES)})"
        got = np.array(
            [r[0] for r in con.execute(f"select {call} from inputs order by i").fetchall()]
        )
        assert con.execute(f"select {scoring.MODEL_ID_MACRO_NAME}()").fetchone()[0] == (
            model.model_id
        )
    expected = python_scores(folder, X)
    assert got.shape == expected.shape and not np.isnan(got).any()
    assert np.abs(got - expected).max() < TOLERANCE
    # Calibration is applied: without it the SQL would be the booster's own probability.
    raw = Platt(1.0, 0.0).probabilities(booster_margin(model, model.booster, X))
    assert np.abs(raw - expected).max() > 1e-3


def test_the_sql_texts_carry_the_calibration(moment_trained: MomentTrained):
    model = registry.load_version(moment_trained.folder, "moment")
    platt = Platt(0.5, -0.25)
    duck = scoring.duckdb_macro_sql(model, platt)
    assert duck.startswith(f"create or replace macro {scoring.MACRO_NAME}(views_so_far, ")
    assert "5.00000000000000000e-01 * (" in duck and "-2.50000000000000000e-01" in duck
    bq = scoring.bigquery_function_sql(model, platt, "my-project.cosmetics_gold")
    params = ", ".join(f"{name} FLOAT64" for name in moment.FEATURES)
    assert bq.startswith(
        f"create or replace function `my-project.cosmetics_gold.{scoring.MACRO_NAME}`({params})"
    )
    assert "is_nan(" in bq and "cast(" not in bq.lower() and bq.count(";") == 0


def moment_scores(settings) -> list[dict]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        frame = con.sql(
            "select s.*, m.* exclude (session_id, prediction_point, user_id, experiment_group, "
            "session_month, point_at, cart_price, abandoned, purchased_within_24h), "
            "m.experiment_group as group_name from gold.cart_moment_scores s join "
            "gold.fct_cart_moments m using (session_id, prediction_point) "
            "order by s.session_id, s.prediction_point, s.model_id"
        ).pl()
    return frame.to_dicts()


def matrix_of(rows: list[dict]) -> np.ndarray:
    return np.array(
        [
            [
                GROUP_CODES[r["group_name"]]
                if name == "experiment_group"
                else (np.nan if r[name] is None else r[name])
                for name in moment.FEATURES
            ]
            for r in rows
        ],
        dtype=float,
    )


def test_ecom_score_family_moment_builds_the_scores_table(
    moment_trained: MomentTrained, monkeypatch
):
    settings = moment_trained.settings
    model_id = moment_trained.card["model_id"]
    monkeypatch.setenv("ECOM_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(app, ["score", "--family", "moment", "--model-id", model_id])
    assert result.exit_code == 0, result.output
    assert model_id in result.output and "cart_moment_scores" in result.output
    rows = moment_scores(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        moments = con.execute("select count(*) from gold.fct_cart_moments").fetchone()[0]
    assert len(rows) == moments and {r["model_id"] for r in rows} == {model_id}
    got = np.array([r["abandonment_probability"] for r in rows])
    assert np.abs(got - python_scores(moment_trained.folder, matrix_of(rows))).max() < TOLERANCE
    rule = read_rule(moment_trained.folder)
    for r in rows[:300]:
        assert r["intervention_value"] == pytest.approx(
            rule.expected_value(r["abandonment_probability"], r["cart_price"]), abs=1e-9
        )
    assert len({r["scored_at"] for r in rows}) == 1


def test_rescoring_keeps_other_models_and_replaces_its_own(
    moment_trained: MomentTrained, tmp_path, monkeypatch
):
    settings = moment_trained.settings.model_copy(
        update={"decision_intervention_cost": 0.5, "models_dir": tmp_path / "models"}
    )
    other = train_moment(settings, params={**FAST_MOMENT, "max_depth": 2}, n_boot=5)
    first = moment_trained.card["model_id"]
    scoring.score_moments(settings, moment_trained.folder)
    scoring.score_moments(settings, other.model_dir)
    scoring.score_moments(settings, moment_trained.folder)  # again: its own rows replaced
    rows = moment_scores(settings)
    by_model = {m: [r for r in rows if r["model_id"] == m] for m in (first, other.card["model_id"])}
    assert len(by_model[first]) == len(by_model[other.card["model_id"]]) == len(rows) // 2
    second = by_model[other.card["model_id"]]
    got = np.array([r["abandonment_probability"] for r in second])
    assert np.abs(got - python_scores(other.model_dir, matrix_of(second))).max() < TOLERANCE
    # The other version's own rule (a costlier intervention) priced its rows.
    assert read_rule(other.model_dir) == DecisionRule(intervention_cost=0.5)
    r = second[0]
    assert r["intervention_value"] == pytest.approx(
        DecisionRule(intervention_cost=0.5).expected_value(
            r["abandonment_probability"], r["cart_price"]
        )
    )


def test_the_scoring_model_without_its_var_says_to_use_ecom_score(moment_trained):
    with pytest.raises(WarehouseError, match="ecom score --family moment"):
        run_dbt(moment_trained.settings, "build", select=scoring.SCORES_MODEL)


def test_an_unknown_version_says_where_to_look(moment_trained: MomentTrained, monkeypatch):
    monkeypatch.setenv("ECOM_DATA_DIR", str(moment_trained.settings.data_dir))
    result = CliRunner().invoke(
        app, ["score", "--family", "moment", "--model-id", "moment-000000000000"]
    )
    assert result.exit_code != 0 and "ecom models list" in " ".join(result.output.split())
