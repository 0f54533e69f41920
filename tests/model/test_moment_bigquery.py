"""The moment model on BigQuery (the emulator): predict_moment_abandonment() as a GoogleSQL
function in the gold dataset equals the Python scorer's calibrated probability on every kind
of input, and `ecom score --family moment` builds gold.cart_moment_scores with it. (The
emulator runs the SQL through DuckDB: GoogleSQL validity is the analyzer's to check, in
tests/bigquery/test_zetasql_statements.py.)"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from pipeline.model.moment import scoring
from pipeline.serving import moment, registry
from pipeline.serving.calibration import read_calibration
from pipeline.settings import Settings
from pipeline.warehouse.bigquery import BigQueryWarehouse
from tests.model.moment_rows import moment_rows, tiny_moment_model
from tests.model.scoring_inputs import hard_inputs
from tests.model.test_bigquery_scoring import bq, load_table  # noqa: F401 (fixture)
from tests.model.test_moment_scoring import moment_table, python_scores
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401 (fixture)

pytestmark = pytest.mark.emulator
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory):
    return tiny_moment_model(tmp_path_factory.mktemp("bq_moment") / "m")


def test_the_function_equals_the_python_scorer(bq: Settings, folder):  # noqa: F811
    model = registry.load_version(folder, "moment")
    scoring.install_bigquery(bq, model, read_calibration(folder))
    rows, _ = moment_rows(60, seed=8)
    X = np.column_stack(
        [
            [1.0 if g == "treatment" else 0.0 for g in rows["experiment_group"]]
            if name == "experiment_group"
            else np.asarray(rows[name], dtype=float)
            for name in moment.FEATURES
        ]
    )
    X = hard_inputs(model, X)
    inputs = load_table(bq, "moment_inputs", moment_table(X))
    gold = f"{EMULATOR_PROJECT}.{bq.bq_gold_dataset}"
    result = (
        BigQueryWarehouse(bq)
        .client.query(
            f"select i, `{gold}.{scoring.MACRO_NAME}`({', '.join(moment.FEATURES)}) as p, "
            f"`{gold}.{scoring.MODEL_ID_MACRO_NAME}`() as model_id from {inputs} order by i"
        )
        .result()
    )
    got = list(result)
    p = np.array([r["p"] for r in got], dtype=float)
    assert p.shape == (X.shape[0],) and not np.isnan(p).any()
    assert np.abs(p - python_scores(folder, X)).max() < TOLERANCE
    assert {r["model_id"] for r in got} == {model.model_id}


def moments_table(rows: dict) -> pa.Table:
    columns = {
        "session_id": pa.array(rows["session_id"], pa.string()),
        "prediction_point": pa.array(rows["prediction_point"], pa.string()),
        "user_id": pa.array(rows["user_id"], pa.int64()),
        "experiment_group": pa.array(rows["experiment_group"], pa.string()),
        "session_month": pa.array(rows["session_month"], pa.string()),
        "point_at": pa.array(np.array(rows["point_at"]), pa.timestamp("us", "UTC")),
    }
    for name in moment.FEATURES:
        if name != "experiment_group":
            columns[name] = pa.array(np.asarray(rows[name], dtype=float), from_pandas=True)
    columns["abandoned"] = pa.array(rows["abandoned"], pa.bool_())
    columns["purchased_within_24h"] = pa.array(rows["purchased_within_24h"], pa.bool_())
    return pa.table(columns)


def test_ecom_score_family_moment_on_bigquery(bq: Settings, folder):  # noqa: F811
    rows, _ = moment_rows(50, seed=9)
    load_table(bq, "fct_cart_moments", moments_table(rows))
    run = scoring.score_moments(bq, folder)
    scoring.score_moments(bq, folder)  # again: its own rows replaced, no duplicates
    wh = BigQueryWarehouse(bq)
    frame = wh.query(
        "select session_id, prediction_point, model_id, abandonment_probability, "
        f"intervention_value from {wh.table('gold', 'cart_moment_scores')} "
        "order by session_id, prediction_point"
    )
    assert frame.height == len(rows["session_id"]) and set(frame["model_id"]) == {run.model_id}
    order = sorted(
        range(len(rows["session_id"])),
        key=lambda i: (rows["session_id"][i], rows["prediction_point"][i]),
    )
    X = np.column_stack(
        [
            [1.0 if rows["experiment_group"][i] == "treatment" else 0.0 for i in order]
            if name == "experiment_group"
            else np.array([rows[name][i] for i in order], dtype=float)
            for name in moment.FEATURES
        ]
    )
    got = frame["abandonment_probability"].to_numpy()
    assert np.abs(got - python_scores(folder, X)).max() < TOLERANCE
