"""`ecom score`: the dbt model scores every cart session in DuckDB through the compiled macro,
and its scores equal the Python loader's."""

from __future__ import annotations

import re

import duckdb
import numpy as np
from typer.testing import CliRunner

from pipeline.cli import app
from pipeline.model.bqml import MODEL_ID
from pipeline.model.features import GROUP_CODES
from pipeline.settings import DBT_PROJECT_DIR

MACROS = DBT_PROJECT_DIR / "macros" / "scoring" / "score_cart_sessions.sql"


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


def test_dbt_macros_use_the_contract():
    text = MACROS.read_text()
    codes = dict(re.findall(r"'(\w+)': (\d+)", text.split("abandonment_group_codes")[1]))
    assert {k: int(v) for k, v in codes.items()} == GROUP_CODES
    assert f"return('{MODEL_ID}')" in text
