"""Fixed-horizon frequentist comparisons of Treatment against Control.

Conversion: the verdict uses the two-sided two-proportion z-test with the unpooled (Wald)
standard error, the test that the printed interval inverts, so "significant" and "the
interval excludes zero" can never disagree (the seed used Yates' chi-square beside the Wald
interval: 100/1000 vs 128/1000 gave an interval excluding zero with p = 0.057). It is also the
test GrowthBook's frequentist engine runs on proportions. The chi-square test of independence,
with and without Yates' correction, is still reported as a cross-check; it is computed in
closed form with scipy.special (chi2_contingency costs about a millisecond a call, too slow
for the simulation tests; tests/stats pins the two equal). Relative lifts use the delta
method, divided by |baseline| as gbstats does, so a negative baseline keeps the sign of the
change. Means (revenue per user, revenue per order) use Welch's unequal-variance t-test with
the Welch-Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from scipy import special

from pipeline.stats.models import MESSAGES, Interval, MessageCode
from pipeline.stats.sufficient import Proportion, RatioMean


class Moments(Protocol):
    """What a comparison needs from a group: size, mean and per-unit variance."""

    @property
    def n(self) -> int: ...

    @property
    def mean(self) -> float: ...

    @property
    def variance(self) -> float: ...


@dataclass(frozen=True)
class Effect:
    """A lift with its standard error, interval and two-sided p-value against zero."""

    estimate: float
    std_error: float
    ci: Interval
    p_value: float


@dataclass(frozen=True)
class ChiSquare:
    statistic: float
    p_value: float
    yates: bool


@dataclass(frozen=True)
class ConversionResult:
    """The verdict's test is the Wald z-test of `absolute`: p < alpha exactly when its
    interval excludes zero. The chi-squares are cross-checks."""

    control: Proportion
    treatment: Proportion
    alpha: float
    message: MessageCode = "ok"
    pearson: ChiSquare | None = None
    yates: ChiSquare | None = None
    absolute: Effect | None = None
    relative: Effect | None = None
    relative_message: MessageCode = "ok"

    @property
    def p_value(self) -> float | None:
        """The p-value the verdict uses (None when no test was possible)."""
        return None if self.absolute is None else self.absolute.p_value

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha

    @property
    def explanation(self) -> str:
        return MESSAGES[self.message]


@dataclass(frozen=True)
class MeanResult:
    """Welch's t-test on the difference of means, plus the delta-method relative lift."""

    control_mean: float
    treatment_mean: float
    n_control: int
    n_treatment: int
    alpha: float
    message: MessageCode = "ok"
    dof: float | None = None
    t_statistic: float | None = None
    absolute: Effect | None = None
    relative: Effect | None = None
    relative_message: MessageCode = "ok"

    @property
    def p_value(self) -> float | None:
        return None if self.absolute is None else self.absolute.p_value

    @property
    def significant(self) -> bool:
        return self.p_value is not None and self.p_value < self.alpha


def relative_variance(control: Moments, treatment: Moments) -> float:
    """Delta-method variance of (mean_t - mean_c) / |mean_c| (GrowthBook's statistical details;
    the sign of the denominator does not change the variance)."""
    mc, mt = control.mean, treatment.mean
    return treatment.variance / (mc**2 * treatment.n) + control.variance * mt**2 / (
        mc**4 * control.n
    )


def z_effect(estimate: float, std_error: float, alpha: float) -> Effect:
    """Normal interval and two-sided p-value (std_error must be positive)."""
    z = float(special.ndtri(1 - alpha / 2))
    p_value = float(2 * special.ndtr(-abs(estimate) / std_error))
    return Effect(
        estimate, std_error, Interval(estimate - z * std_error, estimate + z * std_error), p_value
    )


def t_effect(estimate: float, std_error: float, dof: float, alpha: float) -> Effect:
    """Student-t interval and two-sided p-value (std_error must be positive)."""
    q = float(special.stdtrit(dof, 1 - alpha / 2))
    p_value = float(2 * special.stdtr(dof, -abs(estimate) / std_error))
    return Effect(
        estimate, std_error, Interval(estimate - q * std_error, estimate + q * std_error), p_value
    )


def chi_square(control: Proportion, treatment: Proportion, yates: bool) -> ChiSquare:
    """Chi-square test of independence on the 2x2 table (1 degree of freedom).

    Every cell of a 2x2 table has the same |observed - expected|; Yates subtracts
    min(0.5, |O - E|) from it, exactly as scipy.stats.chi2_contingency(correction=True) does.
    """
    total = control.n + treatment.n
    converted = control.successes + treatment.successes
    expected = [
        control.n * converted / total,
        control.n * (total - converted) / total,
        treatment.n * converted / total,
        treatment.n * (total - converted) / total,
    ]
    deviation = abs(control.successes - expected[0])
    if yates:
        deviation -= min(0.5, deviation)
    statistic = deviation**2 * sum(1 / e for e in expected)
    return ChiSquare(float(statistic), float(special.chdtrc(1, statistic)), yates)


