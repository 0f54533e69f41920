"""The checks below the whole population, through the SQL on a real DuckDB gold table: a day
whose split was broken on purpose and a pre-period imbalance made on purpose are each flagged,
Holm-adjusted within their family, and turn the decision into "investigate" with the reason;
the same data left alone passes. Every p-value is scipy's on the same counts."""

from __future__ import annotations

import polars as pl
import pytest
from scipy import stats

from pipeline.abtest import ReadoutConfig, run_abtest
from pipeline.settings import Settings
from pipeline.stats.multiple import holm
from tests.abtest.abtest_gold import Gold, simulate, write_gold

USERS = 20_000  # ~290 users a day over 70 days: one broken day moves the total by little


@pytest.fixture(scope="module")
def gold() -> Gold:
    return simulate(USERS, seed=5, injected_rate=0.0)


def readout_of(users: pl.DataFrame, folder) -> object:
    settings = Settings(data_dir=folder / "data")
    write_gold(Gold(users), settings.warehouse_path)
    return run_abtest(settings, ReadoutConfig(), keys=["checkout"])["checkout"].readout


def day_of(users: pl.DataFrame) -> pl.Expr:
    return pl.col("entered_at").dt.date().cast(pl.String)


@pytest.fixture(scope="module")
def clean(gold, tmp_path_factory):
    return readout_of(gold.users, tmp_path_factory.mktemp("clean"))


@pytest.fixture(scope="module")
def broken_day(gold, tmp_path_factory):
    """On 2019-10-20, 60 of the day's Control users logged as Treatment (a broken deploy)."""
    users = gold.users.with_columns(day=day_of(gold.users))
    victims = users.filter(
        (pl.col("day") == "2019-10-20") & (pl.col("experiment_group") == "control")
    )
    moved = set(victims["user_id"].head(60).to_list())
    users = users.with_columns(
        experiment_group=pl.when(pl.col("user_id").is_in(moved))
        .then(pl.lit("treatment"))
        .otherwise(pl.col("experiment_group"))
    ).drop("day")
    return users, readout_of(users, tmp_path_factory.mktemp("broken_day"))


@pytest.fixture(scope="module")
def imbalanced(gold, tmp_path_factory):
    """Treatment's returning users spent twice as much before the start (a biased bucketing)."""
    users = gold.users.with_columns(
        pre_revenue=pl.when(pl.col("experiment_group") == "treatment")
        .then(pl.col("pre_revenue") * 2)
        .otherwise(pl.col("pre_revenue"))
    )
    return users, readout_of(users, tmp_path_factory.mktemp("imbalanced"))


def test_untouched_data_passes_every_check(clean) -> None:
    assert not clean.srm_by_day.flagged and not any(f.flagged for f in clean.srm_by_segment)
    assert not clean.balance.flagged and clean.balance.message == "ok"
    assert clean.decision.outcome != "investigate"


def test_a_day_broken_on_purpose_is_flagged_and_the_decision_says_investigate(
    broken_day,
) -> None:
    users, r = broken_day
    assert not r.primary.srm.flagged and not r.all_users.srm.flagged  # the total looks fine
    (flagged,) = r.srm_by_day.flagged
    assert flagged.segment == "2019-10-20"
    # scipy on the day's counts, then Holm across every day with users.
    days = (
        users.with_columns(day=day_of(users))
        .group_by("day")
        .agg((pl.col("experiment_group") == "control").sum().alias("c"), pl.len().alias("n"))
        .sort("day")
    )
    raw = [stats.chisquare([c, n - c]).pvalue for c, n in zip(days["c"], days["n"], strict=True)]
    adjusted = dict(zip(days["day"], holm(raw), strict=True))
    assert flagged.adjusted_p == pytest.approx(adjusted["2019-10-20"], rel=1e-9)
    assert r.srm_by_day.tests == days.height
    assert all(
        c.adjusted_p == pytest.approx(adjusted[c.segment], rel=1e-9) for c in r.srm_by_day.checks
    )
    assert r.decision.outcome == "investigate"
    assert "by day of entry" in r.decision.headline and "2019-10-20" in r.decision.headline
    (family,) = [f for f in r.families if f.key == "srm_by_day"]
    assert (family.correction, family.tests, family.alpha) == ("holm", days.height, 0.001)


def test_a_pre_period_imbalance_made_on_purpose_is_flagged(imbalanced) -> None:
    users, r = imbalanced
    (flagged,) = r.balance.flagged
    assert flagged.metric == "pre_revenue_per_user"
    c = users.filter(pl.col("experiment_group") == "control")["pre_revenue"].to_numpy()
    t = users.filter(pl.col("experiment_group") == "treatment")["pre_revenue"].to_numpy()
    welch = stats.ttest_ind(t, c, equal_var=False)
    assert flagged.p_value == pytest.approx(welch.pvalue, rel=1e-6)
    others = [x.p_value for x in r.balance.tests]
    assert flagged.adjusted_p == pytest.approx(holm(others)[others.index(flagged.p_value)])
    assert not r.srm_by_day.flagged and r.decision.outcome == "investigate"
    assert "Pre-period imbalance in pre-period revenue per user" in r.decision.headline


def test_the_balance_conversion_test_is_welchs_on_the_zero_one_values(clean, gold) -> None:
    (conversion,) = [t for t in clean.balance.tests if t.metric == "pre_cart_conversion"]
    exposed = gold.users.filter(pl.col("is_exposed"))
    values = {
        g: exposed.filter(pl.col("experiment_group") == g)["pre_converted"].cast(float).to_numpy()
        for g in ("control", "treatment")
    }
    welch = stats.ttest_ind(values["treatment"], values["control"], equal_var=False)
    assert conversion.p_value == pytest.approx(welch.pvalue, rel=1e-9)
