"""Calibration by direct binomial simulation (seeded, vectorized draws; the production
functions compute every p-value and interval). Each test prints what it measured."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from pipeline.stats.frequentist import compare_conversion, compare_means
from pipeline.stats.power import minimum_detectable_effect
from pipeline.stats.sequential import always_valid_p, conversion_looks, halfwidth
from pipeline.stats.sufficient import Proportion, SampleMean

ALPHA = 0.05


def report(capsys: pytest.CaptureFixture[str], line: str) -> None:
    with capsys.disabled():
        print(f"\n[simulation] {line}")


def conversions(rng: np.random.Generator, reps: int, n: int, rate: float) -> np.ndarray:
    return rng.binomial(n, rate, reps)


def test_aa_rejection_rate_is_alpha(capsys: pytest.CaptureFixture[str]) -> None:
    # 10,000 A/A experiments: the rate's standard error is 0.0022, so ±0.01 is 4.5 SE.
    rng = np.random.default_rng(20240601)
    reps, n, rate = 10_000, 50_000, 0.07
    control, treatment = conversions(rng, reps, n, rate), conversions(rng, reps, n, rate)
    results = [
        compare_conversion(Proportion(n, int(c)), Proportion(n, int(t)))
        for c, t in zip(control, treatment, strict=True)
    ]
    yates = np.mean([r.yates.p_value < ALPHA for r in results])
    pearson = np.mean([r.pearson.p_value < ALPHA for r in results])
    interval = np.mean([r.absolute.ci.excludes_zero() for r in results])
    report(
        capsys,
        f"A/A rejection at alpha=0.05 over {reps} runs: chi-square Yates {yates:.4f}, "
        f"Pearson {pearson:.4f}, absolute-lift interval excludes 0 {interval:.4f}",
    )
    for rate_seen in (yates, pearson, interval):
        assert abs(rate_seen - ALPHA) <= 0.01


def test_intervals_cover_a_known_lift(capsys: pytest.CaptureFixture[str]) -> None:
    # 5,000 experiments with 7.0% -> 8.0%: coverage SE 0.003, so ±0.02 is 6.5 SE.
    rng = np.random.default_rng(20240602)
    reps, n, base, lift = 5_000, 20_000, 0.07, 0.01
    control, treatment = conversions(rng, reps, n, base), conversions(rng, reps, n, base + lift)
    results = [
        compare_conversion(Proportion(n, int(c)), Proportion(n, int(t)))
        for c, t in zip(control, treatment, strict=True)
    ]
    absolute = np.mean([r.absolute.ci.covers(lift) for r in results])
    relative = np.mean([r.relative.ci.covers(lift / base) for r in results])
    power = np.mean([r.significant for r in results])
    report(
        capsys,
        f"95% interval coverage of a +1.0 pp (+14.3%) lift over {reps} runs: absolute "
        f"{absolute:.4f}, relative (delta method) {relative:.4f}; rejections {power:.3f}",
    )
    assert abs(absolute - 0.95) <= 0.02
    assert abs(relative - 0.95) <= 0.02


def test_power_at_the_minimum_detectable_effect_is_eighty_percent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = np.random.default_rng(20240603)
    reps, n, base = 4_000, 10_000, 0.07
    mde = minimum_detectable_effect(base, n, n, pooled=False)
    control, treatment = conversions(rng, reps, n, base), conversions(rng, reps, n, base + mde)
    rejected = np.mean(
        [
            compare_conversion(Proportion(n, int(c)), Proportion(n, int(t))).significant
            for c, t in zip(control, treatment, strict=True)
        ]
    )
    report(capsys, f"power at the MDE (+{mde * 100:.3f} pp on 7%): {rejected:.4f} of {reps}")
    assert abs(rejected - 0.8) <= 0.025


def test_welch_aa_on_skewed_revenue(capsys: pytest.CaptureFixture[str]) -> None:
    # Revenue per user: 10% buyers with lognormal spend (a long right tail).
    rng = np.random.default_rng(20240604)
    reps, n = 4_000, 2_000

    def revenue() -> np.ndarray:
        return rng.lognormal(2.0, 1.0, (reps, n)) * (rng.random((reps, n)) < 0.1)

    c, t = revenue(), revenue()
    stats_c = zip(c.sum(1), (c**2).sum(1), strict=True)
    stats_t = zip(t.sum(1), (t**2).sum(1), strict=True)
    rejected = np.mean(
        [
            compare_means(SampleMean(n, sc, qc), SampleMean(n, st, qt)).significant
            for (sc, qc), (st, qt) in zip(stats_c, stats_t, strict=True)
        ]
    )
    report(capsys, f"Welch A/A rejection on skewed revenue per user: {rejected:.4f} of {reps}")
    assert abs(rejected - ALPHA) <= 0.015


def weekly_aa(reps: int, weeks: int, per_week: int, rate: float, seed: int):
    """Cumulative counts of `reps` A/A experiments observed weekly."""
    rng = np.random.default_rng(seed)
    n = per_week * np.arange(1, weeks + 1)
    control = rng.binomial(per_week, rate, (reps, weeks)).cumsum(axis=1)
    treatment = rng.binomial(per_week, rate, (reps, weeks)).cumsum(axis=1)
    return n, control, treatment


def test_sequential_interval_survives_weekly_peeking(capsys: pytest.CaptureFixture[str]) -> None:
    reps, weeks, per_week, rate, tuning = 4_000, 20, 1_000, 0.07, 5_000.0
    n, control, treatment = weekly_aa(reps, weeks, per_week, rate, seed=20240605)
    pc, pt = control / n, treatment / n
    diff = pt - pc
    se = np.sqrt(pc * (1 - pc) / n + pt * (1 - pt) / n)
    fixed_p = 2 * special.ndtr(-np.abs(diff) / se)
    sequential_p = always_valid_p(diff, se, 2 * n, ALPHA, tuning)
    fixed_fpr = np.mean((fixed_p < ALPHA).any(axis=1))
    sequential_fpr = np.mean((sequential_p < ALPHA).any(axis=1))
    final_fixed = np.mean(fixed_p[:, -1] < ALPHA)
    report(
        capsys,
        f"A/A, {weeks} weekly looks, {reps} runs: false-positive rate of the fixed-horizon test "
        f"checked weekly {fixed_fpr:.4f} (single final look {final_fixed:.4f}); always-valid "
        f"sequence (N*={tuning:.0f}) {sequential_fpr:.4f}",
    )
    assert sequential_fpr <= ALPHA
    assert fixed_fpr > ALPHA + 0.05
    # The vectorized path above is the same arithmetic as the readout's per-look function.
    looks = conversion_looks(
        [
            (Proportion(int(k), int(c)), Proportion(int(k), int(t)))
            for k, c, t in zip(n, control[0], treatment[0], strict=True)
        ],
        ALPHA,
        tuning,
    )
    assert [k.sequential_p for k in looks.looks] == pytest.approx(sequential_p[0], rel=1e-12)
    assert [k.fixed_p for k in looks.looks] == pytest.approx(fixed_p[0], rel=1e-12)


def test_sequential_interval_covers_the_truth_at_every_look(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rng = np.random.default_rng(20240606)
    reps, weeks, per_week, base, lift, tuning = 4_000, 20, 1_000, 0.07, 0.01, 20_000.0
    n = per_week * np.arange(1, weeks + 1)
    control = rng.binomial(per_week, base, (reps, weeks)).cumsum(axis=1)
    treatment = rng.binomial(per_week, base + lift, (reps, weeks)).cumsum(axis=1)
    pc, pt = control / n, treatment / n
    se = np.sqrt(pc * (1 - pc) / n + pt * (1 - pt) / n)
    width = halfwidth(se, 2 * n, ALPHA, tuning)
    covered_always = np.mean((np.abs(pt - pc - lift) <= width).all(axis=1))
    report(
        capsys,
        f"sequence covers a +1 pp lift at all {weeks} looks in {covered_always:.4f} of {reps} runs",
    )
    assert covered_always >= 1 - ALPHA
