"""CUPED (Deng, Xu, Kohavi & Walker 2013): regression adjustment on a pre-period covariate.

Each unit's metric Y is replaced by Y - theta X, X being the same user's pre-period value.
theta is pooled across arms as in GrowthBook's gbstats (`compute_theta`): the covariance of Y and
X over all units of both arms divided by the variance of X over them. Randomization makes X
independent of assignment, so the adjusted difference of means estimates the same effect with
variance shrunk by about rho², rho the correlation of Y and X. The relative lift divides by the
unadjusted control mean (the quantity a reader knows), as gbstats does.

With no covariate variance (every user's pre-period is empty, e.g. the experiment starts on
the data's first day) theta is 0 and the adjusted result is the unadjusted one, with a message
code saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pipeline.stats.frequentist import MeanResult, compare_means, t_effect, welch_dof
from pipeline.stats.models import MessageCode
from pipeline.stats.sufficient import Paired, Proportion, SampleMean, sum_of, sum_squares_of


@dataclass(frozen=True)
class AdjustedMoments:
    """A group's CUPED-adjusted mean and per-unit variance (the Moments of frequentist)."""

    n: int
    mean: float
    variance: float
    unadjusted_mean: float


@dataclass(frozen=True)
class CupedResult:
    theta: float
    correlation: float | None  # pooled correlation of metric and covariate
    variance_reduction: float | None  # 1 - Var(adjusted diff) / Var(unadjusted diff)
    unadjusted: MeanResult
    adjusted: MeanResult
    message: MessageCode = "ok"


def _pooled(a: Paired, b: Paired) -> tuple[SampleMean, SampleMean, float]:
    n = a.n + b.n
    metric = SampleMean(
        n, sum_of(a.metric) + sum_of(b.metric), sum_squares_of(a.metric) + sum_squares_of(b.metric)
    )
    covariate = SampleMean(
        n,
        sum_of(a.covariate) + sum_of(b.covariate),
        sum_squares_of(a.covariate) + sum_squares_of(b.covariate),
    )
    cross = a.cross_sum + b.cross_sum
    covariance = (cross - metric.sum * covariate.sum / n) / (n - 1) if n > 1 else 0.0
    return metric, covariate, covariance


def pooled_theta(control: Paired, treatment: Paired) -> tuple[float, float | None]:
    """theta = Cov(Y, X) / Var(X) over both arms pooled, and the pooled correlation.

    As gbstats, binary metrics' joint variances use p(1 - p) (their Proportion form)."""
    metric, covariate, covariance = _pooled(control, treatment)
    var_y = _variance(metric, isinstance(control.metric, Proportion))
    var_x = _variance(covariate, isinstance(control.covariate, Proportion))
    if var_x <= 0 or var_y <= 0:
        return 0.0, None
    return covariance / var_x, covariance / math.sqrt(var_x * var_y)


def _variance(stat: SampleMean, binary: bool) -> float:
    if binary:
        p = stat.mean
        return p * (1 - p)
    return stat.variance


def adjusted_moments(group: Paired, theta: float) -> AdjustedMoments:
    """Mean of Y - theta X and its per-unit variance Var(Y) + theta² Var(X) - 2 theta Cov."""
    y, x = group.metric, group.covariate
    variance = y.variance + theta**2 * x.variance - 2 * theta * group.covariance
    return AdjustedMoments(
        group.n, y.mean - theta * x.mean, max(variance, 0.0) if group.n > 1 else 0.0, y.mean
    )


def compare_adjusted(
    control: Paired, treatment: Paired, alpha: float = 0.05, *, has_pre_period: bool = True
) -> CupedResult:
    """The unadjusted Welch comparison and the CUPED-adjusted one, side by side."""
    unadjusted = compare_means(control.metric, treatment.metric, alpha)
    if unadjusted.message != "ok":
        return CupedResult(0.0, None, None, unadjusted, unadjusted, unadjusted.message)
    theta, rho = pooled_theta(control, treatment)
    if theta == 0.0:
        code: MessageCode = "no_covariate_variance" if has_pre_period else "no_pre_period"
        return CupedResult(0.0, rho, 0.0, unadjusted, unadjusted, code)
    c, t = adjusted_moments(control, theta), adjusted_moments(treatment, theta)
    diff = t.mean - c.mean
    variance = c.variance / c.n + t.variance / t.n
    if not variance > 0:
        return CupedResult(theta, rho, None, unadjusted, unadjusted, "zero_variance")
    dof = welch_dof(c, t)
    std_error = math.sqrt(variance)
    relative, relative_message = None, "ok"
    if c.unadjusted_mean == 0:
        relative_message = "zero_baseline"
    else:
        mc, mt = c.unadjusted_mean, t.unadjusted_mean
        rel_var = t.variance / (mc**2 * t.n) + c.variance * mt**2 / (mc**4 * c.n)
        relative = t_effect(diff / abs(mc), math.sqrt(rel_var), dof, alpha)
    adjusted = MeanResult(
        control_mean=c.mean,
        treatment_mean=t.mean,
        n_control=c.n,
        n_treatment=t.n,
        alpha=alpha,
        dof=dof,
        t_statistic=diff / std_error,
        absolute=t_effect(diff, std_error, dof, alpha),
        relative=relative,
        relative_message=relative_message,
    )
    assert unadjusted.absolute is not None
    reduction = 1 - variance / unadjusted.absolute.std_error**2
    return CupedResult(theta, rho, reduction, unadjusted, adjusted)
