"""One real dbt build on a small bronze, checked against an independent Polars computation."""

from __future__ import annotations

import json

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.experiment import assign_group
from pipeline.sessions import SESSION_TIMEOUT_MINUTES
from pipeline.warehouse import connect
from pipeline.warehouse.build import generate_docs
from tests.oracles.polars_sessions import session_id_expr, sessionize, silver_events
from tests.warehouse.dbt_sample import Built

MODELS = {
    "stg_events",
    "int_session_events",
    "fact_user_sessions",
    "fct_cart_moments",
    "dim_users",
    "fct_cart_sessions",
    "fct_experiment_users",
}


def gold(built: Built, sql: str) -> pl.DataFrame:
    """A query through the warehouse interface, instants labelled 'UTC' whatever the session
    time zone of the reading connection calls it ('Etc/UTC' on many machines)."""
    frame = connect(built.settings).query(sql)
    return frame.with_columns(pl.col(pl.Datetime("us", "*")).dt.convert_time_zone("UTC"))


@pytest.fixture(scope="module")
def silver_expected(built: Built) -> pl.DataFrame:
    """Silver as the documented rule says (the shared Polars reference implementation)."""
    return silver_events(built.bronze.lazy(), keep="first").collect()


@pytest.fixture(scope="module")
def sessions_expected(silver_expected: pl.DataFrame) -> pl.DataFrame:
    """Sessionization computed independently in Polars, with the session id's formula."""
    return (
        sessionize(silver_expected.lazy())
        .with_columns(session_id=session_id_expr())
        .sort("user_id", "session_number")
        .collect()
    )


def test_build_runs_every_model_data_test_and_unit_test(built: Built) -> None:
    statuses = {node.status for node in built.result.nodes}
    assert statuses <= {"success", "pass"}, statuses
    models = {n.unique_id.split(".")[-1] for n in built.result.nodes if n.resource_type == "model"}
    assert models == MODELS  # the scoring model is excluded by default
    assert built.result.count("unit_test") >= 8
    assert built.result.count("test") >= 60


def test_layers_land_in_silver_and_gold_schemas(built: Built) -> None:
    tables = gold(
        built,
        "select table_schema, table_name, table_type from information_schema.tables "
        "where table_schema in ('silver', 'gold') order by all",
    )
    assert tables.rows() == [
        ("gold", "dim_users", "BASE TABLE"),
        ("gold", "fact_user_sessions", "BASE TABLE"),
        ("gold", "fct_cart_moments", "BASE TABLE"),
        ("gold", "fct_cart_sessions", "BASE TABLE"),
        ("gold", "fct_experiment_users", "BASE TABLE"),
        ("silver", "int_session_events", "BASE TABLE"),
        ("silver", "stg_events", "VIEW"),
    ]


def test_silver_drops_sessionless_rows_and_exact_duplicates(
    built: Built, silver_expected: pl.DataFrame
) -> None:
    silver = gold(built, "select * from silver.stg_events")
    sessionless = built.bronze["user_session"].null_count()
    duplicates = built.bronze.height - sessionless - silver_expected.height
    assert sessionless > 0 and duplicates > 0  # the sample exercises both rules
    assert silver.height == silver_expected.height
    assert silver["user_session"].null_count() == 0
    assert_frame_equal(
        silver.select("source_line").sort("source_line"),
        silver_expected.select("source_line").sort("source_line"),
    )
    assert silver.schema["event_time"] == pl.Datetime("us", "UTC")
    assert (silver["event_date"] == silver["event_time"].dt.date()).all()


def test_an_injected_purchase_and_a_real_one_at_the_same_instant_both_stay(built: Built) -> None:
    """The collision case: the injected purchase (a raw cart) and the organic purchase share
    time, product, user, session, price and, after the injection, event_type. Both are events:
    silver keeps both and the session counts two purchases, one of them injected."""
    same_event = ["event_time", "event_type", "product_id", "user_id", "user_session", "price"]
    collisions = (
        built.bronze.filter(
            pl.col("event_type") == "purchase", pl.col("user_session").is_not_null()
        )
        .group_by(same_event)
        .agg(raw_types=pl.col("original_event_type").unique().sort())
        .filter(pl.col("raw_types").list.len() == 2)
    )
    assert collisions.height >= 3  # the sample holds the case (dbt_sample.organic_twins)
    silver = gold(
        built,
        "select user_id, product_id, event_time, original_event_type, is_injected "
        "from silver.stg_events where event_type = 'purchase'",
    )
    kept = collisions.select("user_id", "product_id", "event_time").join(
        silver, on=["user_id", "product_id", "event_time"]
    )
    # Each collision keeps exactly its two raw events: one injected cart, one real purchase.
    per_collision = kept.group_by("user_id", "product_id", "event_time").agg(
        n=pl.len(), injected=pl.col("is_injected").sum(), types=pl.col("original_event_type").sort()
    )
    assert per_collision.height == collisions.height
    assert per_collision["n"].to_list() == [2] * collisions.height
    assert per_collision["injected"].to_list() == [1] * collisions.height
    assert per_collision["types"].to_list() == [["cart", "purchase"]] * collisions.height
    # The old key (event_type after injection) would have kept one row per collision.
    old_key = built.bronze.filter(pl.col("user_session").is_not_null()).unique(same_event)
    new_key = built.bronze.filter(pl.col("user_session").is_not_null()).unique(
        ["event_time", "original_event_type", "product_id", "user_id", "user_session", "price"]
    )
    assert new_key.height - old_key.height == collisions.height


