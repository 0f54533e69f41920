"""Every statement the project sends to BigQuery, through BigQuery's own analyzer (ZetaSQL).

- dbt's `bigquery` target: the SQL dbt-bigquery ran in the end-to-end build (target/run: the
  CREATE TABLE/VIEW DDL of each model, each data test, each unit test), in dependency order
  against a catalog that starts from pipeline/schema.py's bronze and grows by each model's
  resolved output;
- the Python-built queries: every template of sql/ as its Python caller renders it (readout,
  dashboard unfiltered and with every filter, training set, scoring reads, the model card's
  injected share, drift slices; a template no caller renders here fails the test), the bronze
  load script, the dry run's statements, and the BigQuery scoring function of the run's model;
- sql/bqml/ templates, where ZetaSQL knows the statement (see NOT_ANALYZABLE);
- and, as a net under all of that, every query job the end-to-end run sent to the emulator.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any
from unittest import mock

import jinja2
import pytest
from google.auth.credentials import AnonymousCredentials

from pipeline.abtest import results
from pipeline.abtest.queries import readout_queries, totals_sql
from pipeline.drift.data import MOMENT_VIEW, month_features_sql, months_sql
from pipeline.experiment.config import read_experiments
from pipeline.model import bqml
from pipeline.model.dataset import training_query
from pipeline.model.gold import contract_columns_sql, injected_share_sql
from pipeline.model.moment import bqml as moment_bqml
from pipeline.model.moment import data as moment_data
from pipeline.model.moment import scoring as moment_scoring
from pipeline.schema import BRONZE_SCHEMA, QUARANTINE_SCHEMA
from pipeline.settings import EXPERIMENTS_FILE, Settings
from pipeline.warehouse import count_matching_sql, replace_rows_sql
from pipeline.warehouse.bigquery import BigQueryWarehouse, bounds_sql, count_sql, swap_script
from pipeline.warehouse.build import SCORING_SELECTOR, dbt_paths, run_dbt
from pipeline.warehouse.dialect import BIGQUERY
from pipeline.warehouse.dry_run import inline_missing, ordered_nodes
from pipeline.warehouse.templates import render, template_names
from streamlit_app.data import experiments as dashboard_experiments
from streamlit_app.data import live as live_queries
from streamlit_app.data import queries as dashboard_queries
from streamlit_app.data import realized
from streamlit_app.data.filters import Filters
from tests.bigquery.cloud_run import FIRST_BUILD_RUN, CloudRun
from tests.bigquery.test_cloud_end_to_end import settings_of

pytestmark = pytest.mark.emulator

PROJECT = "ecom-growth-check"
# sql/bqml steps ZetaSQL cannot resolve, and why. They are parsed (syntax) instead.
NOT_ANALYZABLE = {
    "evaluate": "ML.EVALUATE is a BigQuery ML table function, not in ZetaSQL's open-source catalog",
    "predict": "ML.PREDICT is a BigQuery ML table function, not in ZetaSQL's open-source catalog",
    "explain_predict": "ML.EXPLAIN_PREDICT is a BigQuery ML table function, not in ZetaSQL's catalog",
    "global_explain": "ML.GLOBAL_EXPLAIN is a BigQuery ML table function, not in ZetaSQL's catalog",
}
STAGING = re.compile(r"_load_(events|quarantine|experiment_results)_[0-9a-f]{12}")
SINCE = "2019-10-30 23:30:00"
EXPERIMENTS = read_experiments(EXPERIMENTS_FILE).experiments


def base_catalog(zetasql: Any, settings: Settings) -> Any:
    """Bronze from the project's own contracts (pipeline/schema.py), and the table the readout
    creates through the API (pipeline.abtest.results), nothing else."""
    catalog = zetasql.Catalog(settings.gcp_project)
    catalog.add(
        (settings.gcp_project, settings.bq_gold_dataset, results.TABLE),
        zetasql.polars_columns(results.RESULTS_SCHEMA),
    )
    catalog.add(
        (settings.gcp_project, settings.bq_bronze_dataset, "events"),
        zetasql.polars_columns(BRONZE_SCHEMA),
    )
    catalog.add(
        (settings.gcp_project, settings.bq_bronze_dataset, "quarantine"),
        zetasql.polars_columns(QUARANTINE_SCHEMA),
    )
    return catalog


def add_staging_tables(zetasql: Any, catalog: Any, settings: Settings, sql: str) -> None:
    """The loads' staging tables are made through the API with their tables' schemas."""
    schemas = {
        "events": (settings.bq_bronze_dataset, BRONZE_SCHEMA),
        "quarantine": (settings.bq_bronze_dataset, QUARANTINE_SCHEMA),
        "experiment_results": (settings.bq_gold_dataset, results.RESULTS_SCHEMA),
    }
    for found in STAGING.finditer(sql):
        dataset, schema = schemas[found.group(1)]
        catalog.add((settings.gcp_project, dataset, found.group(0)), zetasql.polars_columns(schema))


# ---- dbt ---------------------------------------------------------------------------------------


def run_files(target: Path, folder: str = "run") -> dict[tuple[str, str], Path]:
    """target/<folder>'s files by (package, file stem): what dbt-bigquery executed, one per
    node (`run`: the last invocation's; FIRST_BUILD_RUN: the first, full build's)."""
    return {
        (path.relative_to(target / folder).parts[0], path.stem): path
        for path in (target / folder).rglob("*.sql")
    }


def run_sql(files: dict[tuple[str, str], Path], node: dict[str, Any]) -> str | None:
    """What dbt ran for a node (models: the DDL; tests: the failure count query), or None."""
    # A unit test's `path` is its model's yml (stem = the model's name): look it up by name.
    stems = (
        (node["name"],)
        if node["resource_type"] == "unit_test"
        else (Path(node.get("path") or "").stem, node["name"], node.get("alias"))
    )
    for stem in stems:
        if stem and (node["package_name"], stem) in files:
            return files[(node["package_name"], stem)].read_text()
    return None


def dbt_statements(settings: Settings) -> tuple[list[tuple[str, str]], list[str]]:
    """(label, sql) of every model, data test and unit test dbt ran, parents first: the first
    build's (full: CREATE TABLE ... AS), then the second's (incremental: each model's MERGE of
    its window's partitions, the data tests on the window; unit tests run in full builds only)."""
    target, _ = dbt_paths(settings)
    manifest = json.loads((target / "manifest.json").read_text())
    units = manifest.get("unit_tests", {})
    nodes = {
        uid: n
        for uid, n in {**manifest["nodes"], **units}.items()
        if n["resource_type"] in ("model", "test", "unit_test")
        and n["config"].get("materialized") != "ephemeral"  # compiled into its consumer
    }
    # The scoring model (tag `scoring`) and its tests are `ecom score`'s, not the build's.
    scoring = {uid for uid, n in nodes.items() if "scoring" in n.get("tags", [])}
    nodes = {
        uid: n
        for uid, n in nodes.items()
        if uid not in scoring and not scoring & set(n["depends_on"]["nodes"])
    }
    every = {**manifest["nodes"], **units}

    def parents(uid: str) -> set[str]:
        """The node's parents among `nodes`, through ephemeral models (compiled into it)."""
        found: set[str] = set()
        for d in every.get(uid, {}).get("depends_on", {}).get("nodes", []):
            found |= {d} if d in nodes else parents(d) if d in every else set()
        return found

    graph = {uid: sorted(parents(uid)) for uid in nodes}
    order = list(TopologicalSorter(graph).static_order())
    statements, missing = [], []
    for folder, build in ((FIRST_BUILD_RUN, "full build"), ("run", "incremental build")):
        files = run_files(target, folder)
        for uid in order:
            sql = run_sql(files, nodes[uid])
            if sql is not None:
                statements.append((f"{build}: {uid}", sql))
            elif folder == FIRST_BUILD_RUN or nodes[uid]["resource_type"] != "unit_test":
                missing.append(f"{build}: {uid}")
    return statements, missing


@pytest.fixture(scope="module")
def dbt_findings(zetasql: Any, cloud: CloudRun) -> tuple[list[Any], list[str], Settings]:
    settings = settings_of(cloud.cloud)
    statements, missing = dbt_statements(settings)
    catalog = base_catalog(zetasql, settings)
    return zetasql.check_statements(statements, catalog), missing, settings


def test_dbt_models_tests_and_ddl_pass_bigquerys_analyzer(dbt_findings) -> None:
    findings, missing, _ = dbt_findings
    kinds = {f.kind for f in findings}
    assert zetasql_failures(findings) == "", zetasql_failures(findings)
    # What was checked: every model's DDL, data tests and unit tests, none skipped.
    assert missing == [], missing
    assert {"ResolvedCreateTableAsSelectStmt", "ResolvedQueryStmt", "ResolvedMergeStmt"} <= kinds
    by_kind = {k: sum(f.kind == k for f in findings) for k in kinds}
    assert by_kind["ResolvedCreateTableAsSelectStmt"] >= 5  # silver + four gold tables
    # The incremental build: one MERGE per incremental model (stg_events, int_session_events,
    # fact_user_sessions, fct_cart_sessions, fct_cart_moments), rebuilding the window's days.
    merges = [f for f in findings if f.kind == "ResolvedMergeStmt"]
    assert len(merges) >= 5, [f.label for f in merges]
    assert all("when not matched by source" in f.sql.lower() for f in merges)
    assert by_kind["ResolvedQueryStmt"] >= 100  # data tests and unit tests
    print(f"dbt statements analyzed: {len(findings)} {by_kind}")


def test_the_catalog_grew_by_each_models_resolved_output(dbt_findings) -> None:
    """Gold read silver's resolved columns, not a hand-written schema: the analyzer typed them."""
    findings, _, settings = dbt_findings
    created = {f.creates[-1]: f for f in findings if f.creates}
    assert {
        "stg_events",
        "int_session_events",
        "fact_user_sessions",
        "fct_cart_moments",
        "dim_users",
        "fct_cart_sessions",
    } <= set(created)
    # dbt's bigquery__ variants are the text the Python dialect renders (the same macros).
    events = created["int_session_events"].sql
    assert f"{BIGQUERY.epoch_us('event_time')} as event_time_us" in events
    sessions = created["fact_user_sessions"].sql
    assert f"cast(count(*) as {BIGQUERY.bigint}) as event_count" in sessions
    stg = created["stg_events"]
    assert "partition by timestamp_trunc(event_time, day)" in stg.sql.lower()
    assert "cluster by" in stg.sql.lower()
    assert stg.creates[:2] == (settings.gcp_project, settings.bq_silver_dataset)


def zetasql_failures(findings) -> str:
    from tests.bigquery import zetasql_check

    return zetasql_check.describe(findings)


# ---- the Python side --------------------------------------------------------------------------


def python_statements(
    settings: Settings, manifest: dict[str, Any] | None, models_dir: Path | None = None
) -> list[tuple[str, str]]:
    wh = BigQueryWarehouse(settings)
    carts = wh.table("gold", "fct_cart_sessions")
    sessions = wh.table("gold", "fact_user_sessions")
    moments = wh.table("gold", "fct_cart_moments")
    staged = [
        ("events", wh.table_id("bronze", "_load_events_0123456789ab"), BRONZE_SCHEMA),
        ("quarantine", wh.table_id("bronze", "_load_quarantine_0123456789ab"), QUARANTINE_SCHEMA),
    ]
    bounds = (datetime(2019, 10, 1, tzinfo=UTC), datetime(2019, 10, 31, 23, 59, 59, tzinfo=UTC))
    results_table = wh.table("gold", results.TABLE)
    run = {"experiment_key": "checkout", "run_id": "20200229T235959Z-0123abcd"}
    results_staging = f"`{wh.table_id('gold', '_load_experiment_results_0123456789ab')}`"
    statements = [
        *(
            (f"readout {spec.key}: {name}", sql)
            for spec in EXPERIMENTS
            for name, sql in readout_queries(
                wh, spec.key, None, None, injected=spec.is_injected
            ).items()
        ),
        ("readout: group totals, winsorized", totals_sql(wh, 0.99)),
        ("readout: group totals, filtered", totals_sql(wh, None, "is_returning")),
        (
            "results: replace a run",
            replace_rows_sql(
                "bigquery", results_table, results_staging, results.RESULTS_SCHEMA, run
            ),
        ),
        ("results: count a run", count_matching_sql("bigquery", results_table, run)),
        ("results: shipped last quarter", results.shipped_last_quarter_sql(wh)),
        (
            "results: shipped last quarter, fixed day",
            results.shipped_last_quarter_sql(wh, date(2020, 1, 15)),
        ),
        ("dashboard: latest decisions", dashboard_experiments.latest_decisions_sql(wh)),
        ("training set", training_query(carts, settings.seed, "bigquery")),
        ("training set, window", training_query(carts, settings.seed, "bigquery", "2019-12")),
        ("scoring: contract columns", contract_columns_sql(carts)),
        ("model card: injected share", injected_share_sql(sessions, "bigquery", "2019-12")),
        ("drift: months", months_sql(carts, "bigquery")),
        ("drift: slice", month_features_sql(carts, "bigquery", ["2019-12", "2020-Jan"])),
        (
            "moment training set",
            moment_data.training_query(
                {"fct_cart_moments": moments, "fct_cart_sessions": carts}, settings, "bigquery"
            ),
        ),
        ("moment scoring: contract columns", moment_scoring.moment_columns_sql(moments)),
        (
            "drift: moment slice",
            month_features_sql(moments, "bigquery", ["2020-01"], MOMENT_VIEW),
        ),
        ("bronze load: old rows' time range", bounds_sql(wh, "2019-Oct.csv")),
        ("bronze load: swap script", swap_script(wh, "2019-Oct.csv", staged, bounds)),
        ("bronze load: first load", swap_script(wh, "2019-Oct.csv", staged, None)),
        ("bronze load: counts", count_sql(wh, "2019-Oct.csv")),
        (
            "incremental build: where the window starts",
            render("warehouse/rebuild_start.sql", BIGQUERY, table=sessions, since=SINCE),
        ),
    ]
    # The dashboard's page, unfiltered and with every kind of filter (streamlit_app.data).
    every_filter = Filters(
        start=date(2019, 11, 3),
        end=date(2020, 1, 20),
        months=("2019-11", "2019-12"),
        user_type="returning",
        price_bands=("under_2", "10_plus", "no_cart"),
    )
    for label, filters in (("dashboard", Filters()), ("dashboard, filtered", every_filter)):
        for spec in EXPERIMENTS:
            for name, sql in dashboard_queries.page_queries(wh, filters, spec).items():
                statements.append((f"{label} {spec.key}: {name}", sql))
    statements.append(("dashboard: bounds", dashboard_queries.bounds_sql(wh, "checkout")))
    # The Predictor's live mode: the sessions it offers and one session's events.
    statements.append(("live mode: sessions", live_queries.sessions_sql(wh)))
    statements.append(("live mode: events", live_queries.events_sql(wh, 512_475_445, 3)))
    # Monitoring's realized outcomes, every slicing (streamlit_app.data.realized).
    for name, sql in realized.realized_queries(
        wh, "abandonment-0123456789ab", "2020-01", {"medium": 0.5, "high": 0.8}
    ).items():
        statements.append((f"monitoring: realized {name}", sql))
    if models_dir is not None:
        # `create or replace function ... predict_abandonment(...)` of the run's model.
        from pipeline.model import sql_scoring
        from pipeline.serving.artifact import load_model
        from pipeline.serving.registry import resolve

        model = load_model(resolve(models_dir))
        statements.append(
            (
                "scoring: BigQuery function",
                sql_scoring.bigquery_function_sql(
                    model, f"{settings.gcp_project}.{settings.bq_gold_dataset}"
                ),
            )
        )
    if manifest is not None:  # the dry run's inlined statements (nothing built yet)
        nodes = manifest["nodes"]
        for node in ordered_nodes(manifest):
            sql, _ = inline_missing(node, nodes, lambda _: False)
            statements.append((f"dry run: {node['unique_id']}", sql))
    return statements


def gold_catalog(zetasql: Any, dbt_findings) -> Any:
    """Bronze plus every table dbt's DDL defined, typed by the analyzer."""
    findings, _, settings = dbt_findings
    catalog = base_catalog(zetasql, settings)
    # Re-run the models' DDL only (fast): the catalog then holds silver and gold as resolved.
    with zetasql.analyzer(catalog) as analyzer:
        for f in findings:
            if f.creates:
                analyzer.analyze(f.label, f.sql)
    return catalog, settings


# BigQuery's type names in a table's schema -> the analyzer catalog's.
BQ_TYPES = {"STRING": "STRING", "FLOAT": "FLOAT64", "FLOAT64": "FLOAT64", "INTEGER": "INT64",
            "INT64": "INT64", "TIMESTAMP": "TIMESTAMP", "BOOLEAN": "BOOL", "BOOL": "BOOL",
            "DATE": "DATE"}  # fmt: skip


def add_score_table(catalog: Any, settings: Settings, cloud: CloudRun) -> None:
    """gold.cart_session_scores as `ecom score` built it in the run (the scoring model's DDL
    needs the run's scoring function, so the dbt part leaves it out): typed from the table."""
    from google.cloud import bigquery

    client = bigquery.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": cloud.bigquery_endpoint},
    )
    table = client.get_table(BigQueryWarehouse(settings).table_id("gold", realized.SCORES))
    catalog.add(
        (settings.gcp_project, settings.bq_gold_dataset, realized.SCORES),
        {f.name: BQ_TYPES[f.field_type] for f in table.schema},
    )


