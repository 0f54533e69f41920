"""Generated statistics against the STARRED rows of reference/statistics.md.

Measured with DuckDB SQL (an implementation independent of the generator's Polars code) at
STATS_SCALE; counts are the full-scale figures times the scale. Tolerances are stated per check.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from pipeline.generate import calibration as cal
from pipeline.settings import MONTHS
from tests.generate.conftest import STATS_SCALE

S = STATS_SCALE


@pytest.fixture(scope="module")
def events(stats_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    files = [str(stats_dir / f"{m}.csv") for m in MONTHS]
    con.execute(
        f"""
        create table raw as
        select * from read_csv({files}, header = true, all_varchar = true, filename = true,
                               ignore_errors = true, null_padding = false)
        """
    )
    con.execute(
        """
        create table events as
        select
            regexp_extract(filename, '(\\d{4}-\\w{3})\\.csv$', 1) as month,
            strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as event_time,
            event_type, cast(product_id as bigint) as product_id, category_code, brand,
            cast(price as double) as price, cast(user_id as bigint) as user_id, user_session
        from raw
        where try_strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') is not null
          and event_type in ('view', 'cart', 'remove_from_cart', 'purchase')
          and try_cast(price as double) is not null
          and try_cast(user_id as bigint) is not null
        """
    )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    return con.execute(sql).fetchone()[0]


def test_rows_per_month_are_proportional(events: duckdb.DuckDBPyConnection) -> None:
    """±2% of the real count times the scale (malformed lines are left out here)."""
    got = dict(events.execute("select month, count(*) from events group by month").fetchall())
    for month in MONTHS:
        assert got[month] == pytest.approx(cal.MONTH_ROWS[month] * S, rel=0.02)


def test_users_sessions_and_products(events: duckdb.DuckDBPyConnection) -> None:
    """Users and sessions ±3%; products between 85% and 100% of 54,571 × sqrt(scale)."""
    users = one(events, "select count(distinct user_id) from events")
    sessions = one(events, "select count(distinct user_session) from events")
    products = one(events, "select count(distinct product_id) from events")
    assert users == pytest.approx(cal.TOTAL_USERS * S, rel=0.03)
    assert sessions == pytest.approx(cal.TOTAL_SESSIONS * S, rel=0.03)
    assert 0.85 * cal.TOTAL_PRODUCTS * S**0.5 <= products <= cal.TOTAL_PRODUCTS * S**0.5


def test_monthly_users_and_sessions(events: duckdb.DuckDBPyConnection) -> None:
    """Each month's distinct users and sessions within ±5% (and per-event ratios ±10%)."""
    rows = events.execute(
        """
        select month, count(distinct user_id), count(distinct user_session), count(*)
        from events group by month
        """
    ).fetchall()
    for month, users, sessions, n in rows:
        assert users == pytest.approx(cal.MONTH_USERS[month] * S, rel=0.05), month
        assert sessions == pytest.approx(cal.MONTH_SESSIONS[month] * S, rel=0.05), month
        real_rows = cal.MONTH_ROWS[month]
        assert users / n == pytest.approx(cal.MONTH_USERS[month] / real_rows, rel=0.10)
        assert sessions / n == pytest.approx(cal.MONTH_SESSIONS[month] / real_rows, rel=0.10)


def test_event_mix(events: duckdb.DuckDBPyConnection) -> None:
    """Each type's share within ±1.5 percentage points."""
    mix = dict(
        events.execute(
            "select event_type, count(*) / sum(count(*)) over () from events group by 1"
        ).fetchall()
    )
    for etype, share in cal.EVENT_MIX.items():
        assert mix[etype] == pytest.approx(share, abs=0.015), etype


def test_null_shares(events: duckdb.DuckDBPyConnection) -> None:
    """Null brand ±2 pp, null category_code ±0.5 pp, null user_session rows ±15%."""
    brand, code, session = events.execute(
        """
        select avg((brand is null)::int), avg((category_code is null)::int),
               count(*) filter (where user_session is null)
        from events
        """
    ).fetchone()
    assert brand == pytest.approx(cal.NULL_BRAND_SHARE, abs=0.02)
    assert code == pytest.approx(cal.NULL_CATEGORY_CODE_SHARE, abs=0.005)
    assert session == pytest.approx(cal.NULL_SESSION_ROWS * S, rel=0.15)


def test_buyer_share(events: duckdb.DuckDBPyConnection) -> None:
    """Users with at least one purchase: 6.74% ±1 pp."""
    share = one(
        events,
        """
        select avg(bought::int) from (
            select user_id, bool_or(event_type = 'purchase') as bought from events group by 1
        )
        """,
    )
    assert share == pytest.approx(cal.BUYER_SHARE, abs=0.01)


def test_the_real_dirt_is_there(events: duckdb.DuckDBPyConnection) -> None:
    """Not starred, so loose: duplicates 5.4% ±1.5 pp, repeated removes 24.9% ±5 pp,
    shared session values exist, and the 30-minute rule disagrees with user_session."""
    dup = one(
        events,
        "select 1 - (select count(*) from (select distinct * from events)) / count(*) from events",
    )
    assert dup == pytest.approx(0.054, abs=0.015)
    repeated_removes = one(
        events,
        """
        select avg((n > 0)::int) from (
            select row_number() over (partition by user_session, event_time, product_id
                                      order by event_time) - 1 as n
            from events where event_type = 'remove_from_cart'
        )
        """,
    )
    assert repeated_removes == pytest.approx(0.249, abs=0.05)
    shared = one(
        events,
        """
        select count(*) from (select user_session from events where user_session is not null
                              group by 1 having count(distinct user_id) > 1)
        """,
    )
    assert shared >= 1
    by_rule = one(
        events,
        """
        select count(*) from (
            select event_time - lag(event_time) over (partition by user_id order by event_time)
                   as gap
            from events
        ) where gap is null or gap > interval 30 minutes
        """,
    )
    raw_sessions = one(events, "select count(distinct (user_id, user_session)) from events")
    assert by_rule != raw_sessions
    assert by_rule == pytest.approx(raw_sessions, rel=0.05)
