"""What `ecom train --family moment` prints, and the decision report it writes.

The decision report is the readout of the decision rule, in the abtest readout's manner: the
decision first (which policy, by which rule, on which assumptions), then the evidence (each
policy's profit on the test month, the profit curve), then what would change it. Written as
<reports>/moment/decision.json (DecisionReport) and decision.md (Jinja2), from the card.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel

from pipeline import markdown
from pipeline.files import atomic_write
from pipeline.model.moment.card import SCORER_NAMES
from pipeline.serving.moment_card import CurvePoint, MomentCard, PolicyResult, Section

REPORT_DIR = "moment"
JSON_FILE = "decision.json"
MARKDOWN_FILE = "decision.md"
POLICY_NAMES = {
    "threshold": "intervene when P(abandon) >= the chosen threshold",
    "expected_value_rule": "intervene when the expected value is positive (the API's rule)",
    "everyone": "intervene on every cart",
    "no_one": "intervene on no cart",
    "perfect_foresight": "perfect foresight (the ceiling: not a policy anyone can run)",
}


class DecisionReport(Section):
    """decision.json: the decision rule's readout on the moment model's test month."""

    model_id: str
    generated_at: str
    test_month: str
    calibration_month: str
    point: str
    carts: int
    rule: dict[str, float]
    assumptions: str
    threshold: float
    chosen_on: str
    recommendation: str
    policies: dict[str, PolicyResult]
    curve: list[CurvePoint]
    recovery_note: str


OUTPUT_MODELS: tuple[type[BaseModel], ...] = (DecisionReport,)


def _best_runnable(policies: Mapping[str, PolicyResult]) -> str:
    runnable = {k: v for k, v in policies.items() if k != "perfect_foresight"}
    return max(runnable, key=lambda k: runnable[k].profit)


def decision_report(card: MomentCard) -> DecisionReport:
    decision = card.decision
    window = card.data_window
    if decision is None or window is None or card.evaluation is None:
        raise ValueError("the card has no decision section: train a moment model first")
    best = _best_runnable(decision.test)
    carts = decision.test["everyone"].intervened
    recommendation = (
        f"On {window.test_month}'s {carts:,} {decision.point} carts the most profitable policy "
        f"one can run was: {POLICY_NAMES[best]} ({decision.test[best].profit:,.2f} against "
        f"{decision.test['everyone'].profit:,.2f} for every cart and 0 for none), under the "
        "assumptions above. Before acting on it, measure the recovery share with a holdout."
    )
    return DecisionReport(
        model_id=card.model_id or "",
        generated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        test_month=window.test_month or "",
        calibration_month=window.calibration_month or "",
        point=decision.point,
        carts=carts,
        rule=decision.rule,
        assumptions=decision.assumptions,
        threshold=decision.threshold,
        chosen_on=decision.chosen_on,
        recommendation=recommendation,
        policies=decision.test,
        curve=decision.test_curve,
        recovery_note=decision.recovery_note,
    )


def _money(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


@cache
def _template() -> jinja2.Template:
    return markdown.template(
        "pipeline.model.moment",
        "decision_report.md.j2",
        money=_money,
        policy=POLICY_NAMES.get,
        f=format,
    )


def write_decision_report(card: MomentCard | Mapping[str, Any], reports_dir: Path) -> Path:
    """decision.json and decision.md under reports_dir/moment/; the JSON's path."""
    if not isinstance(card, MomentCard):
        card = MomentCard.model_validate(card)
    report = decision_report(card)
    folder = reports_dir / REPORT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    data = report.model_dump(mode="json", by_alias=True)
    atomic_write(folder / MARKDOWN_FILE, _template().render(report=report))
    return atomic_write(folder / JSON_FILE, json.dumps(data, indent=2, allow_nan=False) + "\n")


# ----------------------------------------------------------------------------- the CLI's lines


def _ci(m: Mapping[str, Any], key: str) -> str:
    low, high = m.get(f"{key}_ci") or (None, None)
    if m.get(key) is None:
        return "–"
    if low is None or high is None:
        return f"{m[key]:.4f}"
    return f"{m[key]:.4f} [{low:.4f}, {high:.4f}]"


def _scorer_line(name: str, m: Mapping[str, Any]) -> str:
    skill = "–" if m.get("brier_skill") is None else f"{m['brier_skill']:+.4f}"
    return (
        f"    {name:<52} ROC-AUC {_ci(m, 'roc_auc')}  PR-AUC {_ci(m, 'pr_auc')}  "
        f"Brier skill {skill}  ECE {m['expected_calibration_error']:.4f}"
    )


def evaluation_lines(card: Mapping[str, Any]) -> list[str]:
    """The moment card's evaluation as plain lines (what `ecom train --family moment` and
    `ecom demo` print)."""
    window, rows = card["data_window"], card["rows"]
    lines = [
        f"moment model ({card['engine']}, {card['parameters']['points']} points): train "
        f"{', '.join(window['train_months'])} ({rows['train']['rows']:,} rows), calibrate "
        f"{window['calibration_month']}, test {window['test_month']} "
        f"({rows['test']['rows']:,} rows of {rows['test']['sessions']:,} sessions)"
    ]
    evaluation = card["evaluation"]
    blocks = [("pooled", evaluation["pooled"]), *evaluation["per_point"].items()]
    for label, block in blocks:
        lines.append(f"  {label}: {block['rows']:,} rows, {block['abandoned_share']:.1%} abandoned")
        lines += [
            _scorer_line(SCORER_NAMES.get(name, name), m) for name, m in block["scorers"].items()
        ]
    calibration = card["calibration"]
    lines.append(
        f"  calibration: Platt slope {calibration['slope']:.4f}, intercept "
        f"{calibration['intercept']:+.4f} ({calibration['fitted_on']}); test ECE "
        f"{calibration['test_ece_before']:.4f} -> {calibration['test_ece_after']:.4f}"
    )
    decision = card["decision"]
    lines.append(
        f"  decision ({decision['point']}, threshold {decision['threshold']} chosen on "
        f"{window['calibration_month']}): profit on {window['test_month']} "
        + ", ".join(f"{k} {v['profit']:,.2f}" for k, v in decision["test"].items())
    )
    lines.append(
        "  (profits rest on the ASSUMED recovery share "
        f"{decision['rule']['recovery_share']:.0%}: a holdout experiment must measure it)"
    )
    return lines
