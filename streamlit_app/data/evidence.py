"""The evidence under the dashboard's decision, as rows of words and formatted numbers: the
sample ratio checks, the guardrails with their values and margins, the chance that Treatment
beats Control, power and the minimum detectable effect. Everything is the readout's own result
(pipeline.abtest.readout.Readout); this module only says it for people.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.abtest.readout import Readout
from pipeline.stats.guardrails import GuardrailResult
from pipeline.stats.models import MESSAGES
from streamlit_app.data import formats as fmt

STATUS_WORDS = {
    "pass": "Pass",
    "fail": "Fail: significantly worse",
    "inconclusive": "Not yet shown within its margin",
    "not_tested": "Not tested",
}
CHANCE_LABELS = {"conversion": "Conversion", "revenue_per_user": "Revenue per user"}


@dataclass(frozen=True)
class Row:
    """One line of an evidence table: a label and its cells, already written out."""

    label: str
    cells: dict[str, str]


def _value(metric: str, x: float | None) -> str:
    if metric == "revenue_per_user":
        return fmt.money(x)
    if metric == "remove_from_cart_rate":
        return fmt.pct(x, 1)
    return fmt.DASH if x is None else f"{x:,.2f}"


def srm_rows(readout: Readout) -> list[Row]:
    """Per population: the users in each group and whether the split is the designed 50/50."""
    rows = []
    for population, label in (
        (readout.all_users, "All users"),
        (readout.primary, "Users who reached the cart"),
    ):
        srm = population.srm
        if sum(srm.observed) == 0:
            result = "No users"
        else:
            result = "Mismatch: do not trust the results" if srm.flagged else "No mismatch"
        rows.append(
            Row(
                label,
                {
                    "Control": fmt.count(srm.observed[0]),
                    "Treatment": fmt.count(srm.observed[1]),
                    "p": fmt.p_value(srm.p_value if sum(srm.observed) else None),
                    "Result": result,
                },
            )
        )
    return rows


def _guardrail_row(g: GuardrailResult) -> Row:
    m = g.comparison
    change = fmt.DASH
    if m.relative is not None:
        change = (
            f"{fmt.signed_pct(m.relative.estimate)} "
            f"({fmt.interval(m.relative.ci.lower, m.relative.ci.upper, unit='%', digits=1)})"
        )
    margin = fmt.DASH if g.margin is None else f"may fall at most {g.margin:.0%}"
    status = STATUS_WORDS[g.status]
    if g.status == "not_tested" and g.message != "ok":
        status += f" ({MESSAGES[g.message]})"
    return Row(
        g.label.capitalize(),
        {
            "Good if": "higher" if g.good_direction == "increase" else "lower",
            "Control": _value(g.metric, m.control_mean if m.n_control else None),
            "Treatment": _value(g.metric, m.treatment_mean if m.n_treatment else None),
            "Change (95% CI)": change,
            "Margin": margin,
            "Harm p (Holm)": fmt.p_value(g.p_harm_adjusted),
            "Status": status,
        },
    )


def guardrail_rows(readout: Readout) -> list[Row]:
    return [_guardrail_row(g) for g in readout.guardrails]


def chance_to_beat(readout: Readout) -> dict[str, str]:
    """'Conversion': '97.3%', from the readout's Bayesian comparison (flat prior)."""
    out = {}
    for metric, result in readout.bayesian.items():
        label = CHANCE_LABELS.get(metric, metric.replace("_", " ").capitalize())
        out[label] = fmt.chance(result.chance_to_win) if result.message == "ok" else fmt.DASH
    return out


def power_lines(readout: Readout) -> list[str]:
    """The sample's power in two or three sentences."""
    p = readout.power
    if p.mde_relative is None or p.mde_absolute is None:
        return [f"Power cannot be computed here ({MESSAGES[p.message] or 'no baseline'})."]
    lines = [
        f"With {fmt.count(p.n_control)} and {fmt.count(p.n_treatment)} users who reached the "
        f"cart, the smallest lift this test detects {p.power:.0%} of the time (alpha "
        f"{p.alpha:g}) is {fmt.signed_pct(p.mde_relative)} relative, "
        f"{fmt.pp(p.mde_absolute)} on a {fmt.pct(p.baseline)} baseline.",
    ]
    if p.required_per_group is not None:
        lines.append(
            f"The planned target, a {fmt.signed_pct(p.target_relative_lift, 0)} lift, needs "
            f"about {fmt.count(p.required_per_group)} users per group."
        )
    if p.power_at_true_effect is not None:
        lines.append(
            "Power to detect the effect injected into this data: "
            f"{fmt.chance(p.power_at_true_effect)}."
        )
    return lines


def revenue_per_purchase_note(readout: Readout) -> str | None:
    """Why revenue per purchase falls in Treatment when the simulation injected purchases: each
    injected purchase is a single carted item, a smaller order than a real one."""
    change = readout.revenue_per_order.relative
    injected = readout.truth_all_users.absolute  # Treatment's conversion from injected purchases
    if not injected or change is None or change.estimate >= 0:
        return None
    return (
        f"Revenue per purchase is {fmt.signed_pct(change.estimate)} in Treatment because this "
        "data set's uplift is simulated: each injected purchase is one carted item, a smaller "
        "order than a real purchase. Revenue per user, which counts every order, is the "
        "revenue guardrail."
    )
