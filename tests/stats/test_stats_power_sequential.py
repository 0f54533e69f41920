"""Power and the always-valid confidence sequence, against statsmodels and hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from pipeline.stats.power import (
    minimum_detectable_effect,
    power_analysis,
    power_two_proportions,
    sample_size_per_group,
)
from pipeline.stats.sequential import (
    always_valid_p,
    conversion_looks,
    halfwidth,
    mixing_rho,
)
from pipeline.stats.sufficient import Proportion


class TestWaldPower:
    """The verdict's test: two-sided z on the difference with the unpooled standard error."""

    @pytest.mark.parametrize(("baseline", "diff", "n"), [(0.07, 0.01, 10_000), (0.3, -0.02, 4_000)])
    def test_power_matches_statsmodels_normal_power(self, baseline, diff, n) -> None:
        # Equal groups: effect size d / sqrt((v_c + v_t) / 2) in NormalIndPower's z-test.
        treated = baseline + diff
        spread = math.sqrt((baseline * (1 - baseline) + treated * (1 - treated)) / 2)
        ref = NormalIndPower().power(abs(diff) / spread, nobs1=n, alpha=0.05, ratio=1.0)
        ours = power_two_proportions(baseline, diff, n, n, pooled=False)
        assert ours == pytest.approx(ref, rel=1e-9)

    def test_sample_size_hand_worked(self) -> None:
        # 10% -> 12%: (1.959964 + 0.841621)² (.09 + .1056) / .02² = 7.848879 x .1956 / .0004
        # = 3838.1 -> 3,839 per group.
        assert sample_size_per_group(0.10, 0.20, pooled=False) == 3_839

    def test_mde_inverts_the_sample_size(self) -> None:
        mde = minimum_detectable_effect(0.07, 10_000, 10_000, pooled=False)
        assert power_two_proportions(0.07, mde, 10_000, 10_000, pooled=False) == pytest.approx(
            0.8, abs=1e-9
        )
        assert sample_size_per_group(0.07, mde / 0.07, pooled=False) in (10_000, 10_001)


class TestPower:
    @pytest.mark.parametrize(
        ("baseline", "diff", "n_c", "n_t"),
        [(0.07, 0.01, 10_000, 10_000), (0.2, -0.03, 1_500, 2_000), (0.05, 0.004, 80_000, 79_000)],
    )
    def test_power_matches_statsmodels(self, baseline, diff, n_c, n_t) -> None:
        ref = power_proportions_2indep(
            diff, baseline, n_t, ratio=n_c / n_t, alpha=0.05, return_results=False
        )
        assert power_two_proportions(baseline, diff, n_c, n_t) == pytest.approx(ref, rel=1e-9)

    def test_sample_size_hand_worked_fleiss(self) -> None:
        # 10% -> 12%: (1.959964 sqrt(2 .11 .89) + 0.841621 sqrt(.09 + .1056))² / .02²
        # = (0.867271 + 0.372219)² / 0.0004 = 3840.8 -> 3,841 per group.
        assert sample_size_per_group(0.10, 0.20) == 3_841

    @pytest.mark.parametrize(("baseline", "lift"), [(0.10, 0.20), (0.067, 0.05), (0.3, -0.1)])
    def test_sample_size_reaches_the_power_by_statsmodels(self, baseline, lift) -> None:
        n = sample_size_per_group(baseline, lift)
        diff = baseline * lift
        at_n = power_proportions_2indep(diff, baseline, n, return_results=False)
        assert 0.8 <= at_n < 0.8 + 1e-3

    def test_mde_has_exactly_the_requested_power(self) -> None:
        mde = minimum_detectable_effect(0.07, 10_000, 10_000)
        ref = power_proportions_2indep(mde, 0.07, 10_000, return_results=False)
        assert ref == pytest.approx(0.8, abs=1e-9)
        # Inverse of the sample-size formula: 10,000 per group is what that MDE needs.
        assert sample_size_per_group(0.07, mde / 0.07) in (10_000, 10_001)

    def test_analysis_and_degenerate_input(self) -> None:
        result = power_analysis(0.07, 10_000, 10_000, target_relative_lift=0.2, test="pearson")
        assert result.mde_relative == pytest.approx(result.mde_absolute / 0.07)
        assert result.required_per_group == sample_size_per_group(0.07, 0.2)
        # Yates' chi-square: continuity-corrected figures.
        yates = power_analysis(0.07, 10_000, 10_000, target_relative_lift=0.2, test="yates")
        assert yates.test == "yates"
        assert yates.required_per_group == sample_size_per_group(0.07, 0.2, continuity=True)
        assert yates.mde_absolute == pytest.approx(
            minimum_detectable_effect(0.07, 10_000, 10_000, continuity=True)
        )
        assert yates.mde_absolute > result.mde_absolute
        # The default is the verdict's test, the unpooled (Wald) z-test.
        wald = power_analysis(0.07, 10_000, 10_000, target_relative_lift=0.2, true_effect=0.01)
        assert wald.test == "wald"
        assert wald.required_per_group == sample_size_per_group(0.07, 0.2, pooled=False)
        assert wald.power_at_true_effect == pytest.approx(
            power_two_proportions(0.07, 0.01, 10_000, 10_000, pooled=False)
        )
        empty = power_analysis(0.0, 0, 10)
        assert empty.message == "empty_group" and empty.mde_absolute is None
        assert power_analysis(0.0, 100, 100).message == "zero_baseline"


