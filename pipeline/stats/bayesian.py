"""A Bayesian view of the same comparisons: chance to beat control and expected loss.

GrowthBook's Bayesian engine (gbstats `EffectBayesianABTest`): the lift, relative by default,
gets a Gaussian posterior centred on the estimate with the delta-method variance (a flat
prior; a proper Gaussian prior shrinks it). Then

    chance to beat control = P(lift > 0)
    expected loss of shipping Treatment = E[max(-lift, 0)]
    expected loss of keeping Control   = E[max(lift, 0)]

both in closed form for a normal N(mu, s²): E[max(X, 0)] = mu Phi(mu/s) + s phi(mu/s)
(tests/stats checks every figure against gbstats itself, run in its own venv, and the loss by
numerical integration). The losses are in the lift's units: relative (a share of the control
mean) or absolute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from scipy import special

from pipeline.stats.frequentist import Moments, relative_variance
from pipeline.stats.models import Interval, MessageCode

LiftScale = Literal["relative", "absolute"]


@dataclass(frozen=True)
class GaussianPrior:
    """A prior on the lift (in the test's scale); improper (flat) unless `proper`."""

    mean: float = 0.0
    variance: float = 1.0
    proper: bool = False


@dataclass(frozen=True)
class BayesianResult:
    scale: LiftScale
    alpha: float
    message: MessageCode = "ok"
    posterior_mean: float | None = None
    posterior_sd: float | None = None
    credible_interval: Interval | None = None
    chance_to_win: float | None = None
    loss_if_shipped: float | None = None  # expected lift lost by choosing Treatment
    loss_if_kept: float | None = None  # expected lift forgone by keeping Control


def expected_positive_part(mu: float, sd: float) -> float:
    """E[max(X, 0)] for X ~ N(mu, sd²)."""
    z = mu / sd
    return mu * float(special.ndtr(z)) + sd * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def compare_bayesian(
    control: Moments,
    treatment: Moments,
    alpha: float = 0.05,
    scale: LiftScale = "relative",
    prior: GaussianPrior | None = None,
) -> BayesianResult:
    """Posterior of the lift of Treatment over Control from per-group moments."""
    prior = prior or GaussianPrior()
    if control.n == 0 or treatment.n == 0:
        return BayesianResult(scale, alpha, "empty_group")
    if scale == "relative" and control.mean == 0:
        return BayesianResult(scale, alpha, "zero_baseline")
    if not (control.variance > 0 and treatment.variance > 0):
        return BayesianResult(scale, alpha, "zero_variance")
    diff = treatment.mean - control.mean
    if scale == "relative":
        estimate = diff / abs(control.mean)
        variance = relative_variance(control, treatment)
    else:
        estimate = diff
        variance = control.variance / control.n + treatment.variance / treatment.n
    if not (math.isfinite(estimate) and math.isfinite(variance)):
        return BayesianResult(scale, alpha, "non_finite")
    precision = 1 / variance + (1 / prior.variance if prior.proper else 0.0)
    mean = (
        (estimate / variance + prior.mean / prior.variance) / precision
        if prior.proper
        else estimate
    )
    sd = math.sqrt(1 / precision)
    z = float(special.ndtri(1 - alpha / 2))
    return BayesianResult(
        scale,
        alpha,
        "ok",
        mean,
        sd,
        Interval(mean - z * sd, mean + z * sd),
        float(special.ndtr(mean / sd)),
        expected_positive_part(-mean, sd),
        expected_positive_part(mean, sd),
    )
