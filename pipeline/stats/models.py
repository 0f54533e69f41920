"""Typed results shared by the tests: intervals and the message codes of degenerate input."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

MessageCode = Literal[
    "ok",
    "empty_group",
    "no_conversions",
    "all_converted",
    "zero_variance",
    "zero_baseline",
    "too_few_units",
    "single_look",
    "missing_group",
    "non_finite",
    "no_denominator",
    "no_covariate_variance",
    "no_pre_period",
]

MESSAGES: dict[MessageCode, str] = {
    "ok": "",
    "empty_group": "a group has no users, so there is nothing to compare",
    "no_conversions": "no user converted in either group, so conversion cannot be compared",
    "all_converted": "every user converted in both groups, so conversion cannot differ",
    "zero_variance": "the metric does not vary within the groups, so no test is possible",
    "zero_baseline": "the control mean is zero, so a relative lift is undefined",
    "too_few_units": "fewer than two units in a group, so the variance is unknown",
    "single_look": "only one week of data, so there is no sequence of looks to show",
    "missing_group": "one group is absent from this segment, so it cannot be compared",
    "non_finite": "a sum is not a finite number (an undefined or infinite value in the data), "
    "so no test is possible: find the bad values upstream",
    "no_denominator": "a group has no orders, so a value per order is undefined",
    "no_covariate_variance": "the pre-period covariate does not vary, so CUPED cannot adjust "
    "and the result equals the unadjusted one",
    "no_pre_period": "the experiment starts on the data's first day, so there is no pre-period "
    "covariate and CUPED equals the unadjusted result (set ECOM_EXPERIMENT_START)",
}


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float

    def covers(self, value: float) -> bool:
        return self.lower <= value <= self.upper

    def excludes_zero(self) -> bool:
        return not self.covers(0.0)

    @property
    def is_finite(self) -> bool:
        return math.isfinite(self.lower) and math.isfinite(self.upper)