def test_python_built_queries_pass_bigquerys_analyzer(
    zetasql: Any, dbt_findings, cloud: CloudRun
) -> None:
    catalog, settings = gold_catalog(zetasql, dbt_findings)
    add_score_table(catalog, settings, cloud)
    # The dry run's statements come from a whole-project compile. The dry-run tests leave one;
    # alone, after the run's last dbt call (`ecom score`'s, which compiles the scoring model
    # only), this test compiles the project itself.
    target, _ = dbt_paths(settings)
    manifest = json.loads((target / "manifest.json").read_text())
    if not all(
        n.get("compiled_code")
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and "scoring" not in n.get("tags", ())
    ):
        run_dbt(settings, "compile", exclude=SCORING_SELECTOR)
        manifest = json.loads((target / "manifest.json").read_text())
    with mock.patch.object(
        jinja2.Environment,
        "get_template",
        autospec=True,
        side_effect=jinja2.Environment.get_template,
    ) as loads:
        statements = python_statements(settings, manifest, cloud.cloud.data_dir / "models")
    rendered = {call.args[1] for call in loads.call_args_list}
    # Every query template reaches the analyzer (sql/bqml's in the test below).
    assert rendered == {n for n in template_names() if not n.startswith("bqml/")}, rendered
    for _, sql in statements:
        add_staging_tables(zetasql, catalog, settings, sql)
    findings = zetasql.check_statements(statements, catalog)
    assert zetasql_failures(findings) == "", zetasql_failures(findings)
    labels = {f.label.split(" #")[0] for f in findings}
    assert {
        "readout checkout: weekly",
        "readout checkout: carts",
        "readout aa-standing: sample_ratio",
        "training set",
        "bronze load: swap script",
        "results: replace a run",
        "results: shipped last quarter",
        "dashboard, filtered checkout: funnel",
        "dashboard, filtered aa-standing: bands",
        "dashboard: bounds",
        "monitoring: realized weeks",
        "monitoring: realized bins",
    } <= labels
    swap = [f.kind for f in findings if f.label.startswith("bronze load: swap script")]
    assert swap == [
        "ResolvedBeginStmt",
        "ResolvedDeleteStmt",
        "ResolvedInsertStmt",
        "ResolvedDeleteStmt",
        "ResolvedInsertStmt",
        "ResolvedCommitStmt",
    ]
    replace = [f.kind for f in findings if f.label.startswith("results: replace a run")]
    assert replace == [
        "ResolvedBeginStmt",
        "ResolvedDeleteStmt",
        "ResolvedInsertStmt",
        "ResolvedCommitStmt",
    ]


