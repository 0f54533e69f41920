"""End to end on generated data at tiny scale: generate -> ingest -> dbt build -> train ->
`ecom score` through dbt -> SQL scores equal the loader's on every cart session."""

from __future__ import annotations

import duckdb
import numpy as np
import pytest

from pipeline.generate import generate
from pipeline.ingest import ingest
from pipeline.model.sql_scoring import score_warehouse
from pipeline.model.train import train_local
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES
from pipeline.settings import Settings
from pipeline.warehouse.build import build_warehouse
from tests.model.conftest import FAST

pytestmark = pytest.mark.slow


def test_train_and_score_generated_warehouse(tmp_path_factory: pytest.TempPathFactory):
    settings = Settings(data_dir=tmp_path_factory.mktemp("model_generated") / "data")
    generate(settings.raw_dir, scale=0.005, seed=42)
    ingest(settings)
    build_warehouse(settings)
    result = train_local(settings, params=FAST, n_boot=20)
    card = result.card
    assert card["rows"]["total"] > 500
    assert card["data_window"]["months"] == ["2019-10", "2019-11", "2019-12", "2020-01", "2020-02"]
    assert "test on 2020-02" in card["evaluation"]["time_split"]["description"]
    model = artifact.load_model(result.model_dir)

    score_warehouse(settings)
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        scored = con.execute(
            "select s.abandonment_probability, "
            + ", ".join(f"c.{f}" for f in FEATURES)
            + " from gold.cart_session_scores s join gold.fct_cart_sessions c using (session_id)"
        ).fetchall()
    assert len(scored) == card["rows"]["total"]
    records = [dict(zip(FEATURES, row[1:], strict=True)) for row in scored]
    np.testing.assert_allclose(
        [row[0] for row in scored], model.predict(records), atol=1e-6, rtol=0
    )
