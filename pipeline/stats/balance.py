"""Pre-period balance: did the groups look alike before the experiment started?

Randomization makes every pre-experiment quantity independent of assignment, so a difference
between the groups' pre-period conversion or revenue per user is either chance or a sign that
assignment depends on something it should not (a salt reused, a bucketing bug, users logged
differently by group). Each metric is compared with Welch's t-test (a share is the mean of a
0/1 value); p-values are Holm-adjusted across the balance tests and flagged below `alpha`, by
default the sample ratio check's 0.001: the check runs on every experiment at every readout,
and at 0.05 one clean experiment in twenty would be sent to investigate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.stats.frequentist import MeanResult, Moments, compare_means
from pipeline.stats.models import MessageCode
from pipeline.stats.multiple import holm
from pipeline.stats.srm import SRM_ALPHA


@dataclass(frozen=True)
class BalanceTest:
    metric: str
    label: str
    population: str
    comparison: MeanResult
    adjusted_p: float | None = None
    flagged: bool = False

    @property
    def p_value(self) -> float | None:
        return self.comparison.p_value


@dataclass(frozen=True)
class BalanceResult:
    """The balance tests of one readout; `message` says why there are none to read."""

    tests: tuple[BalanceTest, ...]
    alpha: float
    correction: str = "holm"
    message: MessageCode = "ok"

    @property
    def flagged(self) -> tuple[BalanceTest, ...]:
        return tuple(t for t in self.tests if t.flagged)


def balance_checks(
    metrics: Sequence[tuple[str, str, str, Moments, Moments]],
    alpha: float = SRM_ALPHA,
    *,
    has_pre_period: bool = True,
) -> BalanceResult:
    """(metric, label, population, control, treatment) pre-period moments -> Welch tests,
    Holm-adjusted across those with a p-value. Without a pre-period nothing is tested."""
    compared = [
        BalanceTest(metric, label, population, compare_means(control, treatment))
        for metric, label, population, control, treatment in metrics
    ]
    if not has_pre_period:
        return BalanceResult(tuple(compared), alpha, message="no_pre_period")
    adjusted = iter(holm([t.p_value for t in compared if t.p_value is not None]).tolist())
    tests = [
        t
        if t.p_value is None
        else replace(t, adjusted_p=(p := float(next(adjusted))), flagged=p < alpha)
        for t in compared
    ]
    return BalanceResult(tuple(tests), alpha)
