"""Every statistic against an independent implementation on the same counts, and against
hand-worked values (the arithmetic is written out beside each pinned number)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from pipeline.stats.frequentist import compare_conversion, compare_means
from pipeline.stats.multiple import benjamini_hochberg, holm
from pipeline.stats.srm import srm_test
from pipeline.stats.sufficient import Proportion, RatioMean, SampleMean

# The worked example used throughout: 700 of 10,000 Control users and 800 of 10,000 Treatment
# users converted.
CONTROL = Proportion(10_000, 700)
TREATMENT = Proportion(10_000, 800)


def sample_mean(values: np.ndarray) -> SampleMean:
    return SampleMean(len(values), float(values.sum()), float((values**2).sum()))


class TestSufficientStatistics:
    def test_moments_match_numpy(self) -> None:
        x = np.array([0.0, 3.5, 1.25, 9.0, 0.0, 2.0])
        s = sample_mean(x)
        assert s.mean == pytest.approx(x.mean(), abs=1e-12)
        assert s.variance == pytest.approx(x.var(ddof=1), abs=1e-12)
        assert s.std_error == pytest.approx(x.std(ddof=1) / math.sqrt(len(x)), abs=1e-12)

    def test_small_n_is_guarded(self) -> None:
        assert SampleMean(0, 0.0, 0.0).mean == 0.0
        assert SampleMean(1, 5.0, 25.0).variance == 0.0
        assert Proportion(0, 0).std_error == 0.0
        with pytest.raises(ValueError, match="invalid counts"):
            Proportion(3, 4)

    def test_ratio_delta_variance_equals_linearised_residual_variance(self) -> None:
        # Independent route: Var(m - R d) / mean(d)^2 on per-user pairs, R = sum m / sum d.
        rng = np.random.default_rng(7)
        d = rng.poisson(1.5, 500).astype(float)
        m = d * rng.gamma(2.0, 4.0, 500)
        ratio = RatioMean(500, m.sum(), (m**2).sum(), d.sum(), (d**2).sum(), (m * d).sum())
        r = m.sum() / d.sum()
        expected = np.var(m - r * d, ddof=1) / d.mean() ** 2
        assert ratio.mean == pytest.approx(r, rel=1e-12)
        assert ratio.variance == pytest.approx(expected, rel=1e-9)


class TestSampleRatioMismatch:
    def test_hand_worked_value(self) -> None:
        # 5,000 vs 5,100: expected 5,050 each; chi2 = 2 * 50² / 5050 = 0.990099.
        result = srm_test([5_000, 5_100])
        assert result.statistic == pytest.approx(0.990099, abs=1e-6)
        # p = 2 * (1 - Phi(sqrt(0.990099) = 0.995037)) = 0.319718 (normal table).
        assert result.p_value == pytest.approx(0.319718, abs=1e-6)
        assert not result.flagged and result.warning == ""

    @pytest.mark.parametrize("observed", [[5_000, 5_100], [10_000, 10_500], [731, 649]])
    def test_matches_scipy_chisquare(self, observed: list[int]) -> None:
        ref = stats.chisquare(observed)
        result = srm_test(observed)
        assert result.statistic == pytest.approx(ref.statistic, rel=1e-12)
        assert result.p_value == pytest.approx(ref.pvalue, rel=1e-9)

    def test_fires_below_one_in_a_thousand_with_a_warning(self) -> None:
        result = srm_test([10_000, 10_500])  # chi2 = 12.195, p = 0.00048
        assert result.flagged
        assert "CANNOT BE TRUSTED" in result.warning

    def test_empty_experiment_is_a_message_not_an_error(self) -> None:
        result = srm_test([0, 0])
        assert result.message == "empty_group" and not result.flagged
        assert "not possible" in result.warning


class TestChiSquare:
    def test_hand_worked_pearson_and_yates(self) -> None:
        # Pooled rate 0.075: expected 750 / 9,250 converted / not per group; |O - E| = 50.
        # Pearson: 50² * (2/750 + 2/9250) = 7.207207; Yates: 49.5² * (...) = 7.063784.
        result = compare_conversion(CONTROL, TREATMENT)
        assert result.pearson is not None and result.yates is not None
        assert result.pearson.statistic == pytest.approx(7.207207, abs=1e-6)
        assert result.yates.statistic == pytest.approx(7.063784, abs=1e-6)
        # The verdict is the Wald z-test of the absolute lift (checked below), not a chi-square.
        assert result.p_value == pytest.approx(result.absolute.p_value)
        assert result.significant

    @pytest.mark.parametrize(
        ("control", "treatment"),
        [
            (CONTROL, TREATMENT),
            (Proportion(120, 7), Proportion(130, 15)),
            (Proportion(5_000, 4_990), Proportion(5_100, 5_095)),
        ],
    )
    def test_pearson_matches_statsmodels(self, control: Proportion, treatment: Proportion) -> None:
        result = compare_conversion(control, treatment)
        table = Table2x2(
            [
                [control.successes, control.n - control.successes],
                [treatment.successes, treatment.n - treatment.successes],
            ]
        )
        ref = table.test_nominal_association()
        assert result.pearson.statistic == pytest.approx(ref.statistic, rel=1e-9)
        assert result.pearson.p_value == pytest.approx(ref.pvalue, rel=1e-9)
        z, p = proportions_ztest([treatment.successes, control.successes], [treatment.n, control.n])
        assert result.pearson.statistic == pytest.approx(z**2, rel=1e-9)
        assert result.pearson.p_value == pytest.approx(p, rel=1e-9)

    def test_both_variants_equal_the_seeds_chi2_contingency(self) -> None:
        rng = np.random.default_rng(2)
        tables = [(Proportion(50, 5), Proportion(50, 5)), (Proportion(9, 1), Proportion(11, 2))]
        for _ in range(200):
            n_c, n_t = rng.integers(5, 5_000, 2)
            tables.append(
                (
                    Proportion(int(n_c), int(rng.integers(1, n_c))),
                    Proportion(int(n_t), int(rng.integers(0, n_t))),
                )
            )
        for control, treatment in tables:
            table = [
                [control.successes, control.n - control.successes],
                [treatment.successes, treatment.n - treatment.successes],
            ]
            result = compare_conversion(control, treatment)
            for ours, yates in ((result.pearson, False), (result.yates, True)):
                ref = stats.chi2_contingency(table, correction=yates)
                assert ours.statistic == pytest.approx(ref.statistic, rel=1e-9, abs=1e-12)
                assert ours.p_value == pytest.approx(ref.pvalue, rel=1e-9)

    def test_yates_matches_hand_formula(self) -> None:
        # Yates: N (|ad - bc| - N/2)² / (row and column totals), for 2x2 tables.
        a, b, c, d = 120 - 7, 7, 130 - 15, 15
        n = a + b + c + d
        expected = n * (abs(a * d - b * c) - n / 2) ** 2 / ((a + b) * (c + d) * (a + c) * (b + d))
        result = compare_conversion(Proportion(120, 7), Proportion(130, 15))
        assert result.yates.statistic == pytest.approx(expected, rel=1e-12)


class TestConversionLift:
    def test_absolute_lift_hand_worked(self) -> None:
        # SE = sqrt(.07*.93/1e4 + .08*.92/1e4) = 0.00372424; CI = 0.01 ± 1.959964 * SE.
        result = compare_conversion(CONTROL, TREATMENT)
        assert result.absolute.estimate == pytest.approx(0.01, abs=1e-12)
        assert result.absolute.std_error == pytest.approx(0.00372424, abs=1e-8)
        assert result.absolute.ci.lower == pytest.approx(0.0027006, abs=1e-7)
        assert result.absolute.ci.upper == pytest.approx(0.0172994, abs=1e-7)

    def test_absolute_interval_matches_statsmodels_wald(self) -> None:
        result = compare_conversion(Proportion(930, 61), Proportion(910, 83), alpha=0.1)
        low, high = confint_proportions_2indep(
            83, 910, 61, 930, method="wald", compare="diff", alpha=0.1
        )
        assert result.absolute.ci.lower == pytest.approx(low, rel=1e-9)
        assert result.absolute.ci.upper == pytest.approx(high, rel=1e-9)

    def test_relative_lift_delta_method_hand_worked(self) -> None:
        # Var = .0736/(.07² 1e4) + .0651 * .08²/(.07⁴ 1e4) = .00150204 + .00173528 = .00323732.
        result = compare_conversion(CONTROL, TREATMENT)
        assert result.relative.estimate == pytest.approx(1 / 7, abs=1e-12)
        assert result.relative.std_error == pytest.approx(math.sqrt(0.00323732), abs=1e-7)
        half = 1.959964 * math.sqrt(0.00323732)
        assert result.relative.ci.lower == pytest.approx(1 / 7 - half, abs=1e-6)

    def test_relative_interval_agrees_with_log_ratio_interval_for_large_n(self) -> None:
        # Independent construction (statsmodels' log-ratio interval), same asymptotics.
        c, t = Proportion(400_000, 28_000), Proportion(400_000, 30_000)
        result = compare_conversion(c, t)
        low, high = confint_proportions_2indep(
            t.successes, t.n, c.successes, c.n, method="log", compare="ratio"
        )
        assert result.relative.ci.lower == pytest.approx(low - 1, abs=2e-3)
        assert result.relative.ci.upper == pytest.approx(high - 1, abs=2e-3)

    @pytest.mark.parametrize(
        ("control", "treatment", "code"),
        [
            (Proportion(0, 0), Proportion(100, 5), "empty_group"),
            (Proportion(100, 0), Proportion(100, 0), "no_conversions"),
            (Proportion(50, 50), Proportion(60, 60), "all_converted"),
        ],
    )
    def test_degenerate_input_carries_a_message(
        self, control: Proportion, treatment: Proportion, code: str
    ) -> None:
        result = compare_conversion(control, treatment)
        assert result.message == code
        assert result.p_value is None and not result.significant
        assert result.explanation

    def test_zero_baseline_keeps_absolute_lift_and_explains_relative(self) -> None:
        result = compare_conversion(Proportion(100, 0), Proportion(100, 4))
        assert result.message == "ok" and result.absolute is not None
        assert result.relative is None and result.relative_message == "zero_baseline"


class TestWelch:
    def test_hand_worked(self) -> None:
        # Control 1..5: mean 3, var 2.5; Treatment 2,4,..,12: mean 7, var 14.
        # SE = sqrt(2.5/5 + 14/6) = 1.683251; t = 4 / SE = 2.376354;
        # dof = 2.833333² / (0.5²/4 + 2.333333²/5) = 6.972256.
        result = compare_means(
            sample_mean(np.arange(1.0, 6.0)), sample_mean(np.arange(2.0, 13.0, 2.0))
        )
        assert result.absolute.std_error == pytest.approx(1.683251, abs=1e-6)
        assert result.t_statistic == pytest.approx(2.376354, abs=1e-6)
        assert result.dof == pytest.approx(6.972256, abs=1e-6)

    def test_matches_scipy_and_statsmodels_on_raw_values(self) -> None:
        rng = np.random.default_rng(3)
        c = rng.lognormal(1.0, 1.2, 800) * (rng.random(800) < 0.1)
        t = rng.lognormal(1.1, 1.2, 760) * (rng.random(760) < 0.12)
        result = compare_means(sample_mean(c), sample_mean(t), alpha=0.05)
        ref = stats.ttest_ind(t, c, equal_var=False)
        assert result.t_statistic == pytest.approx(ref.statistic, rel=1e-9)
        assert result.p_value == pytest.approx(ref.pvalue, rel=1e-8)
        low, high = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(usevar="unequal")
        assert result.absolute.ci.lower == pytest.approx(low, rel=1e-9)
        assert result.absolute.ci.upper == pytest.approx(high, rel=1e-9)

    def test_ratio_metric_uses_delta_variance(self) -> None:
        # Average order value per group: SE of the difference from linearised residuals.
        rng = np.random.default_rng(5)

        def group(n: int, scale: float) -> tuple[RatioMean, float, float]:
            d = rng.poisson(0.4, n).astype(float)
            m = d * rng.gamma(2.0, scale, n)
            r = m.sum() / d.sum()
            stat = RatioMean(n, m.sum(), (m**2).sum(), d.sum(), (d**2).sum(), (m * d).sum())
            return stat, r, np.var(m - r * d, ddof=1) / d.mean() ** 2 / n

        c, rc, vc = group(3_000, 4.0)
        t, rt, vt = group(3_100, 4.4)
        result = compare_means(c, t)
        assert result.absolute.estimate == pytest.approx(rt - rc, rel=1e-12)
        assert result.absolute.std_error == pytest.approx(math.sqrt(vc + vt), rel=1e-9)

    @pytest.mark.parametrize(
        ("control", "treatment", "code"),
        [
            (SampleMean(0, 0.0, 0.0), SampleMean(10, 5.0, 9.0), "empty_group"),
            (SampleMean(1, 2.0, 4.0), SampleMean(10, 5.0, 9.0), "too_few_units"),
            (SampleMean(5, 10.0, 20.0), SampleMean(4, 8.0, 16.0), "zero_variance"),
        ],
    )
    def test_degenerate_input_carries_a_message(
        self, control: SampleMean, treatment: SampleMean, code: str
    ) -> None:
        result = compare_means(control, treatment)
        assert result.message == code and result.p_value is None and not result.significant


class TestMultipleTesting:
    P = (0.01, 0.04, 0.03, 0.005, 0.2)

    def test_holm_hand_worked(self) -> None:
        # Sorted .005,.01,.03,.04,.2 times 5,4,3,2,1 -> .025,.04,.09,.08,.2; running max.
        assert holm(self.P) == pytest.approx([0.04, 0.09, 0.09, 0.025, 0.2])

    def test_bh_hand_worked(self) -> None:
        # Sorted p * 5 / rank -> .025,.025,.05,.05,.2; running min from the top.
        assert benjamini_hochberg(self.P) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.2])

    @pytest.mark.parametrize(("ours", "method"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
    def test_match_statsmodels(self, ours, method: str) -> None:
        p = np.random.default_rng(11).uniform(0, 0.2, 17)
        assert ours(p) == pytest.approx(multipletests(p, method=method)[1], rel=1e-12)

    def test_empty_family(self) -> None:
        assert holm([]).size == 0 and benjamini_hochberg([]).size == 0
