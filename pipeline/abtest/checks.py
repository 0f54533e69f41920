"""The validity checks below the whole population: sample ratio by day of entry and by each
segment dimension, and the pre-period balance of the groups.

The whole-population sample ratio test misses a split broken on one day (a deploy, a logging
outage) or in one segment (returning users bucketed differently) when the rest is large; the
checks here catch those. A flagged check does not say the effect is wrong, it says the
experiment cannot be read until someone looks: the decision becomes "investigate", with the
reason (pipeline.abtest.decision).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.abtest.queries import GroupStats, SampleRatioCounts
from pipeline.stats.balance import BalanceResult, balance_checks
from pipeline.stats.srm import SrmFamily, srm_family
from pipeline.stats.sufficient import Proportion, SampleMean

# The dimensions of sql/readout/sample_ratio.sql, in the order the readout shows them.
DIMENSIONS = ("day", "entry_month", "user_type")
DIMENSION_WORDS = {"day": "day of entry", "entry_month": "month of entry", "user_type": "user type"}


def sample_ratio_families(
    counts: Sequence[SampleRatioCounts], alpha: float
) -> tuple[SrmFamily, ...]:
    """One family per dimension (days first), each Holm-adjusted across its slices."""
    return tuple(
        srm_family(
            dimension,
            [(c.segment, (c.control, c.treatment)) for c in counts if c.dimension == dimension],
            alpha,
        )
        for dimension in DIMENSIONS
    )


def _sample(p: Proportion) -> SampleMean:
    """A share as the mean of a 0/1 value (its sum of squares is its sum), so the balance
    test's variance is the unbiased sample variance, as Welch's test takes it."""
    return SampleMean(p.n, float(p.successes), float(p.successes))


def pre_period_balance(
    exposed: tuple[GroupStats, GroupStats],
    everyone: tuple[GroupStats, GroupStats],
    alpha: float,
    has_pre_period: bool,
) -> BalanceResult:
    """Pre-experiment conversion of the primary population and pre-experiment revenue per user
    of all users, by group: the covariates CUPED adjusts with, which assignment cannot have
    moved."""
    (ec, et), (ac, at) = exposed, everyone
    conversion = (ec.conversion.covariate, et.conversion.covariate)
    assert isinstance(conversion[0], Proportion) and isinstance(conversion[1], Proportion)
    return balance_checks(
        [
            (
                "pre_cart_conversion",
                "pre-period conversion",
                "exposed",
                _sample(conversion[0]),
                _sample(conversion[1]),
            ),
            (
                "pre_revenue_per_user",
                "pre-period revenue per user",
                "all",
                ac.revenue.covariate,
                at.revenue.covariate,
            ),
        ],
        alpha,
        has_pre_period=has_pre_period,
    )


def investigations(
    families: Sequence[SrmFamily], balance: BalanceResult, per_family: int = 3
) -> list[str]:
    """Why the experiment needs a look before it is read, in words (empty: nothing)."""
    reasons = []
    for fam in families:
        flagged = fam.flagged
        if not flagged:
            continue
        shown = ", ".join(
            f"{c.segment} ({c.result.observed[0]:,} vs {c.result.observed[1]:,}, adjusted p = "
            f"{c.adjusted_p:.2g})"
            for c in flagged[:per_family]
        )
        more = f" and {len(flagged) - per_family} more" if len(flagged) > per_family else ""
        reasons.append(
            f"Sample ratio mismatch by {DIMENSION_WORDS.get(fam.dimension, fam.dimension)} "
            f"(Holm across {fam.tests} slices, alpha {fam.alpha}): {shown}{more}."
        )
    for test in balance.flagged:
        c = test.comparison
        reasons.append(
            f"Pre-period imbalance in {test.label}: {c.control_mean:.4g} in Control vs "
            f"{c.treatment_mean:.4g} in Treatment before the experiment began (adjusted p = "
            f"{test.adjusted_p:.2g}, Holm across {len(balance.tests)} balance tests, alpha "
            f"{balance.alpha}); the groups differed before the change could act."
        )
    return reasons
