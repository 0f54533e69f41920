"""Score in plain SQL, exactly as the booster does, on DuckDB and on BigQuery.

Two compilations of the same trees (pipeline/serving/trees.py has the matching rules):

- DuckDB, the fast path: `predict_abandonment(total_views, total_carts,
  session_duration_minutes, experiment_group)`, a macro over one lookup table. The trees cut
  each feature at their thresholds and the model is constant on every cell of that grid, so a
  short binary search per feature (a few CASE levels) finds the row's cell and one lookup in
  `predict_abandonment_cells` gives its margin: ~25 comparisons and a hash join instead of a
  hundred nested trees (~400 CASE levels), which made SQL 8x slower than the booster.
- GoogleSQL: `bigquery_function_sql`, one self-contained function in the gold dataset whose
  body sums the trees as nested CASEs (BigQuery scales it out; it needs no table, and a
  table-backed function could not be checked by the analyzer on its own).

Written by hand because no maintained library emits SQL that matches xgboost bit for bit
(m2cgen has no SQL target). Both forms compare doubles with each threshold's float32 edge
(never a FLOAT cast), send NULL and NaN down the default branch (a BigQuery ML export imputes
them with its metadata mean instead, like the loader) and sum leaves in DOUBLE.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from pipeline.errors import ModelError, WarehouseError
from pipeline.model.dataset import group_code_sql
from pipeline.serving.features import CONTRACT, FEATURES, GROUP_CODES
from pipeline.serving.trees import (
    MAX_GRID_CELLS,
    GridPart,
    Leaf,
    MarginModel,
    Node,
    grid_parts,
    margin_model,
)

if TYPE_CHECKING:
    from pipeline.serving.artifact import LoadedModel
    from pipeline.settings import Settings
    from pipeline.warehouse.build import BuildResult

Dialect = Literal["duckdb", "bigquery"]

MACRO_NAME = "predict_abandonment"  # the DuckDB macro and the BigQuery function
CELLS_TABLE = "predict_abandonment_cells"  # DuckDB: the macro's lookup table (key, margin)
# For analysts' SQL on either engine. Not the dbt Jinja macro abandonment_group_case(), which
# renders the same encoding from the `abandonment_model` var.
GROUP_MACRO_NAME = "abandonment_group_code"
MODEL_ID_MACRO_NAME = "abandonment_model_id"  # which model predict_abandonment() computes
# The dbt var through which `ecom score` hands the contract and the model to dbt/macros/scoring/.
DBT_VAR = "abandonment_model"
# The dbt model `ecom score` builds (the moment family's is pipeline.model.moment.scoring's).
SCORES_MODEL = "cart_session_scores"
# How the dbt model scores: the installed macro/function, or BigQuery ML's ML.PREDICT.
SCORER_SQL = "sql"
SCORER_ML_PREDICT = "ml_predict"
# A margin beyond this saturates the sigmoid in double; BigQuery's exp() fails past ~709.
_MARGIN_CLAMP = 700.0
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _literal(value: float) -> str:
    """A DOUBLE literal that round-trips exactly on both engines (a plain 0.1 is a DECIMAL in
    DuckDB)."""
    return f"{float(value):.17e}"


def _is_missing(x: str, dialect: Dialect) -> str:
    return f"{x} is null or {'isnan' if dialect == 'duckdb' else 'is_nan'}({x})"


def _sigmoid(margin: str, dialect: Dialect) -> str:
    if dialect == "bigquery":
        margin = f"greatest({-_MARGIN_CLAMP}, least({_MARGIN_CLAMP}, {margin}))"
    return f"(1.0 / (1.0 + exp(-({margin}))))"


def sql_model_id(model: LoadedModel) -> str:
    if not _SAFE_ID.fullmatch(model.model_id or ""):
        raise ModelError(f"{model.path}: model id {model.model_id!r} cannot be written into SQL.")
    return model.model_id


def _check_contract(model: LoadedModel) -> None:
    if tuple(model.feature_names) != FEATURES:
        raise ModelError(
            f"{model.path}: predict_abandonment's signature is the feature contract {FEATURES}."
        )


def _missing_goes_yes(model: LoadedModel, feature: int, edge: float, default_yes: bool) -> bool:
    """Where a missing input goes: the tree's default branch, or where the mean goes for a
    BigQuery ML export that imputes (float32(mean) < t is mean < edge)."""
    mean = model.columns[feature].mean
    return default_yes if mean is None else mean < edge


# ----------------------------------------------------------------------------- per-tree SQL


def _tree_sql(node: Node, model: LoadedModel, inputs: Sequence[str], dialect: Dialect) -> str:
    if isinstance(node, Leaf):
        return _literal(node.value)
    x = inputs[node.feature]
    condition = f"{x} < {_literal(node.edge)}"
    # NULL and NaN fail `x < edge` on both engines, so they fall to `no` unaided.
    if _missing_goes_yes(model, node.feature, node.edge, node.missing_yes):
        condition += f" or {_is_missing(x, dialect)}"
    yes = _tree_sql(node.yes, model, inputs, dialect)
    no = _tree_sql(node.no, model, inputs, dialect)
    return f"case when {condition} then {yes} else {no} end"


def _balanced_sum(terms: Sequence[str]) -> str:
    """a + b + c + ... as a balanced tree of additions: a left-deep chain of 100 trees nests
    100 levels deep, past what analyzers (and protobuf's parse of their output) accept."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return f"({_balanced_sum(terms[:middle])}\n    + {_balanced_sum(terms[middle:])})"


def _margin_sql(model: LoadedModel, inputs: Sequence[str], dialect: Dialect) -> str:
    margin: MarginModel = margin_model(model)
    terms = [_literal(margin.intercept)]
    for tree, sign in zip(margin.trees, margin.signs, strict=True):
        tree_sql = _tree_sql(tree, model, inputs, dialect)
        terms.append(tree_sql if sign > 0 else f"-({tree_sql})")
    return _balanced_sum(terms)


def compile_margin(
    model: LoadedModel, arguments: Sequence[str] | None = None, dialect: Dialect = "duckdb"
) -> str:
    """The booster's margin (log-odds) as one expression: the trees as nested CASEs over
    `arguments` (default: the feature names), which must be DOUBLE (or cast to it)."""
    inputs = list(arguments or model.feature_names)
    if len(inputs) != len(model.columns):
        raise ModelError(f"{len(model.columns)} arguments needed, got {len(inputs)}")
    return _margin_sql(model, inputs, dialect)


def sigmoid_sql(margin: str, dialect: Dialect = "duckdb") -> str:
    """P of a margin expression (BigQuery's exp() is kept in range)."""
    return _sigmoid(margin, dialect)


def double_literal(value: float) -> str:
    """A DOUBLE literal that reads back as exactly `value` on both engines."""
    return _literal(value)


def compile_expression(
    model: LoadedModel, arguments: Sequence[str] | None = None, dialect: Dialect = "duckdb"
) -> str:
    """P(abandoned) as one self-contained expression: the trees as nested CASEs over
    `arguments` (default: the feature names), which must be DOUBLE (or cast to it)."""
    return _sigmoid(compile_margin(model, arguments, dialect), dialect)


def bq_path(path: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", path):
        raise ModelError(f"{path!r} is not a BigQuery dataset path (project.dataset).")
    return f"`{path}`"


def bigquery_function_sql(model: LoadedModel, dataset: str) -> str:
    """`create or replace function <dataset>.predict_abandonment(...)`: the model as a
    GoogleSQL function; `dataset` is "project.dataset" (the gold dataset)."""
    _check_contract(model)
    params = ", ".join(f"{name} FLOAT64" for name in FEATURES)
    body = compile_expression(model, FEATURES, "bigquery")
    return (
        f"create or replace function {bq_path(f'{dataset}.{MACRO_NAME}')}({params})\n"
        f"returns FLOAT64\n"
        f"as (\n  {body}\n)"
    )


def bigquery_helper_functions_sql(model: LoadedModel, dataset: str) -> list[str]:
    """The group encoding and the model id as functions beside predict_abandonment."""
    return [
        f"create or replace function {bq_path(f'{dataset}.{GROUP_MACRO_NAME}')}"
        f"(experiment_group STRING) returns INT64 as ({group_code_sql('experiment_group')})",
        f"create or replace function {bq_path(f'{dataset}.{MODEL_ID_MACRO_NAME}')}() "
        f"returns STRING as ('{sql_model_id(model)}')",
    ]


# ----------------------------------------------------------------------------- DuckDB: the grid


def _bin_sql(x: str, edges: Sequence[float]) -> str:
    """The bin of x as a balanced binary search over the edges (bins 0..n; n+1 = missing).

    NULL and NaN fail every `x < edge` and reach the top bin, so only there is it asked."""
    top = len(edges)

    def search(lo: int, hi: int) -> str:
        if lo == hi:
            if lo == top:
                return f"case when {_is_missing(x, 'duckdb')} then {top + 1} else {top} end"
            return str(lo)
        mid = (lo + hi + 1) // 2
        return (
            f"case when {x} < {_literal(edges[mid - 1])} then {search(lo, mid - 1)} "
            f"else {search(mid, hi)} end"
        )

    return search(0, top)


def _part_sql(part: GridPart, inputs: Sequence[str], table: str) -> str:
    terms = [str(part.offset)] if part.offset else []
    for feature, edges, stride in zip(part.features, part.edges, part.strides, strict=True):
        bins = _bin_sql(inputs[feature], edges)
        terms.append(f"({bins})" if stride == 1 else f"{stride} * ({bins})")
    return f"(select margin from {table} where key = {' + '.join(terms)})"


@dataclass(frozen=True)
class DuckDBScorer:
    """The compiled model for DuckDB: the macro's text and its lookup table's rows."""

    macro_sql: str
    keys: np.ndarray
    margins: np.ndarray
    parts: tuple[GridPart, ...]


def duckdb_scorer(
    model: LoadedModel, table: str = CELLS_TABLE, *, max_cells: int = MAX_GRID_CELLS
) -> DuckDBScorer:
    """`create or replace macro predict_abandonment(<features>)` over the table `table`
    (give it fully qualified: a macro resolves names where it is called, not where it lives)."""
    _check_contract(model)
    parts = grid_parts(model, max_cells)
    inputs = [f"cast({name} as double)" for name in FEATURES]
    intercept = margin_model(model).intercept
    lookups = []
    for part in parts:
        if part.features:
            lookups.append(_part_sql(part, inputs, table))
        else:  # trees without a split: a constant
            intercept += float(part.margins[0])
    margin = " + ".join([_literal(intercept), *lookups])
    macro = (
        f"create or replace macro {MACRO_NAME}({', '.join(FEATURES)}) as "
        f"{_sigmoid(margin, 'duckdb')}"
    )
    keys = np.concatenate([p.offset + np.arange(p.cells) for p in parts if p.features] or [[]])
    margins = np.concatenate([p.margins for p in parts if p.features] or [[]])
    return DuckDBScorer(macro, keys.astype(np.int64), margins.astype(np.float64), parts)


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def group_macro_sql() -> str:
    """`abandonment_group_code(experiment_group)`: the contract's encoding, for SQL callers."""
    return (
        f"create or replace macro {GROUP_MACRO_NAME}(experiment_group) as "
        f"({group_code_sql('experiment_group')})"
    )


def install_macros(
    connection: Any, model: LoadedModel, *, max_cells: int = MAX_GRID_CELLS
) -> DuckDBScorer:
    """Install predict_abandonment(), its lookup table, abandonment_group_code() and
    abandonment_model_id() in the connection's current database, in one transaction (a
    failure leaves the previous model's)."""
    import pyarrow as pa

    catalog, schema = connection.execute("select current_database(), current_schema()").fetchall()[
        0
    ]
    table = f"{quote_ident(catalog)}.{quote_ident(schema)}.{CELLS_TABLE}"
    scorer = duckdb_scorer(model, table, max_cells=max_cells)
    cells = pa.table({"key": pa.array(scorer.keys), "margin": pa.array(scorer.margins)})
    connection.register("abandonment_cells_in", cells)
    connection.execute("begin transaction")
    try:
        connection.execute(
            f"create or replace table {table} as "
            "select cast(key as bigint) as key, margin from abandonment_cells_in"
        )
        connection.execute(scorer.macro_sql)
        connection.execute(group_macro_sql())
        connection.execute(
            f"create or replace macro {MODEL_ID_MACRO_NAME}() as '{sql_model_id(model)}'"
        )
        connection.execute("commit")
    except BaseException:
        connection.execute("rollback")
        raise
    finally:
        connection.unregister("abandonment_cells_in")
    return scorer


# ----------------------------------------------------------------------------- ecom score


def dbt_scoring_vars(model_id: str, scorer: str = SCORER_SQL) -> dict[str, Any]:
    """The contract and the model as the dbt var the scoring macros render from (no copy of
    either in dbt/)."""
    from pipeline.model.bqml import MODEL_ID as BQML_MODEL

    (group_feature,) = (f.name for f in CONTRACT if f.kind == "group")
    return {
        DBT_VAR: {
            "features": list(FEATURES),
            "group_feature": group_feature,
            "group_codes": dict(GROUP_CODES),
            "model_id": model_id,
            "scorer": scorer,
            "bqml_model": BQML_MODEL,
        }
    }


def install_bigquery_functions(settings: Settings, model: LoadedModel) -> None:
    """Create predict_abandonment() and its helpers in the gold dataset."""
    from google.api_core.exceptions import GoogleAPIError

    from pipeline.warehouse.bigquery import BigQueryWarehouse

    warehouse = BigQueryWarehouse(settings)
    dataset = f"{warehouse.project}.{settings.bq_gold_dataset}"
    for sql in (
        bigquery_function_sql(model, dataset),
        *bigquery_helper_functions_sql(model, dataset),
    ):
        try:
            warehouse.client.query(sql).result()
        except GoogleAPIError as err:
            raise WarehouseError(
                f"Installing {MACRO_NAME}() in {dataset} failed: {err}\nCheck that the dataset "
                "exists (`ecom warehouse`) and that you may create routines in it."
            ) from err


@dataclass(frozen=True)
class ScoringRun:
    model_id: str
    scorer: str
    build: BuildResult


def score_warehouse(
    settings: Settings,
    model_dir: Any = None,
    *,
    model_id: str | None = None,
    show_progress: bool = False,
) -> ScoringRun:
    """`ecom score`: install the model's SQL scorer on the configured engine, then build the
    dbt scoring model (gold.cart_session_scores) with it.

    The model is `model_dir`, else version `model_id` (else ECOM_MODEL_ID, else the current
    one). A model trained in BigQuery ML keeps ML.PREDICT on BigQuery; everything else scores
    through the compiled macro (DuckDB) or function (BigQuery)."""
    from pipeline.model.gold import require_cart_sessions
    from pipeline.serving.artifact import load_model
    from pipeline.serving.registry import resolve
    from pipeline.warehouse import connect
    from pipeline.warehouse.build import run_dbt
    from pipeline.warehouse.duckdb import DuckDBWarehouse

    # The warehouse before the model: without gold there is nothing to score either way.
    require_cart_sessions(settings, "scoring")
    model = load_model(model_dir or resolve(settings.models_dir, model_id or settings.model_id))
    scorer = SCORER_SQL
    if settings.warehouse == "duckdb":
        with DuckDBWarehouse(settings).connect() as connection:
            install_macros(connection, model)
    elif model.card.get("engine") == "bqml":
        scorer = SCORER_ML_PREDICT
    else:
        install_bigquery_functions(settings, model)
    # The scores table is incremental (one model's rows replaced per run); a table from before
    # model ids has no model_id to replace by, so it is rebuilt.
    existing = connect(settings).columns("gold", SCORES_MODEL)
    build = run_dbt(
        settings,
        "build",
        select=SCORES_MODEL,
        extra=("--full-refresh",) if existing is not None and "model_id" not in existing else (),
        extra_vars=dbt_scoring_vars(sql_model_id(model), scorer),
        show_progress=show_progress,
    )
    return ScoringRun(model.model_id, scorer, build)
