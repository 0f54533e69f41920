"""`ecom score --family moment`: the moment model's CALIBRATED probability in plain SQL.

`predict_moment_abandonment(<18 features>)` = sigmoid(slope * margin + intercept), where the
margin is the booster's trees as nested CASEs (pipeline.model.sql_scoring.compile_margin: the
same split rule, missing values down the default branch, leaves summed in DOUBLE) and slope and
intercept are the version's calibration.json. The session model's grid of cells does not fit
here: 18 features cut by a depth-4 tree's thresholds make grids of millions of cells per tree.
- DuckDB: a macro in the warehouse file (arguments cast to DOUBLE);
- BigQuery: a function in the gold dataset (FLOAT64 arguments), ZetaSQL-checked in tests.
Then dbt builds gold.cart_moment_scores (dbt/models/scoring/): one row per prediction point and
model, with the decision rule's expected value beside the probability. The contract (feature
order, group encoding), the model id and the rule reach dbt as the var `moment_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.errors import ModelError, WarehouseError
from pipeline.model.sql_scoring import (
    Dialect,
    bq_path,
    compile_margin,
    double_literal,
    sigmoid_sql,
    sql_model_id,
)
from pipeline.serving import moment
from pipeline.serving.calibration import Platt, read_calibration
from pipeline.serving.decision import DecisionRule, read_rule
from pipeline.serving.features import GROUP_CODES

if TYPE_CHECKING:
    from pipeline.serving.artifact import LoadedModel
    from pipeline.settings import Settings
    from pipeline.warehouse.build import BuildResult

MACRO_NAME = "predict_moment_abandonment"
MODEL_ID_MACRO_NAME = "moment_model_id"
DBT_VAR = "moment_model"
SCORES_MODEL = "cart_moment_scores"


def _check_contract(model: LoadedModel) -> None:
    if tuple(model.feature_names) != moment.FEATURES:
        raise ModelError(
            f"{model.path}: {MACRO_NAME}'s signature is the moment contract {moment.FEATURES}."
        )


def calibrated_expression(
    model: LoadedModel, platt: Platt, arguments: list[str], dialect: Dialect
) -> str:
    """The calibrated P(abandon) as one expression of `arguments` (DOUBLE)."""
    _check_contract(model)
    margin = compile_margin(model, arguments, dialect)
    calibrated = (
        f"{double_literal(platt.slope)} * ({margin})\n    + {double_literal(platt.intercept)}"
    )
    return sigmoid_sql(calibrated, dialect)


def duckdb_macro_sql(model: LoadedModel, platt: Platt) -> str:
    """`create or replace macro predict_moment_abandonment(<features>)`."""
    arguments = [f"cast({name} as double)" for name in moment.FEATURES]
    return (
        f"create or replace macro {MACRO_NAME}({', '.join(moment.FEATURES)}) as\n"
        f"{calibrated_expression(model, platt, arguments, 'duckdb')}"
    )


def bigquery_function_sql(model: LoadedModel, platt: Platt, dataset: str) -> str:
    """`create or replace function <dataset>.predict_moment_abandonment(...)` in GoogleSQL;
    `dataset` is "project.dataset" (the gold dataset)."""
    params = ", ".join(f"{name} FLOAT64" for name in moment.FEATURES)
    body = calibrated_expression(model, platt, list(moment.FEATURES), "bigquery")
    return (
        f"create or replace function {bq_path(f'{dataset}.{MACRO_NAME}')}({params})\n"
        f"returns FLOAT64\nas (\n  {body}\n)"
    )


def bigquery_model_id_sql(model: LoadedModel, dataset: str) -> str:
    return (
        f"create or replace function {bq_path(f'{dataset}.{MODEL_ID_MACRO_NAME}')}() "
        f"returns STRING as ('{sql_model_id(model)}')"
    )


def install_duckdb(connection: Any, model: LoadedModel, platt: Platt) -> None:
    """Both macros in the connection's database, in one transaction (a failure leaves the
    previous model's)."""
    connection.execute("begin transaction")
    try:
        connection.execute(duckdb_macro_sql(model, platt))
        connection.execute(
            f"create or replace macro {MODEL_ID_MACRO_NAME}() as '{sql_model_id(model)}'"
        )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise


def install_bigquery(settings: Settings, model: LoadedModel, platt: Platt) -> None:
    """Create predict_moment_abandonment() and moment_model_id() in the gold dataset."""
    from google.api_core.exceptions import GoogleAPIError

    from pipeline.warehouse.bigquery import BigQueryWarehouse

    warehouse = BigQueryWarehouse(settings)
    dataset = f"{warehouse.project}.{settings.bq_gold_dataset}"
    for sql in (
        bigquery_function_sql(model, platt, dataset),
        bigquery_model_id_sql(model, dataset),
    ):
        try:
            warehouse.client.query(sql).result()
        except GoogleAPIError as err:
            raise WarehouseError(
                f"Installing {MACRO_NAME}() in {dataset} failed: {err}\nCheck that the dataset "
                "exists (`ecom warehouse`) and that you may create routines in it."
            ) from err


def dbt_vars(model_id: str, rule: DecisionRule) -> dict[str, Any]:
    """What dbt/macros/scoring/score_cart_moments.sql renders from (no copy of the contract
    in dbt/)."""
    (group_feature,) = (f.name for f in moment.CONTRACT if f.kind == "group")
    return {
        DBT_VAR: {
            "features": list(moment.FEATURES),
            "group_feature": group_feature,
            "group_codes": dict(GROUP_CODES),
            "model_id": model_id,
            "gross_margin_rate": rule.gross_margin_rate,
            "recovery_share": rule.recovery_share,
            "intervention_cost": rule.intervention_cost,
        }
    }


def moment_columns_sql(table: str) -> str:
    from pipeline.warehouse.templates import render

    columns = ["session_id", "prediction_point", "session_month", *moment.FEATURES]
    return render("model/contract_columns.sql", "duckdb", table=table, columns=columns)


@dataclass(frozen=True)
class MomentScoringRun:
    model_id: str
    build: BuildResult


def score_moments(
    settings: Settings,
    model_dir: Any = None,
    *,
    model_id: str | None = None,
    show_progress: bool = False,
) -> MomentScoringRun:
    """Install the calibrated scorer on the configured engine, then build
    gold.cart_moment_scores with it. The model is `model_dir`, else version `model_id`, else
    the moment family's current one."""
    from pipeline.model.gold import read_gold
    from pipeline.serving import registry
    from pipeline.warehouse.build import run_dbt
    from pipeline.warehouse.duckdb import DuckDBWarehouse

    read_gold(
        settings,
        "fct_cart_moments",
        lambda table, _: moment_columns_sql(table),
        "moment scoring",
    )
    folder = model_dir or registry.resolve(settings.models_dir, model_id, registry.MOMENT)
    model = registry.load_version(folder, registry.MOMENT)
    platt = read_calibration(folder)
    rule = read_rule(folder) or DecisionRule()
    if settings.warehouse == "duckdb":
        with DuckDBWarehouse(settings).connect() as connection:
            install_duckdb(connection, model, platt)
    else:
        install_bigquery(settings, model, platt)
    build = run_dbt(
        settings,
        "build",
        select=SCORES_MODEL,
        extra_vars=dbt_vars(sql_model_id(model), rule),
        show_progress=show_progress,
    )
    return MomentScoringRun(model.model_id, build)
