"""The moment model's BigQuery ML templates (sql/bqml/moment_*.sql), rendered for a project.

The same time split as `ecom train --family moment` (sql/model/moment_training_set.sql, the
settings' months) and the same options as the local booster (pipeline.model.bqml.model_options
of TRAIN_PARAMS, label `abandoned`); Platt scaling as a LOGISTIC_REG model on the booster's
margin over the calibration month; evaluation and predictions through both. For analysts who
train in BigQuery: `ecom train --family moment` itself trains locally (no emulator runs BigQuery
ML, so nothing here could be tested end to end), and the locally trained model is scored on
BigQuery by `ecom score --family moment` (a SQL function, pipeline.model.moment.scoring).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.model.bqml import model_options, names
from pipeline.model.dataset import SPLIT_COLUMN
from pipeline.model.moment.data import MOMENTS_TABLE, SESSIONS_TABLE, training_query
from pipeline.model.train import TRAIN_PARAMS
from pipeline.serving import moment
from pipeline.settings import Settings
from pipeline.warehouse import templates

MODEL_ID = "moment_model"
CALIBRATION_MODEL_ID = "moment_calibration"
PREDICTIONS_TABLE = "cart_moment_predictions"
# Run order; each name is sql/bqml/<name>.sql.
STEPS = ("moment_create_model", "moment_calibrate", "moment_evaluate", "moment_predict")


def options(params: Mapping[str, Any] = TRAIN_PARAMS) -> dict[str, str]:
    """The session model's CREATE MODEL options, with the moment model's label."""
    return {**model_options(params), "input_label_cols": f"['{moment.LABEL}']"}


def render_all(settings: Settings, params: Mapping[str, Any] = TRAIN_PARAMS) -> dict[str, str]:
    """Every step's SQL, in run order."""
    base = names(settings)  # checks the project is set
    gold = f"{settings.gcp_project}.{settings.bq_gold_dataset}"
    tables = {name: f"`{gold}.{name}`" for name in (MOMENTS_TABLE, SESSIONS_TABLE)}
    query = training_query(tables, settings, "bigquery")
    values = {
        "project": base["project"],
        "model": f"{gold}.{MODEL_ID}",
        "calibration_model": f"{gold}.{CALIBRATION_MODEL_ID}",
        "predictions_table": f"{gold}.{PREDICTIONS_TABLE}",
        "options": ",\n".join(f"    {k} = {v}" for k, v in options(params).items()),
        "training_query": "\n".join(f"    {line}" if line else "" for line in query.splitlines()),
        "features": ", ".join(moment.FEATURES),
        "label": moment.LABEL,
        "split_column": SPLIT_COLUMN,
    }
    return {step: templates.render(f"bqml/{step}.sql", "bigquery", **values) for step in STEPS}
