"""The same dbt project on BigQuery (the emulator) and on DuckDB gives the same gold tables.

One seeded bronze input holds the cases where engines tend to differ: a gap of exactly the
session timeout and one second more, sessions across a month boundary, exact duplicates,
unknown and missing sessions, injected purchases, zero and negative prices, 19-digit ids.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import duckdb
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.experiment import TREATMENT, assign_group
from pipeline.schema import BRONZE_SCHEMA
from pipeline.sessions import SESSION_TIMEOUT_MINUTES
from pipeline.settings import REPO_ROOT, Settings
from pipeline.warehouse import connect
from pipeline.warehouse.bigquery import BigQueryWarehouse
from pipeline.warehouse.build import SCORING_SELECTOR, run_dbt
from tests.oracles.polars_sessions import DEDUP_KEY
from tests.warehouse.bq_emulator import EMULATOR_PROJECT, bq_emulator  # noqa: F401  (fixture)

pytestmark = pytest.mark.emulator

GOLD_TABLES = (
    "fact_user_sessions",
    "dim_users",
    "fct_cart_sessions",
    "fct_cart_moments",
    "fct_experiment_users",
)
# An experiment start inside the seeded data, so the pre-period split runs on both engines.
EXPERIMENT_START = dt.date(2019, 11, 15)
TIMEOUT = dt.timedelta(minutes=SESSION_TIMEOUT_MINUTES)
# Gaps between a user's consecutive events: inside a session, exactly the timeout (same
# session), one second over it (new session), hours and days (new session).
GAPS = (
    dt.timedelta(seconds=40),
    dt.timedelta(minutes=4),
    TIMEOUT,
    TIMEOUT + dt.timedelta(seconds=1),
    dt.timedelta(hours=5),
    dt.timedelta(days=9),
)
GAP_WEIGHTS = (0.35, 0.3, 0.1, 0.1, 0.1, 0.05)
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
EVENT_WEIGHTS = (0.55, 0.25, 0.08, 0.12)


def seeded_bronze(seed: int = 7, users: int = 40) -> pl.DataFrame:
    """About 900 bronze events in three months, with the dirt silver must handle."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, object]] = []
    start = dt.datetime(2019, 10, 28, tzinfo=dt.UTC)
    user_ids = 10_000_000 + rng.choice(590_000_000, size=users, replace=False)
    for user_id in (int(u) for u in user_ids):
        group = assign_group(user_id)
        at = start + dt.timedelta(seconds=int(rng.integers(0, 40 * 86_400)))
        for n in range(int(rng.integers(5, 40))):
            if n:
                at += GAPS[rng.choice(len(GAPS), p=GAP_WEIGHTS)]
            original = EVENT_TYPES[rng.choice(4, p=EVENT_WEIGHTS)]
            injected = original == "cart" and group == TREATMENT and rng.random() < 0.2
            session = rng.choice(["s", "unknown", "", None], p=[0.93, 0.03, 0.02, 0.02])
            rows.append(
                {
                    "event_time": at,
                    "event_type": "purchase" if injected else original,
                    "product_id": int(rng.integers(3_700_000, 5_900_000)),
                    "category_id": 1_487_580_005_092_295_511 + int(rng.integers(0, 50)),
                    "category_code": rng.choice(["appliances.environment.vacuum", "", None]),
                    "brand": rng.choice(["runail", "irisk", " grattol ", "", None]),
                    "price": float(rng.choice([0.0, -1.9, round(float(rng.gamma(2, 6)), 2)])),
                    "user_id": user_id,
                    "user_session": f"{session}-{user_id}" if session == "s" else session,
                    "experiment_group": group,
                    "original_event_type": original,
                    "is_injected": injected,
                    "source_file": f"{at:%Y-%b}.csv",
                    "source_line": len(rows) + 2,
                    "ingested_at": dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC),
                }
            )
            if rng.random() < 0.05:  # an exact duplicate line, as the real files have
                rows.append({**rows[-1], "source_line": len(rows) + 2})
            if injected and rng.random() < 0.5:  # a real purchase colliding with the injected one
                rows.append(
                    {
                        **rows[-1],
                        "original_event_type": "purchase",
                        "is_injected": False,
                        "source_line": len(rows) + 2,
                    }
                )
    return pl.DataFrame(rows, schema=BRONZE_SCHEMA)


