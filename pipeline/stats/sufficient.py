"""Sufficient statistics per experiment group, as produced by one SQL aggregate each.

Means and variances are properties that guard small n: they return 0.0 rather than dividing by
zero, and the tests that use them check `n` first and report a message code instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Proportion:
    """A binary metric: `successes` of `n` units (users who converted of users exposed)."""

    n: int
    successes: int

    def __post_init__(self) -> None:
        if self.n < 0 or self.successes < 0 or self.successes > self.n:
            raise ValueError(f"invalid counts: {self.successes} successes of {self.n}")

    @property
    def mean(self) -> float:
        return self.successes / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        """Bernoulli variance p(1 - p), the plug-in used by the two-proportion z interval."""
        p = self.mean
        return p * (1.0 - p)

    @property
    def std_error(self) -> float:
        return math.sqrt(self.variance / self.n) if self.n > 0 else 0.0


@dataclass(frozen=True)
class SampleMean:
    """A continuous metric per unit: n, sum and sum of squares (revenue per user)."""

    n: int
    sum: float
    sum_squares: float

    @property
    def mean(self) -> float:
        return self.sum / self.n if self.n > 0 else 0.0

    @property
    def variance(self) -> float:
        """Unbiased sample variance; 0.0 below two units (clipped at 0 against rounding)."""
        if self.n < 2:
            return 0.0
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)

    @property
    def std_error(self) -> float:
        return math.sqrt(self.variance / self.n) if self.n > 0 else 0.0


@dataclass(frozen=True)
class RatioMean:
    """A ratio of two per-unit sums (revenue / orders = average order value), unit = user.

    Units are users, not orders: a user's orders are not independent, so the variance comes
    from the delta method over per-user (numerator, denominator) pairs.
    """

    n: int
    numerator_sum: float
    numerator_sum_squares: float
    denominator_sum: float
    denominator_sum_squares: float
    cross_sum: float

    @property
    def numerator(self) -> SampleMean:
        return SampleMean(self.n, self.numerator_sum, self.numerator_sum_squares)

    @property
    def denominator(self) -> SampleMean:
        return SampleMean(self.n, self.denominator_sum, self.denominator_sum_squares)

    @property
    def covariance(self) -> float:
        if self.n < 2:
            return 0.0
        return (self.cross_sum - self.numerator_sum * self.denominator_sum / self.n) / (self.n - 1)

    @property
    def mean(self) -> float:
        return self.numerator_sum / self.denominator_sum if self.denominator_sum != 0 else 0.0

    @property
    def variance(self) -> float:
        """Per-unit delta-method variance of the ratio, so that SE² = variance / n."""
        m, d = self.numerator.mean, self.denominator.mean
        if self.n < 2 or d == 0:
            return 0.0
        value = (
            self.numerator.variance / d**2
            - 2 * self.covariance * m / d**3
            + self.denominator.variance * m**2 / d**4
        )
        return max(value, 0.0)

    @property
    def std_error(self) -> float:
        return math.sqrt(self.variance / self.n) if self.n > 0 else 0.0


@dataclass(frozen=True)
class Paired:
    """A metric and a pre-period covariate of the same units: CUPED's sufficient statistics.

    `metric` and `covariate` are Proportions (binary, variance p(1 - p)) or SampleMeans;
    `cross_sum` is the sum over units of metric x covariate."""

    metric: Proportion | SampleMean
    covariate: Proportion | SampleMean
    cross_sum: float

    def __post_init__(self) -> None:
        if self.metric.n != self.covariate.n:
            raise ValueError(
                f"metric and covariate count different units: {self.metric.n} and "
                f"{self.covariate.n}"
            )

    @property
    def n(self) -> int:
        return self.metric.n

    @property
    def covariance(self) -> float:
        """Sample covariance of metric and covariate (n - 1 denominator); 0.0 below two units."""
        if self.n < 2:
            return 0.0
        return (self.cross_sum - _sum(self.metric) * _sum(self.covariate) / self.n) / (self.n - 1)


def _sum(stat: Proportion | SampleMean) -> float:
    return float(stat.successes) if isinstance(stat, Proportion) else stat.sum


def sum_of(stat: Proportion | SampleMean) -> float:
    """The total of a binary or continuous metric."""
    return _sum(stat)


def sum_squares_of(stat: Proportion | SampleMean) -> float:
    """The sum of squares (a binary metric's equals its sum)."""
    return float(stat.successes) if isinstance(stat, Proportion) else stat.sum_squares
