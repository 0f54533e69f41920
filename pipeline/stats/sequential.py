"""Always-valid (sequential) inference for a team that watches the experiment as it runs.

The asymptotic confidence sequence of Waudby-Smith et al. (2023), the one GrowthBook's
frequentist engine uses for sequential testing: a normal-mixture (mSPRT) boundary whose
mixing variance rho² is set by a tuning parameter N*, the sample size at which the sequence is
tightest relative to a fixed-horizon interval. GrowthBook's default N* is 5,000; set it near the
number of users you expect the experiment to reach.

    rho       = sqrt((-2 ln(alpha) + ln(-2 ln(alpha) + 1)) / N*)
    halfwidth = sigma * sqrt(2 (n rho² + 1) / (n² rho²) * ln(sqrt(n rho² + 1) / alpha))

with n the total units so far (both groups) and sigma² = SE² * n the per-unit variance of the
estimate. Inverting the same boundary at fixed rho gives the always-valid p-value

    p = min(1, sqrt(n rho² + 1) * exp(-estimate² n² rho² / (2 sigma² (n rho² + 1))))

so "p < alpha" at a look is exactly "the sequence excludes zero" at that look. Every function
accepts numpy arrays, so simulations call these same functions vectorized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from pipeline.stats.frequentist import conversion_degeneracy
from pipeline.stats.models import Interval, MessageCode
from pipeline.stats.sufficient import Proportion

DEFAULT_TUNING = 5_000.0


def mixing_rho(alpha: float, tuning: float = DEFAULT_TUNING) -> float:
    """The mixture's rho for tuning parameter N* (Waudby-Smith et al. 2023, eq. 161)."""
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    if tuning <= 0:
        raise ValueError("the sequential tuning parameter N* must be positive")
    log_alpha = np.log(alpha)
    return float(np.sqrt((-2 * log_alpha + np.log(-2 * log_alpha + 1)) / tuning))


def halfwidth(std_error, n_total, alpha: float = 0.05, tuning: float = DEFAULT_TUNING):
    """Half-width of the two-sided confidence sequence for an estimate with this SE at n."""
    rho2 = mixing_rho(alpha, tuning) ** 2
    n = np.asarray(n_total, dtype=float)
    sigma2 = np.asarray(std_error, dtype=float) ** 2 * n
    inner = 2 * (n * rho2 + 1) / (n**2 * rho2) * np.log(np.sqrt(n * rho2 + 1) / alpha)
    return np.sqrt(sigma2 * inner)


def always_valid_p(
    estimate, std_error, n_total, alpha: float = 0.05, tuning: float = DEFAULT_TUNING
):
    """Always-valid p-value against zero, from the same mixture boundary (rho fixed by alpha)."""
    rho2 = mixing_rho(alpha, tuning) ** 2
    n = np.asarray(n_total, dtype=float)
    est = np.asarray(estimate, dtype=float)
    sigma2 = np.asarray(std_error, dtype=float) ** 2 * n
    with np.errstate(divide="ignore", invalid="ignore"):
        exponent = np.where(
            sigma2 > 0, -(est**2) * n**2 * rho2 / (2 * sigma2 * (n * rho2 + 1)), -np.inf
        )
    exponent = np.where((sigma2 == 0) & (est == 0), 0.0, exponent)
    return np.minimum(1.0, np.sqrt(n * rho2 + 1) * np.exp(exponent))


@dataclass(frozen=True)
class Look:
    """One cumulative look: everything known at the end of week `week` (0-based)."""

    week: int
    control: Proportion
    treatment: Proportion
    message: MessageCode = "ok"
    estimate: float | None = None
    fixed_ci: Interval | None = None
    fixed_p: float | None = None
    sequential_ci: Interval | None = None
    sequential_p: float | None = None


@dataclass(frozen=True)
class SequentialResult:
    looks: tuple[Look, ...]
    alpha: float
    tuning: float
    rho: float
    message: MessageCode = "ok"

    @property
    def first_fixed_rejection(self) -> int | None:
        """First week a naive fixed-horizon test checked weekly would have declared a winner."""
        return next(
            (k.week for k in self.looks if k.fixed_p is not None and k.fixed_p < self.alpha), None
        )

    @property
    def first_sequential_rejection(self) -> int | None:
        """First week the confidence sequence excluded zero (safe to stop there)."""
        return next(
            (
                k.week
                for k in self.looks
                if k.sequential_p is not None and k.sequential_p < self.alpha
            ),
            None,
        )


def conversion_looks(
    cumulative: Sequence[tuple[Proportion, Proportion]],
    alpha: float = 0.05,
    tuning: float = DEFAULT_TUNING,
) -> SequentialResult:
    """Absolute conversion lift at each cumulative (control, treatment) look, with the fixed
    horizon interval beside the always-valid one."""
    rho = mixing_rho(alpha, tuning)
    z = float(special.ndtri(1 - alpha / 2))
    looks = []
    for week, (control, treatment) in enumerate(cumulative):
        message = conversion_degeneracy(control, treatment)
        if message != "ok":
            looks.append(Look(week, control, treatment, message))
            continue
        diff = treatment.mean - control.mean
        se = float(np.sqrt(control.variance / control.n + treatment.variance / treatment.n))
        n = control.n + treatment.n
        width = float(halfwidth(se, n, alpha, tuning))
        fixed_p = float(2 * special.ndtr(-abs(diff) / se)) if se > 0 else float(diff == 0)
        looks.append(
            Look(
                week,
                control,
                treatment,
                "ok",
                diff,
                Interval(diff - z * se, diff + z * se),
                fixed_p,
                Interval(diff - width, diff + width),
                float(always_valid_p(diff, se, n, alpha, tuning)),
            )
        )
    message: MessageCode = "ok"
    if len(looks) == 0:
        message = "empty_group"
    elif len(looks) == 1:
        message = "single_look"
    return SequentialResult(tuple(looks), alpha, tuning, rho, message)
