"""Power for the two-proportion test: the minimum detectable effect of the observed sample and
the sample a chosen effect needs, for the test the verdict uses (the unpooled Wald z-test,
whose standard error is the alternative's, so null and alternative spreads coincide; the
tests check it against statsmodels' NormalIndPower and by simulation).

The uncorrected chi-square is the pooled z-test: its standard error uses the pooled proportion
under the null and the unpooled one under the alternative, the formulation of statsmodels'
`power_proportions_2indep` and Fleiss' sample-size formula (the tests check both). Yates'
chi-square (the verdict's default) is the same z-test on |difference| less the continuity
correction (1/n_control + 1/n_treatment) / 2, so it needs a larger sample: its power shifts the
rejection boundary by that correction, and its sample size is Fleiss' formula with continuity
correction (Fleiss, Levin & Paik, Statistical Methods for Rates and Proportions, eq. 4.14), the
exact solution of the same normal approximation (the tests check it against the exact
binomial power of scipy's chi2_contingency).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize, stats

from pipeline.stats.models import MessageCode

DEFAULT_POWER = 0.8
# "wald": the unpooled two-proportion z-test (the readout's verdict); "pearson": the pooled
# z-test (= uncorrected chi-square); "yates": the continuity-corrected chi-square.
PowerTest = Literal["wald", "pearson", "yates"]


@dataclass(frozen=True)
class PowerResult:
    baseline: float
    n_control: int
    n_treatment: int
    alpha: float
    power: float
    mde_absolute: float | None
    mde_relative: float | None
    target_relative_lift: float
    required_per_group: int | None
    message: MessageCode = "ok"
    test: PowerTest = "wald"  # the test the figures are computed for (the verdict's)
    true_effect: float | None = None  # an absolute effect known to be there (injected truth)
    power_at_true_effect: float | None = None  # this sample's power to detect it


def continuity_correction(n_control: float, n_treatment: float) -> float:
    """Yates' 0.5 on |observed - expected| of a 2x2 table, on the difference-of-rates scale."""
    return 0.5 * (1 / n_control + 1 / n_treatment)


def power_two_proportions(
    baseline: float,
    diff: float,
    n_control: float,
    n_treatment: float,
    alpha: float = 0.05,
    continuity: bool = False,
    pooled: bool = True,
) -> float:
    """Probability that the two-sided pooled z-test (with `continuity`: Yates' chi-square;
    with `pooled=False`: the unpooled Wald z-test the readout's verdict uses) rejects when
    Treatment = baseline + diff."""
    treated = baseline + diff
    ratio = n_treatment / n_control
    shared = (baseline + ratio * treated) / (1 + ratio)
    sd_alt = np.sqrt(baseline * (1 - baseline) / n_control + treated * (1 - treated) / n_treatment)
    # The Wald test's standard error is estimated from the data, i.e. under the alternative.
    sd_null = (
        np.sqrt(shared * (1 - shared) * (1 / n_control + 1 / n_treatment)) if pooled else sd_alt
    )
    z = stats.norm.ppf(1 - alpha / 2)
    # Reject when |d| - correction > z sd_null: the boundary moves out by the correction.
    boundary = z * sd_null + (continuity_correction(n_control, n_treatment) if continuity else 0)
    upper = stats.norm.cdf((abs(diff) - boundary) / sd_alt)
    lower = stats.norm.cdf((-abs(diff) - boundary) / sd_alt)
    return float(upper + lower)


def minimum_detectable_effect(
    baseline: float,
    n_control: int,
    n_treatment: int,
    alpha: float = 0.05,
    power: float = DEFAULT_POWER,
    continuity: bool = False,
    pooled: bool = True,
) -> float | None:
    """Smallest absolute increase detected with the given power; None if none is."""
    ceiling = 1 - baseline - 1e-12
    if ceiling <= 0 or n_control == 0 or n_treatment == 0:
        return None

    def gap(diff: float) -> float:
        return (
            power_two_proportions(baseline, diff, n_control, n_treatment, alpha, continuity, pooled)
            - power
        )

    if gap(ceiling) < 0:
        return None

    return float(optimize.brentq(gap, 1e-12, ceiling, xtol=1e-12))


def sample_size_per_group(
    baseline: float,
    relative_lift: float,
    alpha: float = 0.05,
    power: float = DEFAULT_POWER,
    continuity: bool = False,
    pooled: bool = True,
) -> int | None:
    """Users per group (equal split) to detect baseline -> baseline * (1 + lift) (Fleiss; with
    `continuity`, Fleiss' continuity-corrected n' = n/4 (1 + sqrt(1 + 4 / (n |diff|)))², for
    Yates' chi-square); None when the effect is not a valid proportion change."""
    treated = baseline * (1 + relative_lift)
    diff = treated - baseline
    if not (0 < baseline < 1 and 0 < treated < 1) or diff == 0:
        return None
    shared = (baseline + treated) / 2
    z_alpha = stats.norm.ppf(1 - alpha / 2)
    z_beta = stats.norm.ppf(power)
    spread = math.sqrt(baseline * (1 - baseline) + treated * (1 - treated))
    null_spread = math.sqrt(2 * shared * (1 - shared)) if pooled else spread
    root = z_alpha * null_spread + z_beta * spread
    n = root**2 / diff**2
    if continuity:
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * abs(diff)))) ** 2
    return math.ceil(n)


def power_analysis(
    baseline: float,
    n_control: int,
    n_treatment: int,
    alpha: float = 0.05,
    power: float = DEFAULT_POWER,
    target_relative_lift: float = 0.05,
    test: PowerTest = "wald",
    true_effect: float | None = None,
) -> PowerResult:
    """MDE of the observed sample and the sample needed for `target_relative_lift`, for the
    `test` the verdict uses (the Wald z-test by default); with `true_effect` (an absolute
    difference, e.g. the injected truth), the power this sample had to detect it."""
    continuity, pooled = test == "yates", test != "wald"
    if n_control == 0 or n_treatment == 0:
        return PowerResult(
            baseline,
            n_control,
            n_treatment,
            alpha,
            power,
            None,
            None,
            target_relative_lift,
            None,
            "empty_group",
            test,
        )
    message: MessageCode = "ok"
    if baseline <= 0:
        message = "zero_baseline"
    elif baseline >= 1:
        message = "all_converted"
    mde = minimum_detectable_effect(
        baseline, n_control, n_treatment, alpha, power, continuity, pooled
    )
    at_truth = None
    if true_effect is not None and 0 < baseline < 1 and 0 <= baseline + true_effect <= 1:
        at_truth = power_two_proportions(
            baseline, true_effect, n_control, n_treatment, alpha, continuity, pooled
        )
    return PowerResult(
        baseline,
        n_control,
        n_treatment,
        alpha,
        power,
        mde,
        mde / baseline if mde is not None and baseline > 0 else None,
        target_relative_lift,
        sample_size_per_group(baseline, target_relative_lift, alpha, power, continuity, pooled),
        message,
        test,
        true_effect,
        at_truth,
    )
