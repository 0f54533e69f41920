"""Guardrails: metrics the change must not hurt, beside the one it must improve.

Each guardrail is a one-sided question on the relative lift (Welch's t, delta method):
- harm: did it move the bad way? p-values are adjusted by Holm across all guardrails, so the
  chance that any guardrail falsely blocks a good change stays at most alpha;
- non-inferiority (when a margin is set): is a loss larger than `margin` ruled out? H0: lift <=
  -margin (or >= +margin when lower is better); shown when p < alpha, i.e. when the one-sided
  (1 - alpha) bound clears the margin. The ship decision needs every non-inferiority test to
  pass (an intersection-union test), which needs no alpha correction (Berger 1982).
Status: `fail` on significant harm, else `pass` (non-inferiority shown, or no margin and no
harm detected) or `inconclusive` (neither harm nor non-inferiority shown: more data needed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from scipy import special

from pipeline.stats.frequentist import MeanResult
from pipeline.stats.models import MessageCode
from pipeline.stats.multiple import holm

GoodDirection = Literal["increase", "decrease"]
GuardrailStatus = Literal["pass", "fail", "inconclusive", "not_tested"]


@dataclass(frozen=True)
class GuardrailResult:
    metric: str
    label: str
    good_direction: GoodDirection
    comparison: MeanResult
    alpha: float
    margin: float | None = None  # relative non-inferiority margin (0.02: at most 2% worse)
    p_harm: float | None = None
    p_harm_adjusted: float | None = None
    p_noninferiority: float | None = None
    status: GuardrailStatus = "not_tested"
    message: MessageCode = "ok"


def guardrail(
    metric: str,
    label: str,
    comparison: MeanResult,
    good_direction: GoodDirection,
    margin: float | None = None,
) -> GuardrailResult:
    """One guardrail's one-sided p-values (status is set by `adjust_guardrails`)."""
    base = GuardrailResult(metric, label, good_direction, comparison, comparison.alpha, margin)
    rel = comparison.relative
    if comparison.message != "ok" or rel is None or comparison.dof is None:
        code = comparison.message if comparison.message != "ok" else comparison.relative_message
        return replace(base, message=code)
    sign = 1.0 if good_direction == "increase" else -1.0
    # Harm: the lift is on the bad side of zero. P(T <= sign * estimate / se).
    p_harm = float(special.stdtr(comparison.dof, sign * rel.estimate / rel.std_error))
    p_ni = None
    if margin is not None:
        # Non-inferiority: H0 sign * lift <= -margin; p = P(T >= (sign * lift + margin) / se).
        p_ni = float(special.stdtr(comparison.dof, -(sign * rel.estimate + margin) / rel.std_error))
    return replace(base, p_harm=p_harm, p_noninferiority=p_ni)


def adjust_guardrails(results: Sequence[GuardrailResult]) -> tuple[GuardrailResult, ...]:
    """Holm-adjust the harm p-values across the guardrails, then set each status."""
    tested = [r for r in results if r.p_harm is not None]
    adjusted = iter(holm([r.p_harm for r in tested]).tolist())
    out = []
    for r in results:
        if r.p_harm is None:
            out.append(replace(r, status="not_tested"))
            continue
        p_adj = next(adjusted)
        if p_adj < r.alpha:
            status: GuardrailStatus = "fail"
        elif r.margin is None or (r.p_noninferiority is not None and r.p_noninferiority < r.alpha):
            status = "pass"
        else:
            status = "inconclusive"
        out.append(replace(r, p_harm_adjusted=p_adj, status=status))
    return tuple(out)
