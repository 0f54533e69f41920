"""The assignment and injection rules agree across Python, Polars and SQL, and behave as designed."""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline import experiment as ex


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    n = 20_000
    seconds = rng.integers(0, 86_400 * 30, n)
    times = [
        f"2019-10-{1 + s // 86_400:02d} {s % 86_400 // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d} UTC"
        for s in seconds
    ]
    return pl.DataFrame(
        {
            "event_time": times,
            "user_id": rng.integers(100_000_000, 999_999_999, n),
            "product_id": rng.integers(3_000, 6_000_000, n),
            "user_session": [None if i % 97 == 0 else f"s-{i % 5000}" for i in range(n)],
            "event_type": rng.choice(["view", "cart", "remove_from_cart", "purchase"], n),
        }
    )


def test_assign_group_is_md5_parity() -> None:
    for user_id in (576802932, 412120092, 1, 2, 3, 10**12):
        value = int(hashlib.md5(str(user_id).encode()).hexdigest(), 16)
        assert ex.assign_group(user_id) == (ex.TREATMENT if value % 2 else ex.CONTROL)


def test_group_expr_matches_python(events: pl.DataFrame) -> None:
    got = events.lazy().select(ex.group_expr(pl.col("user_id"))).collect(engine="streaming")
    assert got.to_series().to_list() == [ex.assign_group(u) for u in events["user_id"]]


def test_group_rule_in_duckdb_sql_matches_python(events: pl.DataFrame) -> None:
    """The warehouse re-checks assignment with the last hex digit (md5_number's parity differs)."""
    sql = """
        select user_id,
               case when right(md5(cast(user_id as varchar)), 1) in ('1','3','5','7','9','b','d','f')
                    then 'treatment' else 'control' end as grp
        from events
    """
    got = duckdb.sql(sql).pl()
    assert got["grp"].to_list() == [ex.assign_group(u) for u in got["user_id"]]


def test_groups_are_balanced(events: pl.DataFrame) -> None:
    n_treat = sum(ex.assign_group(u) == ex.TREATMENT for u in events["user_id"].unique())
    n = events["user_id"].n_unique()
    assert stats.binomtest(n_treat, n, 0.5).pvalue > 0.001


def test_injection_expr_matches_python(events: pl.DataFrame) -> None:
    frame = events.with_columns(group=ex.group_expr(pl.col("user_id")))
    got = frame.select(ex.is_injected_expr(pl.col("event_type"), pl.col("group"))).to_series()
    want = [
        ex.is_injected(
            r["event_type"],
            r["group"],
            r["event_time"],
            r["user_id"],
            r["product_id"],
            r["user_session"],
        )
        for r in frame.iter_rows(named=True)
    ]
    assert got.to_list() == want


def test_injection_rate_and_independence_from_order(events: pl.DataFrame) -> None:
    draws = events.select(ex.injection_draw_expr()).to_series()
    # Uniform on [0, 1): Kolmogorov-Smirnov against U(0, 1) on 20k draws.
    assert stats.kstest(draws.to_numpy(), "uniform").pvalue > 0.001
    assert abs(float((draws < ex.UPLIFT_RATE).mean()) - ex.UPLIFT_RATE) < 0.01
    shuffled = events.with_row_index().sample(fraction=1.0, shuffle=True, seed=3)
    redrawn = shuffled.with_columns(d=ex.injection_draw_expr()).sort("index")["d"]
    assert redrawn.to_list() == draws.to_list()


def test_only_treatment_carts_are_injected(events: pl.DataFrame) -> None:
    frame = events.with_columns(
        group=ex.group_expr(pl.col("user_id")),
        inj=ex.is_injected_expr(pl.col("event_type"), ex.group_expr(pl.col("user_id"))),
    )
    injected = frame.filter(pl.col("inj"))
    assert injected.height > 0
    assert set(injected["event_type"]) == {"cart"}
    assert set(injected["group"]) == {ex.TREATMENT}
