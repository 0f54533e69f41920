"""CUPED: against gbstats' regression adjustment on the same sums, identity without covariate
variance, and seeded simulations (unbiased, variance ratio about 1 - rho², coverage)."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from pipeline.stats.cuped import compare_adjusted, pooled_theta
from pipeline.stats.sufficient import Paired, Proportion, SampleMean
from tests.stats.gbstats_engine import gbstats, spec


def paired(y: np.ndarray, x: np.ndarray, binary: bool = False) -> Paired:
    n = len(y)
    if binary:
        return Paired(
            Proportion(n, int(y.sum())), Proportion(n, int(x.sum())), float((y * x).sum())
        )
    return Paired(
        SampleMean(n, float(y.sum()), float((y**2).sum())),
        SampleMean(n, float(x.sum()), float((x**2).sum())),
        float((y * x).sum()),
    )


def correlated(rng, n, rho, effect=0.0):
    x = rng.normal(10.0, 2.0, n)
    y = 5.0 + effect + rho * (x - 10.0) / 2.0 + np.sqrt(1 - rho**2) * rng.normal(0, 1, n)
    return y, x


def report(capsys, line: str) -> None:
    with capsys.disabled():
        print(f"\n[simulation] {line}")


def test_matches_gbstats_regression_adjustment() -> None:
    rng = np.random.default_rng(1)
    yc, xc = correlated(rng, 3_000, 0.5)
    yt, xt = correlated(rng, 3_100, 0.5, effect=0.08)
    conv_c = (rng.random(4_000) < 0.2).astype(float)
    pre_c = ((conv_c + rng.random(4_000)) > 0.9).astype(float)
    conv_t = (rng.random(4_100) < 0.23).astype(float)
    pre_t = ((conv_t + rng.random(4_100)) > 0.9).astype(float)
    pairs = [
        (paired(yc, xc), paired(yt, xt)),
        (paired(conv_c, pre_c, binary=True), paired(conv_t, pre_t, binary=True)),
    ]
    cases = [
        {"test": "two_sided", "a": spec(c), "b": spec(t), "alpha": 0.05, "difference_type": kind}
        for c, t in pairs
        for kind in ("relative", "absolute")
    ]
    refs = iter(gbstats(cases))
    for c, t in pairs:
        ours = compare_adjusted(c, t)
        for effect in (ours.adjusted.relative, ours.adjusted.absolute):
            ref = next(refs)
            assert ref["theta"] == pytest.approx(ours.theta, rel=1e-10)
            assert effect.estimate == pytest.approx(ref["expected"], rel=1e-10)
            assert effect.ci.lower == pytest.approx(ref["ci"][0], rel=1e-9)
            assert effect.ci.upper == pytest.approx(ref["ci"][1], rel=1e-9)
            assert effect.p_value == pytest.approx(ref["p_value"], rel=1e-7, abs=1e-12)


def test_close_to_ancova_by_ordinary_least_squares() -> None:
    # An independent estimator of the same quantity (within-group slope instead of pooled).
    rng = np.random.default_rng(2)
    yc, xc = correlated(rng, 5_000, 0.7)
    yt, xt = correlated(rng, 5_000, 0.7, effect=0.1)
    ours = compare_adjusted(paired(yc, xc), paired(yt, xt))
    design = np.column_stack(
        [np.ones(10_000), np.r_[np.zeros(5_000), np.ones(5_000)], np.r_[xc, xt]]
    )
    fit = sm.OLS(np.r_[yc, yt], design).fit()
    assert ours.adjusted.absolute.estimate == pytest.approx(fit.params[1], abs=2e-3)
    assert ours.adjusted.absolute.std_error == pytest.approx(fit.bse[1], rel=0.01)


def test_identical_to_unadjusted_when_the_covariate_has_no_variance() -> None:
    rng = np.random.default_rng(3)
    yc, yt = rng.normal(1, 1, 800), rng.normal(1.1, 1, 820)
    zeros_c, zeros_t = np.zeros(800), np.zeros(820)
    result = compare_adjusted(paired(yc, zeros_c), paired(yt, zeros_t))
    assert result.theta == 0.0 and result.message == "no_covariate_variance"
    assert result.adjusted == result.unadjusted
    no_pre = compare_adjusted(paired(yc, zeros_c), paired(yt, zeros_t), has_pre_period=False)
    assert no_pre.message == "no_pre_period" and no_pre.adjusted == no_pre.unadjusted
    assert pooled_theta(paired(yc, zeros_c), paired(yt, zeros_t)) == (0.0, None)


def test_unbiased_with_variance_ratio_one_minus_rho_squared(capsys) -> None:
    rng = np.random.default_rng(20240615)
    reps, n, rho, effect = 1_500, 1_000, 0.6, 0.1
    raw, adjusted, reductions, covered = [], [], [], 0
    for _ in range(reps):
        yc, xc = correlated(rng, n, rho)
        yt, xt = correlated(rng, n, rho, effect)
        result = compare_adjusted(paired(yc, xc), paired(yt, xt))
        raw.append(result.unadjusted.absolute.estimate)
        adjusted.append(result.adjusted.absolute.estimate)
        reductions.append(result.variance_reduction)
        covered += result.adjusted.absolute.ci.covers(effect)
    raw, adjusted = np.array(raw), np.array(adjusted)
    ratio = adjusted.var() / raw.var()
    bias_se = adjusted.std() / np.sqrt(reps)
    report(
        capsys,
        f"CUPED over {reps} runs (rho {rho}): mean estimate {adjusted.mean():.4f} for a true "
        f"{effect} (SE of the mean {bias_se:.4f}); empirical variance ratio {ratio:.3f} vs "
        f"1 - rho² = {1 - rho**2:.3f}; mean reported reduction {np.mean(reductions):.3f}; "
        f"coverage {covered / reps:.4f}",
    )
    assert abs(adjusted.mean() - effect) < 4 * bias_se
    assert ratio == pytest.approx(1 - rho**2, abs=0.06)
    assert np.mean(reductions) == pytest.approx(rho**2, abs=0.02)
    assert abs(covered / reps - 0.95) < 0.02
