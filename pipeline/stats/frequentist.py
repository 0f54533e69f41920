"""Fixed-horizon frequentist comparisons of Treatment against Control.

Conversion keeps the seed's test, the chi-square test of independence on the 2x2 table of
converted / not converted users per group, reported with and without Yates' continuity
correction; the verdict uses the one named in `verdict_test` (Yates by default: it is the default
of the seed's `scipy.stats.chi2_contingency`). The statistic is computed in closed form with
scipy.special rather than by calling chi2_contingency, which costs about a millisecond a call
and would make the simulation tests slow; tests/stats pins it equal to chi2_contingency. Lifts come with
normal intervals: the two-proportion (Wald) interval for the absolute lift and the delta
method for the relative lift, as GrowthBook documents. Means (revenue per user, average order
value) use Welch's unequal-variance t-test with the Welch-Satterthwaite degrees of freedom.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

from scipy import special

from pipeline.stats.models import MESSAGES, Interval, MessageCode
from pipeline.stats.sufficient import Proportion

ChiSquareVariant = Literal["yates", "pearson"]


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
    control: Proportion
    treatment: Proportion
    alpha: float
    verdict_test: ChiSquareVariant
    message: MessageCode = "ok"
    pearson: ChiSquare | None = None
    yates: ChiSquare | None = None
    absolute: Effect | None = None
    relative: Effect | None = None
    relative_message: MessageCode = "ok"

    @property
    def p_value(self) -> float | None:
        """The p-value the verdict uses (None when no test was possible)."""
        test = self.yates if self.verdict_test == "yates" else self.pearson
        return None if test is None else test.p_value

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
    """Delta-method variance of (mean_t - mean_c) / mean_c (GrowthBook's statistical details)."""
    mc, mt = control.mean, treatment.mean
    return treatment.variance / (mc**2 * treatment.n) + control.variance * mt**2 / (
        mc**4 * control.n
    )


def _normal_effect(estimate: float, std_error: float, alpha: float) -> Effect:
    z = float(special.ndtri(1 - alpha / 2))
    if std_error == 0:
        p_value = 0.0 if estimate != 0 else 1.0
    else:
        p_value = float(2 * special.ndtr(-abs(estimate) / std_error))
    return Effect(
        estimate,
        std_error,
        Interval(estimate - z * std_error, estimate + z * std_error),
        p_value,
    )


def _t_effect(estimate: float, std_error: float, dof: float, alpha: float) -> Effect:
    q = float(special.stdtrit(dof, 1 - alpha / 2))
    p_value = float(2 * special.stdtr(dof, -abs(estimate) / std_error)) if std_error > 0 else 1.0
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
    if control.n == 0 or treatment.n == 0:
        return "empty_group"
    converted = control.successes + treatment.successes
    if converted == 0:
        return "no_conversions"
    if converted == control.n + treatment.n:
        return "all_converted"
    return "ok"


def compare_conversion(
    control: Proportion,
    treatment: Proportion,
    alpha: float = 0.05,
    verdict_test: ChiSquareVariant = "yates",
) -> ConversionResult:
    """Chi-square tests, absolute lift (two-proportion interval), relative lift (delta method)."""
    message = conversion_degeneracy(control, treatment)
    if message != "ok":
        return ConversionResult(control, treatment, alpha, verdict_test, message)
    diff = treatment.mean - control.mean
    absolute = _normal_effect(
        diff, math.sqrt(control.variance / control.n + treatment.variance / treatment.n), alpha
    )
    relative, relative_message = None, "ok"
    if control.mean == 0:
        relative_message = "zero_baseline"
    else:
        relative = _normal_effect(
            diff / control.mean, math.sqrt(relative_variance(control, treatment)), alpha
        )
    return ConversionResult(
        control,
        treatment,
        alpha,
        verdict_test,
        "ok",
        pearson=chi_square(control, treatment, yates=False),
        yates=chi_square(control, treatment, yates=True),
        absolute=absolute,
        relative=relative,
        relative_message=relative_message,
    )


def welch_dof(control: Moments, treatment: Moments) -> float:
    """Welch-Satterthwaite degrees of freedom."""
    vc, vt = control.variance / control.n, treatment.variance / treatment.n
    return (vc + vt) ** 2 / (vc**2 / (control.n - 1) + vt**2 / (treatment.n - 1))


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
    if control.n < 2 or treatment.n < 2:
        return MeanResult(**base, message="too_few_units")
    if control.variance == 0 and treatment.variance == 0:
        return MeanResult(**base, message="zero_variance")
    diff = treatment.mean - control.mean
    std_error = math.sqrt(control.variance / control.n + treatment.variance / treatment.n)
    dof = welch_dof(control, treatment)
    absolute = _t_effect(diff, std_error, dof, alpha)
    relative, relative_message = None, "ok"
    if control.mean == 0:
        relative_message = "zero_baseline"
    else:
        relative = _t_effect(
            diff / control.mean, math.sqrt(relative_variance(control, treatment)), dof, alpha
        )
    return MeanResult(
        **base,
        dof=dof,
        t_statistic=diff / std_error,
        absolute=absolute,
        relative=relative,
        relative_message=relative_message,
    )