def test_sessions_equal_an_independent_polars_sessionization(
    built: Built, sessions_expected: pl.DataFrame
) -> None:
    actual = gold(
        built,
        "select * exclude (session_month, session_duration_minutes, first_purchase_at) "
        "from gold.fact_user_sessions order by user_id, session_number",
    )
    assert actual.height == sessions_expected.height
    assert_frame_equal(
        actual, sessions_expected.select(actual.columns), check_dtypes=False, abs_tol=1e-9
    )
    # The sample has gaps of exactly the timeout and of one second more: both sides of the rule.
    gaps = (
        built.bronze.sort("user_id", "event_time")
        .select(pl.col("event_time").diff().over("user_id").dt.total_seconds())
        .to_series()
    )
    assert (gaps == SESSION_TIMEOUT_MINUTES * 60).sum() > 0
    assert (gaps == SESSION_TIMEOUT_MINUTES * 60 + 1).sum() > 0


def test_session_columns_types_and_derived_values(built: Built) -> None:
    sessions = gold(built, "select * from gold.fact_user_sessions")
    assert sessions["session_id"].n_unique() == sessions.height
    for column in (
        "total_views",
        "total_carts",
        "total_purchases",
        "event_count",
        "session_number",
    ):
        assert sessions.schema[column] == pl.Int64, column
    assert sessions.schema["session_duration_minutes"] == pl.Float64
    minutes = (sessions["session_end"] - sessions["session_start"]).dt.total_microseconds() / 6e7
    assert (sessions["session_duration_minutes"] - minutes).abs().max() < 1e-9
    assert (sessions["session_month"] == sessions["session_start"].dt.strftime("%Y-%m")).all()


def test_users_and_experiment_groups(built: Built, silver_expected: pl.DataFrame) -> None:
    users = gold(built, "select * from gold.dim_users order by user_id")
    assert users.height == silver_expected["user_id"].n_unique()
    expected_groups = [assign_group(u) for u in users["user_id"]]
    assert users["experiment_group"].to_list() == expected_groups
    buyers = silver_expected.filter(pl.col("event_type") == "purchase")
    assert users["converted"].sum() == buyers["user_id"].n_unique()
    organic = buyers.filter(pl.col("original_event_type") == "purchase")["user_id"].n_unique()
    assert users["converted_without_injection"].sum() == organic
    last_day = silver_expected["event_time"].max().date()
    expected_recency = [(last_day - t.date()).days for t in users["last_seen_at"]]
    assert users["days_since_last_session"].to_list() == expected_recency
    assert users["days_since_last_session"].min() == 0


def test_cart_sessions_are_the_training_set(built: Built, sessions_expected: pl.DataFrame) -> None:
    carts = gold(built, "select * from gold.fct_cart_sessions")
    expected = sessions_expected.filter(pl.col("total_carts") >= 1)
    assert carts.height == expected.height
    assert set(carts["session_id"]) == set(expected["session_id"])
    assert carts["abandoned_cart"].sum() == (expected["total_purchases"] == 0).sum()


def test_a_cart_the_new_checkout_converted_still_makes_a_cart_session(
    built: Built, silver_expected: pl.DataFrame
) -> None:
    """Treatment sessions whose only carts were injected purchases stay in the training set,
    labelled converted: counting carts after the injection would drop exactly those."""
    sessions = gold(
        built,
        "select session_id, experiment_group, total_carts, total_injected_purchases "
        "from gold.fact_user_sessions",
    )
    injected_only = sessions.filter(
        (pl.col("total_injected_purchases") >= 1)
        & (pl.col("total_carts") == pl.col("total_injected_purchases"))
    )
    assert injected_only.height > 0  # the sample holds such sessions
    assert (injected_only["experiment_group"] == "treatment").all()
    carts = gold(built, "select session_id, abandoned_cart from gold.fct_cart_sessions")
    labelled = injected_only.join(carts, on="session_id", how="left")
    assert labelled["abandoned_cart"].to_list() == [False] * injected_only.height
    # Every raw cart event is counted once, injected or not.
    assert sessions["total_carts"].sum() == (silver_expected["original_event_type"] == "cart").sum()


def test_docs_generate_writes_the_catalog_with_descriptions(built: Built) -> None:
    target = generate_docs(built.settings)
    assert (target / "index.html").exists()
    catalog = json.loads((target / "catalog.json").read_text())
    manifest = json.loads((target / "manifest.json").read_text())
    node = "model.ecom_growth.fact_user_sessions"
    assert "session_duration_minutes" in {c.lower() for c in catalog["nodes"][node]["columns"]}
    documented = manifest["nodes"][node]
    assert "one row per session" in documented["description"].lower()
    assert documented["columns"]["session_id"]["description"]
