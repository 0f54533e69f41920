"""The assignment and injection rules agree across Python, Polars and SQL, and behave as designed."""

from __future__ import annotations

import hashlib
from datetime import date

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats

from pipeline import experiment as ex
from pipeline.experiment.config import read_experiments
from pipeline.settings import EXPERIMENTS_FILE

# What ingestion applies with the repository's experiments.yml (the checkout's rule and rate).
CONFIGURED = read_experiments(EXPERIMENTS_FILE).ingestion
SALT = "aa-standing:"


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


def test_a_salt_hashes_before_the_id_and_gives_an_independent_split(events) -> None:
    """md5(salt + id): Python, Polars and DuckDB agree, and the salted split is independent of
    the seed's (chi-square on the 2x2 of both assignments)."""
    users = events.select("user_id").unique().sort("user_id")
    for user_id in (576802932, 1):
        digest = hashlib.md5(f"{SALT}{user_id}".encode()).hexdigest()
        expected = ex.TREATMENT if int(digest, 16) % 2 else ex.CONTROL
        assert ex.assign_group(user_id, SALT) == expected
    salted = users.select(ex.group_expr(pl.col("user_id"), SALT)).to_series().to_list()
    assert salted == [ex.assign_group(u, SALT) for u in users["user_id"]]
    sql = f"""
        select case when right(md5('{SALT}' || cast(user_id as varchar)), 1)
                    in ('1','3','5','7','9','b','d','f') then 'treatment' else 'control' end
        from users order by user_id
    """
    assert [g for (g,) in duckdb.sql(sql).fetchall()] == salted
    plain = [ex.assign_group(u) for u in users["user_id"]]
    table = [
        [sum(p == a and q == b for p, q in zip(plain, salted, strict=True)) for b in ex.GROUPS]
        for a in ex.GROUPS
    ]
    assert stats.chi2_contingency(table).pvalue > 0.001


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
    got = frame.select(
        ex.is_injected_expr(pl.col("event_type"), pl.col("group"), CONFIGURED)
    ).to_series()
    want = [
        ex.is_injected(
            r["event_type"],
            r["group"],
            r["event_time"],
            r["user_id"],
            r["product_id"],
            r["user_session"],
            CONFIGURED,
        )
        for r in frame.iter_rows(named=True)
    ]
    assert got.to_list() == want


def test_injection_rate_and_independence_from_order(events: pl.DataFrame) -> None:
    seed, rate = CONFIGURED.injection_seed, CONFIGURED.uplift_rate
    draws = events.select(ex.injection_draw_expr(seed)).to_series()
    # Uniform on [0, 1): Kolmogorov-Smirnov against U(0, 1) on 20k draws.
    assert stats.kstest(draws.to_numpy(), "uniform").pvalue > 0.001
    assert abs(float((draws < rate).mean()) - rate) < 0.01
    shuffled = events.with_row_index().sample(fraction=1.0, shuffle=True, seed=3)
    redrawn = shuffled.with_columns(d=ex.injection_draw_expr(seed)).sort("index")["d"]
    assert redrawn.to_list() == draws.to_list()


def test_only_treatment_carts_are_injected(events: pl.DataFrame) -> None:
    frame = events.with_columns(
        group=ex.group_expr(pl.col("user_id")),
        inj=ex.is_injected_expr(pl.col("event_type"), ex.group_expr(pl.col("user_id")), CONFIGURED),
    )
    injected = frame.filter(pl.col("inj"))
    assert injected.height > 0
    assert set(injected["event_type"]) == {"cart"}
    assert set(injected["group"]) == {ex.TREATMENT}


@pytest.mark.parametrize(
    "experiment",
    [
        ex.Experiment(uplift_rate=0.3, start=date(2019, 10, 15), injection_seed="s1"),
        ex.Experiment(uplift_rate=0.0),
        ex.Experiment(uplift_rate=1.0, start=date(2019, 10, 25), injection_seed="s2"),
        ex.Experiment(
            uplift_rate=0.5, start=date(2019, 10, 5), end=date(2019, 10, 20), injection_seed="s3"
        ),
    ],
)
def test_rate_and_start_agree_between_python_and_polars(events, experiment) -> None:
    frame = events.with_columns(
        group=ex.group_expr(pl.col("user_id")),
        typed_time=pl.col("event_time").str.strptime(
            pl.Datetime("us", "UTC"), "%Y-%m-%d %H:%M:%S UTC"
        ),
    )
    got = frame.select(
        ex.is_injected_expr(
            pl.col("event_type"),
            pl.col("group"),
            experiment,
            event_time=pl.col("typed_time"),
        )
    ).to_series()
    want = [
        ex.is_injected(
            r["event_type"],
            r["group"],
            r["event_time"],
            r["user_id"],
            r["product_id"],
            r["user_session"],
            experiment,
        )
        for r in frame.iter_rows(named=True)
    ]
    assert got.to_list() == want
    injected = frame.filter(got)
    if experiment.uplift_rate == 0:
        assert injected.height == 0  # an A/A test: nothing is injected
    else:
        assert injected.height > 0
    if experiment.start is not None:
        assert (injected["typed_time"].dt.date() >= experiment.start).all()
        early = frame.filter(
            (pl.col("typed_time").dt.date() < experiment.start) & (pl.col("event_type") == "cart")
        )
        assert early.height > 0  # the rule had pre-period carts to leave alone
    if experiment.end is not None:
        assert (injected["typed_time"].dt.date() <= experiment.end).all()
        late = frame.filter(
            (pl.col("typed_time").dt.date() > experiment.end) & (pl.col("event_type") == "cart")
        )
        assert late.height > 0  # and carts after the end


def test_experiment_settings_are_checked_and_round_trip() -> None:
    exp = ex.Experiment(
        key="k", salt="s:", uplift_rate=0.005, start=date(2019, 12, 1), end=date(2020, 1, 31)
    )
    assert ex.Experiment.from_dict(exp.to_dict()) == exp
    assert ex.Experiment.from_dict({}) == ex.LEGACY  # manifests from before the key
    assert ex.Experiment(uplift_rate=0).is_aa
    for bad in (-0.1, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="uplift rate"):
            ex.Experiment(uplift_rate=bad)
    with pytest.raises(ValueError, match="ends"):
        ex.Experiment(start=date(2020, 1, 2), end=date(2020, 1, 1))
    with pytest.raises(ValueError, match="typed event_time"):
        ex.is_injected_expr(pl.col("a"), pl.col("b"), exp)


def test_settings_override_the_injected_experiment(monkeypatch) -> None:
    from pipeline.experiment.config import load_experiments
    from pipeline.settings import Settings

    monkeypatch.setenv("ECOM_UPLIFT_RATE", "0")
    monkeypatch.setenv("ECOM_EXPERIMENT_START", "2019-12-01")
    experiments = load_experiments(Settings())
    assert experiments.ingestion == ex.Experiment(
        key="checkout",
        uplift_rate=0.0,
        start=date(2019, 12, 1),
        injection_seed=CONFIGURED.injection_seed,
    )
    # Only the injected experiment changes.
    assert experiments.get("aa-standing").start == date(2019, 11, 1)
    monkeypatch.setenv("ECOM_UPLIFT_RATE", "nan")
    with pytest.raises(ValueError, match="uplift_rate"):
        Settings()


def test_the_experiment_module_imports_without_polars() -> None:
    """pipeline.settings imports it and the API imports the settings: no Polars there."""
    import subprocess
    import sys

    code = "import sys, pipeline.settings; print('polars' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