def test_bqml_templates_where_the_analyzer_knows_the_statement(zetasql: Any, dbt_findings) -> None:
    catalog, settings = gold_catalog(zetasql, dbt_findings)
    rendered = bqml.render_all(settings.model_copy(update={"gcs_bucket": "ecom-models"}))
    assert set(NOT_ANALYZABLE) < set(rendered)
    analyzable = [(step, sql) for step, sql in rendered.items() if step not in NOT_ANALYZABLE]
    findings = zetasql.check_statements(analyzable, catalog)
    by_step = {f.label: f for f in findings}
    # CREATE MODEL is resolved in full (its training query against gold's resolved columns).
    assert by_step["create_model"].error is None, by_step["create_model"].error
    assert by_step["create_model"].kind == "ResolvedCreateModelStmt"
    # EXPORT MODEL needs the model in the catalog, which CREATE MODEL does not register: parse.
    for step in ("export_model", *NOT_ANALYZABLE):
        assert zetasql.parse_only(rendered[step]) is None, step
    print(
        "not analyzed (parsed only): " + "; ".join(f"{k}: {v}" for k, v in NOT_ANALYZABLE.items())
    )


def test_the_moment_scorer_and_its_dbt_model_pass_bigquerys_analyzer(
    zetasql: Any, dbt_findings, tmp_path: Path
) -> None:
    """The moment family on BigQuery: the calibrated scoring function, the model-id function,
    then the dbt scoring model as dbt-bigquery compiles it (calling that function on gold's
    resolved fct_cart_moments), and the BigQuery ML templates of the same split."""
    from pipeline.serving.calibration import read_calibration
    from pipeline.serving.registry import load_version
    from tests.model.moment_rows import tiny_moment_model

    catalog, settings = gold_catalog(zetasql, dbt_findings)
    folder = tiny_moment_model(tmp_path / "moment")
    model = load_version(folder, "moment")
    dataset = f"{settings.gcp_project}.{settings.bq_gold_dataset}"
    run_dbt(
        settings,
        "compile",
        select=moment_scoring.SCORES_MODEL,
        extra_vars=moment_scoring.dbt_vars(model.model_id, read_rule_or_default(folder)),
    )
    target, _ = dbt_paths(settings)
    compiled = next((target / "compiled").rglob(f"{moment_scoring.SCORES_MODEL}.sql")).read_text()
    assert f"`{dataset}.{moment_scoring.MACRO_NAME}`(" in compiled
    statements = [
        (
            "moment scoring: function",
            moment_scoring.bigquery_function_sql(model, read_calibration(folder), dataset),
        ),
        ("moment scoring: model id", moment_scoring.bigquery_model_id_sql(model, dataset)),
        ("moment scoring: dbt model", compiled),
    ]
    rendered = moment_bqml.render_all(settings)
    statements.append(("bqml: moment_create_model", rendered["moment_create_model"]))
    findings = zetasql.check_statements(statements, catalog)
    assert zetasql_failures(findings) == "", zetasql_failures(findings)
    kinds = {f.label.split(" #")[0]: f.kind for f in findings}
    assert kinds["moment scoring: function"] == "ResolvedCreateFunctionStmt"
    assert kinds["moment scoring: dbt model"] == "ResolvedQueryStmt"
    assert kinds["bqml: moment_create_model"] == "ResolvedCreateModelStmt"
    # The calibration, evaluation and prediction steps call ML.PREDICT / ML.EVALUATE, which
    # ZetaSQL's open-source catalog lacks: parsed only.
    for step in ("moment_calibrate", "moment_evaluate", "moment_predict"):
        assert zetasql.parse_only(rendered[step]) is None, step


