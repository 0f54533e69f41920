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