def conversion_degeneracy(control: Proportion, treatment: Proportion) -> MessageCode:
    """Why no test is possible, or "ok": an empty group, one user in a group (no variance can
    be estimated), no or only conversions, or no variation within either group (SE = 0)."""
    if control.n == 0 or treatment.n == 0:
        return "empty_group"
    if control.n < 2 or treatment.n < 2:
        return "too_few_units"
    converted = control.successes + treatment.successes
    if converted == 0:
        return "no_conversions"
    if converted == control.n + treatment.n:
        return "all_converted"
    if control.variance == 0 and treatment.variance == 0:
        return "zero_variance"
    return "ok"


def compare_conversion(
    control: Proportion, treatment: Proportion, alpha: float = 0.05
) -> ConversionResult:
    """Wald z-test and interval on the absolute lift (the verdict), relative lift (delta
    method), and the chi-square cross-checks."""
    message = conversion_degeneracy(control, treatment)
    if message != "ok":
        return ConversionResult(control, treatment, alpha, message)
    diff = treatment.mean - control.mean
    absolute = z_effect(
        diff, math.sqrt(control.variance / control.n + treatment.variance / treatment.n), alpha
    )
    relative, relative_message = _relative(control, treatment, diff, alpha, dof=None)
    return ConversionResult(
        control,
        treatment,
        alpha,
        "ok",
        pearson=chi_square(control, treatment, yates=False),
        yates=chi_square(control, treatment, yates=True),
        absolute=absolute,
        relative=relative,
        relative_message=relative_message,
    )


def _relative(
    control: Moments, treatment: Moments, diff: float, alpha: float, dof: float | None
) -> tuple[Effect | None, MessageCode]:
    if control.mean == 0:
        return None, "zero_baseline"
    variance = relative_variance(control, treatment)
    if not variance > 0:
        return None, "zero_variance"
    estimate = diff / abs(control.mean)
    if dof is None:
        return z_effect(estimate, math.sqrt(variance), alpha), "ok"
    return t_effect(estimate, math.sqrt(variance), dof, alpha), "ok"


def welch_dof(control: Moments, treatment: Moments) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    vc, vt = control.variance / control.n, treatment.variance / treatment.n
    return (vc + vt) ** 2 / (vc**2 / (control.n - 1) + vt**2 / (treatment.n - 1))


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def compare_means(control: Moments, treatment: Moments, alpha: float = 0.05) -> MeanResult:
    """Welch's t-test and interval on the difference of means; relative lift by delta method."""
    base = {
        "control_mean": control.mean,
        "treatment_mean": treatment.mean,
        "n_control": control.n,
        "n_treatment": treatment.n,
        "alpha": alpha,
    }
    if control.n == 0 or treatment.n == 0:
        return MeanResult(**base, message="empty_group")
    if not _finite(control.mean, treatment.mean, control.variance, treatment.variance):
        return MeanResult(**base, message="non_finite")
    if control.n < 2 or treatment.n < 2:
        return MeanResult(**base, message="too_few_units")
    if control.variance == 0 and treatment.variance == 0:
        return MeanResult(**base, message="zero_variance")
    diff = treatment.mean - control.mean
    std_error = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    dof = welch_dof(control, treatment)
    relative, relative_message = _relative(control, treatment, diff, alpha, dof)
    return MeanResult(
        **base,
        dof=dof,
        t_statistic=diff / std_error,
        absolute=t_effect(diff, std_error, dof, alpha),
        relative=relative,
        relative_message=relative_message,
    )


def compare_ratios(control: RatioMean, treatment: RatioMean, alpha: float = 0.05) -> MeanResult:
    """Welch's test on a ratio metric (revenue per order): undefined when a group's
    denominator is zero (no orders), which would otherwise read as a ratio of 0."""
    if control.n > 0 and treatment.n > 0:
        sums = (
            control.numerator_sum,
            control.denominator_sum,
            treatment.numerator_sum,
            treatment.denominator_sum,
        )
        if not _finite(*sums):
            return MeanResult(
                control.mean, treatment.mean, control.n, treatment.n, alpha, "non_finite"
            )
        if control.denominator_sum == 0 or treatment.denominator_sum == 0:
            return MeanResult(
                control.mean, treatment.mean, control.n, treatment.n, alpha, "no_denominator"
            )
    return compare_means(control, treatment, alpha)
