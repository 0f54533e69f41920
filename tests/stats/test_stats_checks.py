"""The checks below the whole population against independent implementations: each slice's
sample ratio test is scipy's chi-square, each family's adjustment statsmodels' Holm; each
balance test is scipy's Welch test from the same moments and GrowthBook's gbstats two-sided
t-test (run in its own venv)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pipeline.stats.balance import balance_checks
from pipeline.stats.srm import srm_family
from pipeline.stats.sufficient import SampleMean
from tests.stats.gbstats_engine import gbstats, spec

# Days of entry: most split evenly, one broken (700 vs 300), one empty, one tiny.
DAYS = [
    ("2019-10-01", (510, 490)),
    ("2019-10-02", (700, 300)),
    ("2019-10-03", (0, 0)),
    ("2019-10-04", (2, 1)),
    *((f"2019-10-{d:02d}", (500 + d, 520 - d)) for d in range(5, 30)),
]


def test_each_slice_is_scipys_chi_square_and_the_family_is_statsmodels_holm() -> None:
    family = srm_family("day", DAYS, alpha=0.001)
    tested = [c for c in family.checks if c.adjusted_p is not None]
    assert family.tests == len(tested) == len(DAYS) - 1  # the empty day is not a test
    raw = [stats.chisquare(list(c.result.observed)).pvalue for c in tested]
    assert [c.result.p_value for c in tested] == pytest.approx(raw, rel=1e-9)
    reject, adjusted, _, _ = multipletests(raw, alpha=0.001, method="holm")
    assert [c.adjusted_p for c in tested] == pytest.approx(adjusted.tolist(), rel=1e-12)
    assert [c.flagged for c in tested] == reject.tolist()
    assert [c.segment for c in family.flagged] == ["2019-10-02"]
    assert family.correction == "holm"


def test_a_slice_that_fails_alone_can_pass_its_family() -> None:
    """p = 0.0004 < 0.001 on one of 30 days is what 30 clean days give by chance 1% of the
    time; Holm multiplies it by 30 and does not flag it."""
    days = [("odd", (1_000, 1_160)), *((f"d{i}", (500, 500)) for i in range(29))]
    family = srm_family("day", days, alpha=0.001)
    (odd,) = [c for c in family.checks if c.segment == "odd"]
    assert odd.result.p_value < 0.001 and odd.result.flagged
    assert odd.adjusted_p == pytest.approx(min(1.0, 30 * odd.result.p_value))
    assert not family.flagged


def moments(rng: np.random.Generator, n: int, mean: float) -> tuple[np.ndarray, SampleMean]:
    values = rng.gamma(0.3, mean / 0.3, n) * (rng.random(n) < 0.4)
    return values, SampleMean(n, float(values.sum()), float((values**2).sum()))


def test_balance_is_welch_holm_adjusted() -> None:
    rng = np.random.default_rng(11)
    (cv, c), (tv, t) = moments(rng, 4_000, 5.0), moments(rng, 4_100, 5.9)
    (cb, cbm), (tb, tbm) = moments(rng, 4_000, 1.0), moments(rng, 4_100, 1.0)
    result = balance_checks(
        [("rev", "revenue", "all", c, t), ("other", "other", "all", cbm, tbm)], alpha=0.001
    )
    raw = [
        stats.ttest_ind(tv, cv, equal_var=False).pvalue,
        stats.ttest_ind(tb, cb, equal_var=False).pvalue,
    ]
    assert [x.p_value for x in result.tests] == pytest.approx(raw, rel=1e-9)
    reject, adjusted, _, _ = multipletests(raw, alpha=0.001, method="holm")
    assert [x.adjusted_p for x in result.tests] == pytest.approx(adjusted.tolist(), rel=1e-12)
    assert [x.flagged for x in result.tests] == reject.tolist()
    none = balance_checks([("rev", "revenue", "all", c, t)], has_pre_period=False)
    assert none.message == "no_pre_period" and not none.flagged
    assert none.tests[0].adjusted_p is None


def test_balance_matches_gbstats_two_sided_test() -> None:
    rng = np.random.default_rng(12)
    pairs = [(moments(rng, 3_000, 4.0)[1], moments(rng, 3_000, m)[1]) for m in (4.0, 4.6)]
    refs = gbstats(
        [
            {
                "test": "two_sided",
                "a": spec(c),
                "b": spec(t),
                "alpha": 0.05,
                "difference_type": "absolute",
            }
            for c, t in pairs
        ]
    )
    result = balance_checks([("m", "m", "all", c, t) for c, t in pairs], alpha=0.05)
    for test, ref in zip(result.tests, refs, strict=True):
        assert ref["error"] in (None, "")
        assert test.comparison.absolute.estimate == pytest.approx(ref["expected"], rel=1e-9)
        assert test.p_value == pytest.approx(ref["p_value"], rel=1e-6)
        assert [test.comparison.absolute.ci.lower, test.comparison.absolute.ci.upper] == (
            pytest.approx(ref["ci"], rel=1e-6)
        )
