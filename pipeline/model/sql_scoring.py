"""Compile a booster's trees into one SQL expression, so analysts can score in plain SQL.

Written by hand because no maintained library emits SQL that matches xgboost bit for bit on
DuckDB (m2cgen has no SQL target). Matching rules, each one checked by tests/model:
- margin = intercept + sum of leaf values; binary:logistic's intercept is logit(base_score)
  (xgboost 3.x stores base_score as a probability); multi:softprob adds the same base to every
  class, which cancels in the softmax.
- a split sends x left when x < threshold (strict), in float32: the input is cast to FLOAT and
  compared with the threshold's exact float32 value; a missing (NULL) input takes the default
  branch recorded in the tree.
- leaves are summed in DOUBLE, so the result matches Booster.predict to about 1e-7.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.errors import ModelError
from pipeline.model.artifact import LoadedModel
from pipeline.model.dataset import group_code_sql
from pipeline.model.features import CONTRACT, FEATURES, GROUP_CODES

MACRO_NAME = "predict_abandonment"
# For analysts' SQL on DuckDB. Not the dbt Jinja macro abandonment_group_case(), which renders
# the same encoding from the `abandonment_model` var on either engine.
GROUP_MACRO_NAME = "abandonment_group_code"
# The dbt var through which `ecom score` hands the contract to dbt/macros/scoring/.
DBT_VAR = "abandonment_model"


def _literal(value: float) -> str:
    """A float32 value as a DOUBLE literal that round-trips exactly (scientific notation)."""
    return f"{float(np.float32(value)):.17e}"


def _tree_sql(node: dict[str, Any], inputs: Sequence[str]) -> str:
    if "leaf" in node:
        return _literal(node["leaf"])
    children = {child["nodeid"]: child for child in node["children"]}
    column = inputs[int(node["split"].lstrip("f"))]
    yes = _tree_sql(children[node["yes"]], inputs)
    no = _tree_sql(children[node["no"]], inputs)
    missing = yes if node["missing"] == node["yes"] else no
    threshold = _literal(node["split_condition"])
    return (
        f"case when {column} is null then {missing} "
        f"when {column} < {threshold} then {yes} else {no} end"
    )


def _base_score(model: LoadedModel) -> float:
    params = json.loads(model.booster.save_config())["learner"]["learner_model_param"]
    return float(params["base_score"].strip("[]"))


def _input_expressions(model: LoadedModel, arguments: Sequence[str]) -> list[str]:
    if not model.is_numeric_only:
        raise ModelError(
            f"{model.path}: SQL scoring compiles numeric inputs only; this model has categorical "
            "encodings. Score it with ML.PREDICT on BigQuery or the Python loader."
        )
    out = []
    for column, argument in zip(model.columns, arguments, strict=True):
        value = argument if column.mean is None else f"coalesce({argument}, {column.mean!r})"
        out.append(f"cast({value} as float)")
    return out


def compile_expression(model: LoadedModel, arguments: Sequence[str] | None = None) -> str:
    """P(abandoned) as one SQL expression over `arguments` (default: the feature names)."""
    arguments = list(arguments or model.feature_names)
    inputs = _input_expressions(model, arguments)
    trees = [json.loads(t) for t in model.booster.get_dump(dump_format="json")]
    n_class = len(model.class_names) if model.objective == "multi:softprob" else 1
    margins = [[] for _ in range(n_class)]
    for i, tree in enumerate(trees):
        margins[i % n_class].append(_tree_sql(tree, inputs))
    if model.objective == "binary:logistic":
        base = _base_score(model)
        intercept = math.log(base / (1.0 - base))
        margin = " + ".join([repr(intercept), *margins[0]])
        return f"(1.0 / (1.0 + exp(-({margin}))))"
    # softmax over the class margins, read at the positive class: 1 / sum_k exp(m_k - m_pos)
    sums = [f"({' + '.join(m) if m else '0.0'})" for m in margins]
    pos = model.positive_index
    terms = ["1.0" if k == pos else f"exp({sums[k]} - {sums[pos]})" for k in range(n_class)]
    return f"(1.0 / ({' + '.join(terms)}))"


def macro_sql(model: LoadedModel) -> str:
    """DuckDB `create macro predict_abandonment(<features>)` returning P(abandoned)."""
    if tuple(model.feature_names) != FEATURES:
        raise ModelError(f"{model.path}: the macro's signature is the feature contract {FEATURES}.")
    params = ", ".join(FEATURES)
    return f"create or replace macro {MACRO_NAME}({params}) as {compile_expression(model)}"


def group_macro_sql() -> str:
    """`abandonment_group_code(experiment_group)`: the contract's encoding, for SQL callers."""
    return (
        f"create or replace macro {GROUP_MACRO_NAME}(experiment_group) as "
        f"({group_code_sql('experiment_group')})"
    )


def install_macros(connection: Any, model: LoadedModel) -> None:
    """Install both macros in a DuckDB connection (persisted in its database file)."""
    connection.execute(macro_sql(model))
    connection.execute(group_macro_sql())


def dbt_scoring_vars() -> dict[str, Any]:
    """The contract as the dbt var the scoring macros render from (no copy of it in dbt/)."""
    from pipeline.model.bqml import MODEL_ID

    (group_feature,) = (f.name for f in CONTRACT if f.kind == "group")
    return {
        DBT_VAR: {
            "features": list(FEATURES),
            "group_feature": group_feature,
            "group_codes": dict(GROUP_CODES),
            "model_id": MODEL_ID,
        }
    }


def score_warehouse(settings: Any, model_dir: Any = None, *, show_progress: bool = False) -> Any:
    """`ecom score`: (re)install the macros from the current model, then build the dbt scoring
    model (gold.cart_session_scores). On BigQuery the dbt model calls ML.PREDICT instead."""
    import duckdb

    from pipeline.model.artifact import load_model
    from pipeline.model.gold import require_cart_sessions
    from pipeline.model.registry import resolve
    from pipeline.warehouse.build import SCORING_SELECTOR, run_dbt

    if settings.warehouse == "duckdb":
        # The warehouse before the model: without gold there is nothing to score either way.
        require_cart_sessions(settings, "scoring")
        model = load_model(model_dir or resolve(settings.models_dir, settings.model_id))
        with duckdb.connect(str(settings.warehouse_path)) as connection:
            install_macros(connection, model)
    return run_dbt(
        settings,
        "build",
        select=SCORING_SELECTOR,
        extra_vars=dbt_scoring_vars(),
        show_progress=show_progress,
    )