def read_rule_or_default(folder: Path):
    from pipeline.serving.decision import DecisionRule, read_rule

    return read_rule(folder) or DecisionRule()


# ---- the net: whatever the end-to-end run actually sent -------------------------------------


def test_every_query_the_end_to_end_run_sent_passes(zetasql: Any, cloud: CloudRun) -> None:
    from google.cloud import bigquery

    settings = settings_of(cloud.cloud)
    client = bigquery.Client(
        project=settings.gcp_project,
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": cloud.bigquery_endpoint},
    )
    # Only the end-to-end run's jobs: later ones are other tests' (the error tests' deliberate
    # query of a missing dataset, the dry runs).
    jobs = sorted(
        (
            j
            for j in client.list_jobs(max_results=100_000)
            if j.job_type == "query" and j.created <= cloud.finished_at
        ),
        key=lambda j: j.created,
    )
    statements = list(dict.fromkeys(j.query for j in jobs))
    assert len(statements) > 100  # dbt's nodes plus the readout, training and load queries
    catalog = base_catalog(zetasql, settings)
    for sql in statements:
        add_staging_tables(zetasql, catalog, settings, sql)
    findings = zetasql.check_statements(
        [(f"job {n}", sql) for n, sql in enumerate(statements, 1)], catalog
    )
    assert zetasql_failures(findings) == "", zetasql_failures(findings)
