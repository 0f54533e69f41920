"""The families of tests a readout runs, stated: which tests each correction covers, what
error rate it holds at which level, and whether the decision reads it.

A readout runs many tests. Correcting them all together would make the primary test pay for
dozens of descriptive ones; correcting none would let one of twenty segments "win" by chance.
So every test belongs to exactly one family, named on every result (readout.json's
`families`, the Markdown's "Families of tests", experiment_results' `family` column):

- primary: the one pre-registered test, at alpha, uncorrected;
- guardrails: the one-sided harm tests, Holm across them (family-wise); their
  non-inferiority tests form an intersection-union test, which needs no correction;
- segments: the primary metric per segment, Holm or Benjamini-Hochberg across every segment
  of every dimension (hints for the next experiment, never the decision);
- secondary: everything else compared once (all users, revenue, CUPED), uncorrected and
  descriptive;
- sequential: the weekly looks, covered together by the always-valid confidence sequence;
- srm: the whole-population checks, one per population at the strict 0.001, uncorrected;
- srm_by_<dimension>: one per day or segment, Holm across each dimension's slices at 0.001;
- balance: the pre-period comparisons, Holm across them at 0.001.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pipeline.abtest.readout import SegmentResult
    from pipeline.stats.balance import BalanceResult
    from pipeline.stats.guardrails import GuardrailResult
    from pipeline.stats.sequential import SequentialResult
    from pipeline.stats.srm import SrmFamily

ErrorRate = Literal["per_test", "family_wise", "false_discovery", "across_looks"]
Correction = Literal["none", "holm", "bh", "always_valid"]

ERROR_RATE_WORDS: dict[str, str] = {
    "per_test": "each test at alpha",
    "family_wise": "the chance of any false positive in the family at most alpha",
    "false_discovery": "the expected share of false positives among the flagged at most alpha",
    "across_looks": "alpha across every look at once",
}


@dataclass(frozen=True)
class Family:
    key: str
    scope: str  # which tests, in words
    tests: int
    correction: Correction
    error_rate: ErrorRate
    alpha: float
    decides: bool  # whether the decision rule reads this family


def family(
    key: str,
    scope: str,
    tests: int,
    correction: Correction,
    alpha: float,
    decides: bool,
) -> Family:
    rate: ErrorRate = {
        "none": "per_test",
        "holm": "family_wise",
        "bh": "false_discovery",
        "always_valid": "across_looks",
    }[correction]  # type: ignore[assignment]
    return Family(key, scope, tests, correction, rate, alpha, decides)


def readout_families(
    alpha: float,
    srm_alpha: float,
    correction: Correction,
    primary_label: str,
    guardrails: tuple[GuardrailResult, ...],
    segments: tuple[SegmentResult, ...],
    sequential: SequentialResult,
    srm: tuple[SrmFamily, ...],
    balance: BalanceResult,
    secondary: int,
) -> tuple[Family, ...]:
    """Which tests each correction covers (pipeline.abtest.families)."""
    margins = sum(g.margin is not None for g in guardrails)
    out = [
        family(
            "primary",
            f"{primary_label.lower()}: the one pre-registered test",
            1,
            "none",
            alpha,
            True,
        ),
        family(
            "guardrails",
            f"one-sided harm tests of the {len(guardrails)} guardrails",
            len(guardrails),
            "holm",
            alpha,
            True,
        ),
        family(
            "non_inferiority",
            f"the {margins} guardrail(s) with a margin: an intersection-union "
            "test (every one must pass), which needs no correction",
            margins,
            "none",
            alpha,
            True,
        ),
        family(
            "segments",
            "the primary metric in every segment of every dimension",
            sum(s.adjusted_p is not None for s in segments),
            correction,
            alpha,
            False,
        ),
        family(
            "secondary",
            "descriptive comparisons: all users' conversion, revenue per user (winsorized too "
            "when asked), per order and per item, and the CUPED-adjusted results",
            secondary,
            "none",
            alpha,
            False,
        ),
        family(
            "sequential",
            "the weekly looks at the primary metric",
            len(sequential.looks),
            "always_valid",
            alpha,
            False,
        ),
        family(
            "srm",
            "sample ratio of each population (users who reached the cart, all users)",
            2,
            "none",
            srm_alpha,
            True,
        ),
    ]
    for fam in srm:
        out.append(
            family(
                f"srm_by_{fam.dimension}",
                f"sample ratio of all users per {fam.dimension.replace('_', ' ')}",
                fam.tests,
                "holm",
                srm_alpha,
                True,
            )
        )
    tested = sum(t.adjusted_p is not None for t in balance.tests)
    out.append(
        family(
            "balance",
            "pre-period conversion and revenue per user, by group",
            tested,
            "holm",
            balance.alpha,
            True,
        )
    )
    return tuple(out)