def yates_p_values(a: np.ndarray, n1: int, c: np.ndarray, n2: int) -> np.ndarray:
    """Yates' chi-square p-values of many 2x2 tables at once, by the textbook shortcut
    N (|ad - bc| - N/2)² / (r1 r2 c1 c2) (zero when |ad - bc| < N/2, as scipy clamps)."""
    b, d, total = n1 - a, n2 - c, n1 + n2
    numerator = np.maximum(np.abs(a * d - b * c) - total / 2, 0) ** 2 * total
    denominator = (a + c) * (b + d) * n1 * n2
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = np.where(denominator > 0, numerator / denominator, 0.0)
    return stats.chi2.sf(statistic, 1)


def exact_yates_power(p1: float, p2: float, n1: int, n2: int, alpha: float = 0.05) -> float:
    """Exact rejection probability of Yates' chi-square: every outcome within 9 sd of each
    binomial, weighted by its probability (no normal approximation, no simulation noise)."""

    def support(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
        sd = math.sqrt(n * p * (1 - p))
        k = np.arange(max(0, int(n * p - 9 * sd)), min(n, int(n * p + 9 * sd) + 1) + 1)
        return k.astype(float), stats.binom.pmf(k, n, p)

    (k1, w1), (k2, w2) = support(n1, p1), support(n2, p2)
    a, c = np.meshgrid(k1, k2, indexing="ij")
    rejects = yates_p_values(a, n1, c, n2) < alpha
    return float((np.outer(w1, w2) * rejects).sum())


class TestYatesPower:
    """The verdict's default test is Yates' chi-square: power figures are computed for it."""

    def test_shortcut_formula_is_scipys_yates_chi_square(self) -> None:
        for (a, n1), (c, n2) in [((30, 100), (45, 110)), ((12, 500), (3, 480)), ((5, 9), (5, 11))]:
            ref = stats.chi2_contingency([[a, n1 - a], [c, n2 - c]], correction=True).pvalue
            got = yates_p_values(np.array([float(a)]), n1, np.array([float(c)]), n2)[0]
            assert got == pytest.approx(ref, rel=1e-9)

    def test_sample_size_hand_worked_fleiss_with_continuity_correction(self) -> None:
        # n = 3840.8 (above); n' = n/4 (1 + sqrt(1 + 4 / (3840.8 x .02)))²
        # = 960.2 (1 + sqrt(1.052073))² = 960.2 x 4.103485 = 3940.2 -> 3,941 per group.
        assert sample_size_per_group(0.10, 0.20, continuity=True) == 3_941

    @pytest.mark.parametrize(("baseline", "lift"), [(0.10, 0.20), (0.3, -0.1), (0.02, 0.5)])
    def test_corrected_sample_size_gives_yates_its_power(self, baseline, lift) -> None:
        treated = baseline * (1 + lift)
        n_yates = sample_size_per_group(baseline, lift, continuity=True)
        n_plain = sample_size_per_group(baseline, lift)
        # The exact power of scipy's Yates test at the corrected size is the requested 80%...
        assert exact_yates_power(baseline, treated, n_yates, n_yates) == pytest.approx(
            0.8, abs=0.005
        )
        # ...while the uncorrected size (what the readout used to report) falls short.
        assert exact_yates_power(baseline, treated, n_plain, n_plain) < 0.798

    def test_mde_for_yates_on_unequal_groups(self) -> None:
        mde = minimum_detectable_effect(0.07, 10_000, 12_000, continuity=True)
        plain = minimum_detectable_effect(0.07, 10_000, 12_000)
        assert mde > plain
        assert power_two_proportions(0.07, mde, 10_000, 12_000, continuity=True) == (
            pytest.approx(0.8, abs=1e-9)
        )
        assert exact_yates_power(0.07, 0.07 + mde, 10_000, 12_000) == pytest.approx(0.8, abs=0.005)
        # The correction shifts the boundary by (1/n_c + 1/n_t) / 2: equal groups invert exactly.
        equal = minimum_detectable_effect(0.07, 10_000, 10_000, continuity=True)
        assert sample_size_per_group(0.07, equal / 0.07, continuity=True) in (10_000, 10_001)


def msprt_p_value(estimate: float, variance: float, tau2: float) -> float:
    """Johari et al. (2017) normal-mixture mSPRT, written from the paper: p = 1 / Lambda,
    Lambda = sqrt(V / (V + tau²)) exp(tau² est² / (2 V (V + tau²))), V the estimate's variance."""
    v = variance
    return min(
        1.0, 1 / (math.sqrt(v / (v + tau2)) * math.exp(tau2 * estimate**2 / (2 * v * (v + tau2))))
    )


class TestConfidenceSequence:
    def test_rho_hand_worked(self) -> None:
        # -2 ln .05 = 5.991465; ln(6.991465) = 1.944691; sqrt(7.936156 / 5000) = 0.039840.
        assert mixing_rho(0.05, 5_000) == pytest.approx(0.0398401, abs=1e-7)

    def test_halfwidth_hand_worked(self) -> None:
        # sigma² = 1, n = N* = 5000: n rho² = 7.936156; 2 (8.936156) / (5000² 0.00158723)
        # = 4.50404e-4; ln(sqrt(8.936156) / .05) = 4.090784; sqrt(product) = 0.042924,
        # 1.5486 times the fixed-horizon 1.959964 / sqrt(5000) = 0.027718.
        width = halfwidth(1 / math.sqrt(5_000), 5_000, 0.05, 5_000)
        assert width == pytest.approx(0.042924, abs=1e-6)
        assert width / (1.959964 / math.sqrt(5_000)) == pytest.approx(1.5486, abs=1e-4)

    @pytest.mark.parametrize(
        ("estimate", "se", "n"),
        [(0.01, 0.0036, 20_000), (-0.002, 0.001, 300_000), (0.0, 0.01, 900)],
    )
    def test_p_value_is_the_msprt_of_johari_et_al(self, estimate, se, n) -> None:
        # The same mixture written as an mSPRT on the estimate: tau² = sigma² rho².
        tau2 = se**2 * n * mixing_rho(0.05, 5_000) ** 2
        ours = float(always_valid_p(estimate, se, n, 0.05, 5_000))
        assert ours == pytest.approx(msprt_p_value(estimate, se**2, tau2), rel=1e-9)

    @pytest.mark.parametrize("tuning", [500.0, 5_000.0, 200_000.0])
    def test_sequence_edge_is_where_the_msprt_p_value_equals_alpha(self, tuning) -> None:
        se, n, alpha = 0.004, 40_000, 0.05
        width = float(halfwidth(se, n, alpha, tuning))
        tau2 = se**2 * n * mixing_rho(alpha, tuning) ** 2
        assert msprt_p_value(width, se**2, tau2) == pytest.approx(alpha, rel=1e-9)

    def test_tuning_parameter_moves_the_tightest_point(self) -> None:
        # Relative to the fixed interval, the sequence is tightest near n = N*.
        ratios = {
            n: float(halfwidth(1 / math.sqrt(n), n, 0.05, 50_000)) * math.sqrt(n)
            for n in (5e3, 5e4, 5e5)
        }
        assert ratios[5e4] < ratios[5e3] and ratios[5e4] < ratios[5e5]
        with pytest.raises(ValueError, match="N\\*"):
            mixing_rho(0.05, 0)

    def test_looks_report_both_intervals_and_degenerate_weeks(self) -> None:
        looks = [
            (Proportion(500, 0), Proportion(510, 0)),
            (Proportion(1_000, 60), Proportion(1_020, 80)),
            (Proportion(2_000, 130), Proportion(2_030, 170)),
        ]
        result = conversion_looks(looks, alpha=0.05, tuning=5_000)
        assert result.looks[0].message == "no_conversions" and result.looks[0].estimate is None
        last = result.looks[-1]
        assert last.sequential_ci.lower < last.fixed_ci.lower
        assert last.fixed_ci.upper < last.sequential_ci.upper
        assert (last.sequential_p < 0.05) == last.sequential_ci.excludes_zero()
        assert conversion_looks(looks[-1:]).message == "single_look"
        assert np.isfinite([k.sequential_p for k in result.looks[1:]]).all()
