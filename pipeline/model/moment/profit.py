"""What acting on the moment model's probabilities is worth, under the decision rule's assumptions.

The rule (pipeline/serving/decision.py) values an intervention on a cart of price x as
x * margin rate * recovery share if the cart would have been abandoned, minus the intervention's
cost either way. On a month whose outcomes are known, a policy's profit is therefore the sum over
the carts it acts on of

    realized value = abandoned * max(x, 0) * margin rate * recovery share - cost

(incremental to doing nothing, in the prices' currency), and its expected profit the same with
the calibrated P(abandon) in place of the outcome. Both rest on the ASSUMED recovery share: the
outcomes say which carts were abandoned, not how many an intervention would have saved.

One decision per cart session: the curve and the policies are evaluated on the rows of one
prediction point (first_cart, where acting is earliest), so no session is counted twice.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from pipeline.serving.decision import DecisionRule

THRESHOLDS = np.round(np.linspace(0.0, 1.0, 101), 2)
PER_CARTS = 1_000  # profits are also given per this many carts, to compare months of any size


def realized_values(y: np.ndarray, price: np.ndarray, rule: DecisionRule) -> np.ndarray:
    """Each cart's value of intervening, given whether it was in fact abandoned."""
    gain = np.maximum(np.asarray(price, dtype=np.float64), 0.0) * rule.gross_margin_rate
    return np.asarray(y, dtype=np.float64) * gain * rule.recovery_share - rule.intervention_cost


def expected_values(p: np.ndarray, price: np.ndarray, rule: DecisionRule) -> np.ndarray:
    """DecisionRule.expected_value over arrays: what the API computes for each cart."""
    gain = np.maximum(np.asarray(price, dtype=np.float64), 0.0) * rule.gross_margin_rate
    return np.asarray(p, dtype=np.float64) * gain * rule.recovery_share - rule.intervention_cost


def _summary(acted: np.ndarray, realized: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    n = int(acted.size)
    profit = float(realized[acted].sum())
    return {
        "intervened": int(acted.sum()),
        "share": float(acted.mean()) if n else None,
        "profit": profit,
        "expected_profit": float(expected[acted].sum()),
        "profit_per_1000_carts": profit / n * PER_CARTS if n else None,
    }


def curve(
    p: np.ndarray, y: np.ndarray, price: np.ndarray, rule: DecisionRule
) -> list[dict[str, Any]]:
    """Profit of "intervene when P(abandon) >= t" for every t of THRESHOLDS."""
    realized = realized_values(y, price, rule)
    expected = expected_values(p, price, rule)
    return [
        {"threshold": float(t), **_summary(np.asarray(p) >= t, realized, expected)}
        for t in THRESHOLDS
    ]


def best_threshold(points: list[dict[str, Any]]) -> float:
    """The threshold of the highest profit; among equals the highest (fewest interventions)."""
    best = max(points, key=lambda row: (round(row["profit"], 9), row["threshold"]))
    return float(best["threshold"])


def policies(
    p: np.ndarray, y: np.ndarray, price: np.ndarray, rule: DecisionRule, threshold: float
) -> dict[str, dict[str, Any]]:
    """Each policy's carts acted on and profit on one month."""
    realized = realized_values(y, price, rule)
    expected = expected_values(p, price, rule)
    acted = {
        "threshold": np.asarray(p) >= threshold,
        "expected_value_rule": expected > 0,
        "everyone": np.ones(realized.size, dtype=bool),
        "no_one": np.zeros(realized.size, dtype=bool),
        "perfect_foresight": realized > 0,
    }
    return {name: _summary(mask, realized, expected) for name, mask in acted.items()}


def decision_section(
    rule: DecisionRule,
    point: str,
    calibration: tuple[np.ndarray, np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray, np.ndarray],
    months: tuple[str, str],
) -> dict[str, Any]:
    """The card's decision section: the threshold chosen on the calibration month's carts
    (p, y, price), then every policy and the curve on the test month's."""
    calibration_month, test_month = months
    chosen_curve = curve(*calibration, rule)
    threshold = best_threshold(chosen_curve)
    return {
        "rule": {
            "gross_margin_rate": rule.gross_margin_rate,
            "recovery_share": rule.recovery_share,
            "intervention_cost": rule.intervention_cost,
        },
        "assumptions": (
            f"Intervening on a cart that would be abandoned recovers "
            f"{rule.recovery_share:.0%} of its margin, the margin being "
            f"{rule.gross_margin_rate:.0%} of the cart's price; each intervention costs "
            f"{rule.intervention_cost:g} (the prices' currency), bought or not. These are "
            "settings (ECOM_DECISION_*), not measurements. An incentive given to a shopper who "
            "would have bought anyway may cost more than the fixed cost counted here."
        ),
        "point": point,
        "threshold": threshold,
        "chosen_on": f"{calibration_month}'s {point} carts ({calibration[0].size:,})",
        "calibration_curve": chosen_curve,
        "test_curve": curve(*test, rule),
        "test": policies(*test, rule, threshold),
        "recovery_note": (
            f"Measured on {test_month} under the assumed recovery share: perfect foresight "
            "(acting exactly on the abandoned carts worth more than the cost) is the ceiling no "
            "model reaches; the expected-value rule is what the API applies. The recovery share "
            "is an assumption until a holdout experiment measures it: leave a random share of "
            "the carts the rule would act on alone and compare their purchases."
        ),
    }
