"""The eight defects of issue 15 that live in the statistics: each case from the issue, its
fix, and where the fix is checked independently (statsmodels, hand-worked values)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats import proportion as sm_proportion

from pipeline.stats.frequentist import compare_conversion, compare_means, compare_ratios
from pipeline.stats.sufficient import Proportion, RatioMean, SampleMean


class TestVerdictAndIntervalAgree:
    def test_the_issues_example_is_now_consistent(self) -> None:
        # 100/1000 vs 128/1000: the seed said p = 0.057 (Yates) beside an interval +0.02 to
        # +5.58 pp. SE = sqrt(.1 .9 / 1000 + .128 .872 / 1000) = 0.0141992; z = 1.97193;
        # p = 2 (1 - Phi(1.97193)) = 0.04862.
        result = compare_conversion(Proportion(1000, 100), Proportion(1000, 128))
        assert result.absolute.std_error == pytest.approx(0.0141992, abs=1e-7)
        assert result.p_value == pytest.approx(0.04862, abs=1e-5)
        assert result.significant and result.absolute.ci.excludes_zero()
        assert result.absolute.ci.lower * 100 == pytest.approx(0.017, abs=1e-3)
        assert result.yates.p_value == pytest.approx(0.0575, abs=1e-4)  # still shown, not used

    @pytest.mark.parametrize(("c", "t"), [((930, 61), (910, 83)), ((5000, 351), (5100, 300))])
    def test_p_value_is_statsmodels_wald_test(self, c, t) -> None:
        result = compare_conversion(Proportion(*c), Proportion(*t))
        ref = sm_proportion.test_proportions_2indep(
            t[1], t[0], c[1], c[0], method="wald", compare="diff"
        )
        assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)

    def test_verdict_equals_interval_in_every_small_aa_run(self) -> None:
        # The issue counted 51 of 2,000 disagreeing A/A runs at n = 300; now none can.
        rng = np.random.default_rng(15)
        disagreements = significant = 0
        for c, t in zip(rng.binomial(300, 0.1, 2000), rng.binomial(300, 0.1, 2000), strict=True):
            r = compare_conversion(Proportion(300, int(c)), Proportion(300, int(t)))
            if r.message != "ok":
                continue
            significant += r.significant
            disagreements += r.significant != r.absolute.ci.excludes_zero()
        assert disagreements == 0
        assert 60 <= significant <= 140  # about 5% of 2,000 (it can fail: it is a real test)


class TestDegenerateInputGetsAMessage:
    @pytest.mark.parametrize(
        ("control", "treatment", "code"),
        [
            (Proportion(1, 1), Proportion(1, 0), "too_few_units"),  # the issue's 100% vs 0%
            (Proportion(1, 0), Proportion(50, 5), "too_few_units"),
            (Proportion(10, 0), Proportion(10, 10), "zero_variance"),  # SE = 0
        ],
    )
    def test_one_user_or_zero_standard_error(self, control, treatment, code) -> None:
        result = compare_conversion(control, treatment)
        assert result.message == code
        assert result.p_value is None and result.absolute is None and not result.significant

    def test_value_per_order_without_orders(self) -> None:
        # Treatment has revenue but no order: a ratio of 0 with p = 2.9e-8 before the fix.
        control = RatioMean(100, 50.0, 900.0, 10.0, 12.0, 80.0)
        treatment = RatioMean(100, 0.0, 0.0, 0.0, 0.0, 0.0)
        result = compare_ratios(control, treatment)
        assert result.message == "no_denominator" and result.p_value is None

    @pytest.mark.parametrize("bad", [math.nan, math.inf])
    def test_non_finite_revenue(self, bad) -> None:
        result = compare_means(SampleMean(100, bad, 10.0), SampleMean(100, 20.0, 30.0))
        assert result.message == "non_finite" and result.p_value is None
        ratio = compare_ratios(
            RatioMean(100, bad, 1.0, 10.0, 12.0, 8.0), RatioMean(100, 5.0, 9.0, 10.0, 12.0, 8.0)
        )
        assert ratio.message == "non_finite"


class TestRelativeLiftSign:
    def test_negative_baseline_divides_by_its_absolute_value(self) -> None:
        # Control loses 2 a user, Treatment 1: an improvement of +1, i.e. +50% of |-2|.
        rng = np.random.default_rng(4)
        c = rng.normal(-2.0, 1.0, 4_000)
        t = rng.normal(-1.0, 1.0, 4_000)
        result = compare_means(
            SampleMean(4_000, c.sum(), (c**2).sum()), SampleMean(4_000, t.sum(), (t**2).sum())
        )
        assert result.absolute.estimate > 0
        expected = (t.mean() - c.mean()) / abs(c.mean())
        assert result.relative.estimate == pytest.approx(expected, rel=1e-12)
        assert result.relative.estimate == pytest.approx(0.5, abs=0.03)