def load_duckdb_bronze(settings: Settings, events: pl.DataFrame) -> None:
    """Bronze on DuckDB exactly as ingestion leaves it: table bronze.events."""
    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.warehouse_path)) as con:
        con.execute("create schema if not exists bronze")
        con.register("events_frame", events)
        con.execute("create or replace table bronze.events as select * from events_frame")


def gold_frame(settings: Settings, name: str) -> pl.DataFrame:
    """A gold table through the warehouse interface, in a canonical row and column order."""
    wh = connect(settings)
    frame = wh.query(f"select * from {wh.table('gold', name)}")
    # Same instant, different labels: DuckDB says "Etc/UTC", BigQuery "UTC".
    frame = frame.select(sorted(frame.columns)).with_columns(
        pl.col(pl.Datetime).dt.convert_time_zone("UTC")
    )
    keys = [c for c, t in frame.schema.items() if not t.is_float()]
    return frame.sort(keys, nulls_last=True)


@pytest.fixture(scope="module")
def both_builds(
    tmp_path_factory: pytest.TempPathFactory,
    bq_emulator: str,  # noqa: F811
) -> Iterator[tuple[Settings, Settings, dict[str, float]]]:
    events = seeded_bronze()
    root = tmp_path_factory.mktemp("equality")
    timings: dict[str, float] = {}

    # Explicit engines and names: whatever ECOM_* the shell exports must not leak in.
    local = Settings(
        data_dir=root / "duckdb",
        warehouse="duckdb",
        duckdb_path=None,
        experiment_start=EXPERIMENT_START,
    )
    t0 = time.perf_counter()
    load_duckdb_bronze(local, events)
    # The reference needs only the models: the DuckDB `dbt build` with its data and unit tests
    # is covered in tests/warehouse/test_build.py; skipping them here keeps this module quick.
    run_dbt(local, "run", exclude=SCORING_SELECTOR)
    timings["duckdb"] = time.perf_counter() - t0

    bigquery = Settings(
        data_dir=root / "bigquery",
        warehouse="bigquery",
        gcp_project=EMULATOR_PROJECT,
        bq_api_endpoint=bq_emulator,
        bq_location="US",
        bq_bronze_dataset="eq_bronze",
        bq_silver_dataset="eq_silver",
        bq_gold_dataset="eq_gold",
        experiment_start=EXPERIMENT_START,
    )
    t0 = time.perf_counter()
    wh = BigQueryWarehouse(bigquery)
    for (source_file,), part in events.group_by("source_file"):
        wh.load_bronze(source_file, [part])
    timings["bigquery_load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # The models only: the whole `dbt build` on BigQuery (data and unit tests too) is
    # tests/bigquery/test_cloud_end_to_end.py's `ecom warehouse`; each test is a query job.
    result = run_dbt(bigquery, "run", exclude=SCORING_SELECTOR)
    timings["bigquery_build"] = time.perf_counter() - t0
    assert result.target == "bigquery"
    # Every model of the project but scoring's (tagged so: it needs a trained model's SQL).
    models_dir = REPO_ROOT / "dbt" / "models"
    # int_session_boundaries is ephemeral: compiled into int_session_events, never built.
    models = (
        {p.stem for p in models_dir.rglob("*.sql")}
        - {p.stem for p in (models_dir / "scoring").rglob("*.sql")}
        - {"int_session_boundaries"}
    )
    assert result.count("model") == len(models), models
    yield local, bigquery, timings
    print(f"build timings (s): {timings}")


def test_input_exercises_the_edge_cases() -> None:
    """Guards the test's own input: if it lost its edge cases the equality would prove less."""
    events = seeded_bronze()
    gaps = (
        events.filter(pl.col("user_session").is_not_null())
        .sort("user_id", "event_time")
        .select(pl.col("event_time").diff().over("user_id").alias("gap"))
        .to_series()
    )
    assert (gaps == TIMEOUT).sum() > 5
    assert (gaps == TIMEOUT + dt.timedelta(seconds=1)).sum() > 5
    assert events.filter(pl.col("is_injected")).height > 3
    assert events.height - events.drop("source_line").unique().height > 10
    assert events.select(pl.col("event_time").dt.month().n_unique()).item() >= 3
    assert events.filter(pl.col("user_session") == "unknown").height > 3


def test_every_gold_table_equals_duckdb_build(
    both_builds: tuple[Settings, Settings, dict[str, float]],
) -> None:
    """Every table of the DuckDB gold schema, whoever added it (readout, scoring, ...)."""
    local, bigquery, _ = both_builds
    names = (
        connect(local)
        .query("select table_name from information_schema.tables where table_schema = 'gold'")[
            "table_name"
        ]
        .to_list()
    )
    assert set(GOLD_TABLES) <= set(names)
    for name in sorted(names):
        expected = gold_frame(local, name)
        got = gold_frame(bigquery, name)
        assert expected.height > 0, f"{name} is empty on DuckDB: the comparison would prove nothing"
        assert got.columns == expected.columns, name
        assert_frame_equal(got, expected, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def test_sessions_split_exactly_at_the_timeout(
    both_builds: tuple[Settings, Settings, dict[str, float]],
) -> None:
    """On BigQuery too, a gap of exactly the timeout stays in the session, one second more splits."""
    _, bigquery, _ = both_builds
    wh = connect(bigquery)
    sessions = wh.query(
        f"select user_id, session_start, session_end, event_count "
        f"from {wh.table('gold', 'fact_user_sessions')}"
    )
    events = seeded_bronze().filter(
        pl.col("user_session").is_not_null() & ~pl.col("user_session").is_in(["", "unknown"])
    )
    # Independent count: new sessions are the gaps over the timeout, plus each user's first.
    distinct = events.unique(list(DEDUP_KEY)).sort("user_id", "event_time")
    gaps = distinct.select(pl.col("event_time").diff().over("user_id").alias("gap"))["gap"]
    expected_sessions = gaps.is_null().sum() + (gaps > TIMEOUT).sum()
    assert sessions.height == expected_sessions
    assert sessions["event_count"].sum() == distinct.height
    longest = (sessions["session_end"] - sessions["session_start"]).max()
    assert longest is not None and longest >= TIMEOUT


def test_readout_queries_give_the_same_statistics_on_both_engines(
    both_builds: tuple[Settings, Settings, dict[str, float]],
) -> None:
    """pipeline/abtest/queries.py is engine-neutral: the emulator's answers equal DuckDB's."""
    from pipeline.abtest import ReadoutConfig, compute_readout
    from pipeline.experiment.config import load_experiments

    local, bigquery, _ = both_builds
    config = ReadoutConfig(winsorize_at=0.9)
    checkout = load_experiments(local).get("checkout")
    expected = compute_readout(connect(local), config, checkout, where="entry_week >= 0")
    got = compute_readout(connect(bigquery), config, checkout, where="entry_week >= 0")
    assert expected.experiment.start == got.experiment.start == EXPERIMENT_START.isoformat()
    assert got.experiment.end == expected.experiment.end
    for population in ("primary", "all_users"):
        ours, theirs = getattr(got, population), getattr(expected, population)
        assert ours.conversion.control == theirs.conversion.control
        assert ours.conversion.treatment == theirs.conversion.treatment
    assert got.revenue_cap == pytest.approx(expected.revenue_cap)
    assert got.revenue.treatment_mean == pytest.approx(expected.revenue.treatment_mean)
    assert got.cuped.theta == pytest.approx(expected.cuped.theta)
    assert [k.control for k in got.sequential.looks] == [
        k.control for k in expected.sequential.looks
    ]
    assert [(s.dimension, s.segment) for s in got.segments] == [
        (s.dimension, s.segment) for s in expected.segments
    ]
    # The checks below the whole population and the injected truth's cart histogram too.
    assert [c.result.observed for c in got.srm_by_day.checks] == [
        c.result.observed for c in expected.srm_by_day.checks
    ]
    assert got.truth.absolute == pytest.approx(expected.truth.absolute, rel=1e-12)
    assert got.balance.tests[1].p_value == pytest.approx(expected.balance.tests[1].p_value)
    # The standing A/A, assigned by each engine's SQL from its salt: the same users.
    aa = load_experiments(local).get("aa-standing")
    duck, bq = (compute_readout(connect(s), config, aa) for s in (local, bigquery))
    assert duck.all_users.srm.observed == bq.all_users.srm.observed
    assert duck.primary.conversion.treatment == bq.primary.conversion.treatment
