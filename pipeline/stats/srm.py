"""Sample ratio mismatch: are the group sizes what the 50/50 design predicts?

Checked first because an SRM means assignment or logging is broken, and then no lift estimate
can be trusted. Threshold p < 0.001, the convention of GrowthBook, Eppo and Statsig (a strict
threshold keeps false alarms rare when every experiment is checked).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats

from pipeline.stats.models import MESSAGES, MessageCode

SRM_ALPHA = 0.001


@dataclass(frozen=True)
class SrmResult:
    observed: tuple[int, ...]
    expected: tuple[float, ...]
    statistic: float
    p_value: float
    alpha: float
    flagged: bool
    message: MessageCode = "ok"

    @property
    def warning(self) -> str:
        if sum(self.observed) == 0:
            return f"SRM check not possible: {MESSAGES[self.message]}."
        if not self.flagged:
            return ""
        return (
            f"Sample ratio mismatch (chi-square p = {self.p_value:.2g} < {self.alpha}): the groups "
            "are not split as designed, so the results below CANNOT BE TRUSTED. Fix assignment "
            "or logging before reading any lift."
        )


def srm_test(
    observed: Sequence[int], weights: Sequence[float] = (0.5, 0.5), alpha: float = SRM_ALPHA
) -> SrmResult:
    """Chi-square goodness of fit of the group sizes against the design weights."""
    total = sum(observed)
    share = sum(weights)
    expected = tuple(total * w / share for w in weights)
    if total == 0:
        return SrmResult(tuple(observed), expected, 0.0, 1.0, alpha, False, "empty_group")
    # Hand-written (one line): scipy.stats.chisquare is the independent check in the tests.
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    p_value = float(stats.chi2.sf(statistic, df=len(observed) - 1))
    message: MessageCode = "empty_group" if any(n == 0 for n in observed) else "ok"
    return SrmResult(
        tuple(int(n) for n in observed),
        expected,
        float(statistic),
        p_value,
        alpha,
        p_value < alpha,
        message,
    )


@dataclass(frozen=True)
class SrmCheck:
    """One slice's sample ratio test, adjusted across its family."""

    segment: str
    result: SrmResult
    adjusted_p: float | None  # None: the slice has no users
    flagged: bool


@dataclass(frozen=True)
class SrmFamily:
    """The sample ratio checks of one dimension (every day of entry, every entry month, ...),
    Holm-adjusted across the dimension's slices so that the chance of any false alarm in the
    family stays at most `alpha`."""

    dimension: str
    alpha: float
    checks: tuple[SrmCheck, ...]
    correction: str = "holm"

    @property
    def tests(self) -> int:
        return sum(c.adjusted_p is not None for c in self.checks)

    @property
    def flagged(self) -> tuple[SrmCheck, ...]:
        return tuple(c for c in self.checks if c.flagged)


def srm_family(
    dimension: str,
    slices: Sequence[tuple[str, Sequence[int]]],
    alpha: float = SRM_ALPHA,
    weights: Sequence[float] = (0.5, 0.5),
) -> SrmFamily:
    """A chi-square per slice (segment, observed per group), Holm across the slices with users;
    a slice is flagged when its adjusted p-value is below `alpha`."""
    from pipeline.stats.multiple import holm

    results = [(segment, srm_test(observed, weights, alpha)) for segment, observed in slices]
    testable = [r.p_value for _, r in results if sum(r.observed) > 0]
    adjusted = iter(holm(testable).tolist())
    checks = []
    for segment, result in results:
        p = float(next(adjusted)) if sum(result.observed) > 0 else None
        checks.append(SrmCheck(segment, result, p, p is not None and p < alpha))
    return SrmFamily(dimension, alpha, tuple(checks))
