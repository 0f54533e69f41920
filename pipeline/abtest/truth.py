"""The injected truth: the effect the demo's injection put into this sample, defined as the
quantity the estimate estimates, so "the interval covers the truth" is a fair check.

The estimate is the difference (and the ratio) of the two groups' conversion rates. Users are
assigned at random, so it estimates the population's conversion with the change minus its
conversion without it (for the relative lift: divided by conversion without it), and its
interval is built for exactly that. The truth is therefore computed over every user of the
population, both groups together, not over Treatment alone:

    baseline  = (converters without the injection, both groups) / users
    absolute  = sum over users who would not have bought of 1 - (1 - rate)^carts, / users
    relative  = absolute / baseline

A user who would not have bought, with k raw cart events in the period, buys under the
injection with probability 1 - (1 - rate)^k (each cart is drawn on its own); the truth takes
that expectation rather than one draw. It is the population's effect measured on every user we
have; as a finite-sample value it is covered a little more often than 95% (Neyman: the
interval also carries the spread of the users' individual effects), while the population
value itself is covered 95% of the time. docs/explanation/statistics.md derives why the earlier
definition (Treatment's own lift over Treatment's rate without the injection) made the relative
interval under-cover and the absolute one over-cover; tests/stats/test_stats_estimand.py
simulates all three.

The carts are those of the sessions the warehouse puts in the period (ending on or after the
start day). A session that began the evening before the start day counts its earlier carts,
which the injection did not touch: exact when the experiment starts on the data's first day,
off by a few users' share of a cart otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.abtest.queries import GroupStats
from pipeline.stats.frequentist import ConversionResult, compare_conversion
from pipeline.stats.models import MessageCode


@dataclass(frozen=True)
class InjectedTruth:
    """The injected effect in one population beside the estimate (None where undefined)."""

    population: str
    rate: float
    users: int
    baseline: float | None  # conversion without the injection, both groups
    absolute: float | None
    relative: float | None
    absolute_covered: bool | None
    relative_covered: bool | None
    treatment_rate: float
    treatment_rate_without_injection: float
    control_injected_converters: int
    placebo: ConversionResult  # Control vs Treatment without its injected purchases
    message: MessageCode = "ok"


def expected_effect(rate, carts, left_by_carts, users, baseline_converters):
    """(absolute, relative) injected effect over `users` of whom `baseline_converters` bought
    without the injection, and `left_by_carts[..., j]` would not have, with `carts[j]` raw cart
    events each. Works on numbers and on numpy arrays (a simulation's many runs at once:
    `left_by_carts` of shape (runs, len(carts)))."""
    gain = (np.asarray(left_by_carts) * (1.0 - (1.0 - rate) ** np.asarray(carts))).sum(axis=-1)
    absolute = gain / users
    return absolute, absolute / (np.asarray(baseline_converters) / users)


def injected_truth(
    population: str,
    control: GroupStats,
    treatment: GroupStats,
    conversion: ConversionResult,
    rate: float,
    cart_histogram: Sequence[tuple[int, int]],
) -> InjectedTruth:
    """The truth for one population (`conversion` is its estimate). With rate 0 (nothing
    injected, an A/A test) the truth is no effect, and `covered` says whether the interval
    holds zero."""
    users = control.users + treatment.users
    placebo = compare_conversion(
        control.proportion_without_injection,
        treatment.proportion_without_injection,
        conversion.alpha,
    )
    control_injected = control.proportion.successes - control.converters_without_injection
    without = treatment.proportion_without_injection
    common = {
        "population": population,
        "rate": rate,
        "users": users,
        "treatment_rate": treatment.proportion.mean,
        "treatment_rate_without_injection": without.mean,
        "control_injected_converters": control_injected,
        "placebo": placebo,
    }
    if control.users == 0 or treatment.users == 0:
        return InjectedTruth(
            **common,
            baseline=None,
            absolute=None,
            relative=None,
            absolute_covered=None,
            relative_covered=None,
            message="empty_group",
        )
    organic = control.converters_without_injection + treatment.converters_without_injection
    baseline = organic / users
    absolute, relative = 0.0, 0.0
    if rate > 0 and cart_histogram:
        carts, left = zip(*cart_histogram, strict=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            found = expected_effect(rate, carts, left, users, organic)
        absolute, relative = float(found[0]), float(found[1])
    relative = relative if baseline > 0 else None
    return InjectedTruth(
        **common,
        baseline=baseline,
        absolute=absolute,
        relative=relative,
        absolute_covered=None
        if conversion.absolute is None
        else conversion.absolute.ci.covers(absolute),
        relative_covered=None
        if conversion.relative is None or relative is None
        else conversion.relative.ci.covers(relative),
        message="ok" if relative is not None else "zero_baseline",
    )
