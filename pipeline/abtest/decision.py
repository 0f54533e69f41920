"""The decision at the top of the readout: ship, do not ship, keep running or investigate, by a
stated rule.

Pure function of the results, so the dashboard and the report say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pipeline.stats.frequentist import ConversionResult
from pipeline.stats.guardrails import GuardrailResult
from pipeline.stats.models import MESSAGES
from pipeline.stats.power import PowerResult
from pipeline.stats.srm import SrmResult

Outcome = Literal["ship", "do_not_ship", "keep_running", "investigate"]

OUTCOME_WORDS: dict[Outcome, str] = {
    "ship": "SHIP",
    "do_not_ship": "DO NOT SHIP",
    "keep_running": "KEEP RUNNING",
    "investigate": "INVESTIGATE",
}

RULE = (
    "Checked in this order. (1) A sample ratio mismatch in either population means do not ship: "
    "the results cannot be trusted. (2) A sample ratio mismatch on a day of entry or in a "
    "segment, or groups that differed before the experiment began (pre-period balance), means "
    "investigate: the experiment cannot be read until the cause is known. (3) Any guardrail "
    "significantly worse (one-sided, Holm across guardrails) means do not ship. (4) The primary "
    "metric significantly lower (two-sided z-test at alpha) means do not ship. (5) The primary "
    "metric significantly higher means ship when every guardrail with a margin is also shown "
    "to be no worse than it, keep running otherwise. (6) No significant change means do not "
    "ship when the sample could detect the target lift with the planned power (there is no "
    "effect that large), keep running otherwise. An A/A experiment (both groups get the same "
    "experience) never ships: a significant difference or a failed guardrail means "
    "investigate, anything else keep running. The test is fixed-horizon, read once at the end "
    "of the data; for decisions taken while it runs, use the peeking-safe weekly view."
)


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    headline: str
    reasons: tuple[str, ...]
    rule: str = RULE

    @property
    def words(self) -> str:
        return OUTCOME_WORDS[self.outcome]


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def effect_sentence(primary: ConversionResult, label: str) -> str:
    """'conversion of X went from a% to b% (+d pp, 95% CI l to u pp; z-test p)'."""
    assert primary.absolute is not None and primary.p_value is not None
    a = primary.absolute
    level = round((1 - primary.alpha) * 100)
    rel = f", {primary.relative.estimate * 100:+.1f}%" if primary.relative is not None else ""
    return (
        f"{label} went from {_pct(primary.control.mean)} in Control to "
        f"{_pct(primary.treatment.mean)} in Treatment ({a.estimate * 100:+.2f} pp{rel}; "
        f"{level}% CI {a.ci.lower * 100:+.2f} to {a.ci.upper * 100:+.2f} pp; "
        f"{_p(primary.p_value)})"
    )


def decide(
    primary: ConversionResult,
    srm_checks: Sequence[tuple[str, SrmResult]],
    guardrails: Sequence[GuardrailResult],
    power: PowerResult,
    label: str = "Conversion of users who reached the cart",
    *,
    investigate: Sequence[str] = (),
    is_aa: bool = False,
) -> Decision:
    """Apply RULE. `srm_checks` are (population name, result) pairs; `investigate` the
    reasons the checks below the whole population found (pipeline.abtest.checks)."""
    flagged = [(name, s) for name, s in srm_checks if s.flagged]
    if flagged:
        names = ", ".join(f"{name} (p = {s.p_value:.2g})" for name, s in flagged)
        return Decision(
            "do_not_ship",
            "Do not ship: the groups are not split 50/50 as designed, so no result below can be "
            "trusted. Fix assignment or logging, then rerun the experiment.",
            (f"Sample ratio mismatch in {names}.",),
        )
    if investigate:
        return Decision(
            "investigate",
            "Investigate before reading any result: " + " ".join(investigate),
            tuple(investigate),
        )
    if primary.message != "ok":
        return Decision(
            "keep_running",
            f"Keep running: no comparison is possible yet ({MESSAGES[primary.message]}).",
            (f"Primary metric: {MESSAGES[primary.message]}.",),
        )
    failed = [g for g in guardrails if g.status == "fail"]
    inconclusive = [g for g in guardrails if g.status == "inconclusive"]
    effect = effect_sentence(primary, label)
    reasons = [f"{effect}."]
    for g in guardrails:
        reasons.append(f"Guardrail {g.label}: {g.status.replace('_', ' ')}.")
    if is_aa:
        return _aa_decision(primary, failed, effect, reasons)
    if failed:
        names = ", ".join(g.label for g in failed)
        return Decision(
            "do_not_ship",
            f"Do not ship: {names} got significantly worse. {effect}.",
            tuple(reasons),
        )
    assert primary.absolute is not None
    if primary.significant and primary.absolute.estimate < 0:
        return Decision(
            "do_not_ship",
            f"Do not ship: the redesign lowered the primary metric. {effect}.",
            tuple(reasons),
        )
    if primary.significant:
        if inconclusive:
            names = ", ".join(g.label for g in inconclusive)
            return Decision(
                "keep_running",
                f"Keep running: the primary metric improved, but {names} is not yet shown to be "
                f"within its margin. {effect}.",
                tuple(reasons),
            )
        return Decision(
            "ship",
            f"Ship: the redesign raised the primary metric and no guardrail got worse. {effect}.",
            tuple(reasons),
        )
    if power.mde_relative is not None and power.mde_relative <= abs(power.target_relative_lift):
        return Decision(
            "do_not_ship",
            f"Do not ship: no significant change, and this sample would have detected a "
            f"{power.target_relative_lift:+.0%} relative lift {power.power:.0%} of the time "
            f"(detectable: {power.mde_relative:+.1%}). {effect}.",
            tuple(reasons),
        )
    need = (
        f"about {power.required_per_group:,} users per group are needed for a "
        f"{power.target_relative_lift:+.0%} lift, {min(power.n_control, power.n_treatment):,} "
        "are in"
        if power.required_per_group is not None
        else "the sample is too small for the target lift"
    )
    return Decision(
        "keep_running",
        f"Keep running: no significant change yet, and the sample is too small to rule out the "
        f"target lift ({need}). {effect}.",
        tuple(reasons),
    )


def _aa_decision(
    primary: ConversionResult, failed: Sequence[GuardrailResult], effect: str, reasons: list[str]
) -> Decision:
    """An A/A experiment: both groups got the same experience, so any difference is chance or
    a biased pipeline; nothing ships."""
    if primary.significant or failed:
        what = "the primary metric" if primary.significant else ", ".join(g.label for g in failed)
        return Decision(
            "investigate",
            f"Investigate: this A/A experiment shows a significant difference in {what}, where "
            f"both groups got the same experience. One A/A readout in twenty does so by chance "
            f"at alpha {primary.alpha}; if the next run shows it again, look for bias in "
            f"assignment, logging or the analysis. {effect}.",
            tuple(reasons),
        )
    return Decision(
        "keep_running",
        f"Keep running: the A/A check is clean (no difference between identical groups, no "
        f"sample ratio mismatch, balanced before the start). {effect}.",
        tuple(reasons),
    )
