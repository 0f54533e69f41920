"""How the model did, computed in SQL (sql/monitoring/realized.sql), against scikit-learn on
the very same rows: the warehouse's scores joined to the sessions' outcomes, read here whole."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from pipeline.serving import registry
from pipeline.warehouse import connect
from streamlit_app.data import realized
from tests.app.conftest import TRAIN_THROUGH, Pipeline

THROUGH = "2020-01"  # TRAIN_THROUGH as a month key
THRESHOLDS = {"medium": 0.5, "high": 0.8}


@pytest.fixture(scope="module")
def rows(pipeline_run: Pipeline) -> pl.DataFrame:
    """Every scored cart session with its outcome, joined in Polars (not by the SQL under
    test)."""
    with duckdb.connect(str(pipeline_run.settings.warehouse_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        scores = con.sql("select * from gold.cart_session_scores").pl()
        sessions = con.sql("select * from gold.fct_cart_sessions").pl()
    return scores.join(sessions, on="session_id").with_columns(
        y=pl.col("abandoned_cart").cast(pl.Int64),
        week=pl.col("session_start").dt.truncate("1w").dt.date(),  # Monday-start weeks
    )


@pytest.fixture(scope="module")
def result(pipeline_run: Pipeline) -> realized.Realized:
    model_id = registry.current_id(pipeline_run.settings.models_dir)
    return realized.load_realized(connect(pipeline_run.settings), model_id, THROUGH, THRESHOLDS)


def check(frame: pl.DataFrame, got: dict) -> None:
    y, p = frame["y"].to_numpy(), frame["abandonment_probability"].to_numpy()
    assert got["sessions"] == len(y) and got["abandoned"] == y.sum()
    assert got["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert got["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert got["mean_predicted"] == pytest.approx(p.mean(), abs=1e-12)
    assert got["observed_rate"] == pytest.approx(y.mean(), abs=1e-12)


def test_realized_auc_and_brier_equal_scikit_learn_on_the_same_rows(rows, result) -> None:
    assert TRAIN_THROUGH == "2020-Jan"
    after = rows.filter(pl.col("session_month") > THROUGH)
    assert after.height > 100 and after["y"].n_unique() == 2
    check(after, result.overall.row(0, named=True))
    for group in ("control", "treatment"):
        got = result.groups.filter(pl.col("slice") == group).row(0, named=True)
        check(after.filter(pl.col("experiment_group") == group), got)


def test_every_week_is_a_monday_with_its_own_auc(rows, result) -> None:
    weeks = result.weeks
    assert weeks["week"].to_list() == sorted(rows["week"].unique().to_list())
    assert all(w.weekday() == 0 for w in weeks["week"])
    assert weeks.filter(pl.col("in_training"))["week"].max() < weeks["week"].max()
    for row in weeks.sample(4, seed=3).iter_rows(named=True):
        week = rows.filter(pl.col("week") == row["week"])
        if week["y"].n_unique() == 2:
            check(week, row)


def test_risk_bands_and_the_calibration_table(rows, result) -> None:
    after = rows.filter(pl.col("session_month") > THROUGH)
    p = after["abandonment_probability"]
    bands = {
        "low": after.filter(p < THRESHOLDS["medium"]),
        "medium": after.filter((p >= THRESHOLDS["medium"]) & (p < THRESHOLDS["high"])),
        "high": after.filter(p >= THRESHOLDS["high"]),
    }
    assert result.bands["slice"].to_list() == [b for b in bands if bands[b].height]
    for row in result.bands.iter_rows(named=True):
        frame = bands[row["slice"]]
        if frame["y"].n_unique() == 2:
            check(frame, row)
    bins = np.minimum(np.floor(p.to_numpy() * 10), 9)
    for row in result.calibration.iter_rows(named=True):
        inside = after.filter(bins == round(row["predicted_from"] * 10))
        assert row["sessions"] == inside.height
        assert row["mean_predicted"] == pytest.approx(inside["abandonment_probability"].mean())
        assert row["observed_rate"] == pytest.approx(inside["y"].mean())
        assert row["predicted_from"] <= row["mean_predicted"] < row["predicted_to"] + 1e-12
    assert result.calibration["sessions"].sum() == after.height


def test_ties_count_half_as_mann_whitney_says(pipeline_run: Pipeline, tmp_path) -> None:
    """Hand-made scores with heavy ties: the SQL's AUC is scikit-learn's (which halves ties)."""
    rng = np.random.default_rng(7)
    n = 400
    p = rng.choice([0.2, 0.5, 0.5, 0.8], n)
    y = (rng.random(n) < p).astype(int)
    path = tmp_path / "ties.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema gold")
        con.execute(
            "create table gold.cart_session_scores as select 's' || i::varchar as session_id, "
            "p as abandonment_probability, 'm-1' as model_id from "
            "(select unnest(range(?)) as i, unnest(?::double[]) as p)",
            [n, p.tolist()],
        )
        con.execute(
            "create table gold.fct_cart_sessions as select 's' || i::varchar as session_id, "
            "y = 1 as abandoned_cart, 'control' as experiment_group, '2020-02' as session_month, "
            "timestamptz '2020-02-03 10:00:00+00' + i * interval 1 minute as session_start from "
            "(select unnest(range(?)) as i, unnest(?::int[]) as y)",
            [n, y.tolist()],
        )
    settings = pipeline_run.settings.model_copy(update={"duckdb_path": path})
    got = realized.load_realized(connect(settings), "m-1", None, THRESHOLDS)
    assert got.overall["roc_auc"][0] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert got.overall["brier"][0] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert got.weeks["week"].to_list() == [date(2020, 2, 3)]  # a Monday: one week


def test_bad_model_ids_and_months_never_reach_the_sql(pipeline_run: Pipeline) -> None:
    wh = connect(pipeline_run.settings)
    with pytest.raises(ValueError, match="model id"):
        realized.realized_sql(wh, "x' or '1'='1", "1")
    with pytest.raises(ValueError, match="YYYY-MM"):
        realized.realized_sql(wh, "m-1", "1", after="2020-1")
