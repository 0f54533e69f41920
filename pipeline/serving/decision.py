"""When to intervene on a cart: the expected value of acting, from stated assumptions.

Intervening (a reminder, a small incentive) on a cart that would be abandoned recovers, on
average, `recovery_share` of its margin; it costs `intervention_cost` whether or not the cart
was at risk. So acting on a cart with P(abandon) = p and price x is worth

    expected value = p * x * gross_margin_rate * recovery_share - intervention_cost

and the rule intervenes when that is positive. The three numbers are ASSUMPTIONS (settings with
defaults) until a holdout experiment measures the recovery share: a random share of the carts
the rule would act on is left alone, and the difference in purchases is the recovery. The rule
used to evaluate a model version is stored in it (decision.json), so its card's profit figures
and the API's decisions are the same rule.

Pure Python: the API image imports it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.errors import ModelError

DECISION_FILE = "decision.json"


@dataclass(frozen=True)
class DecisionRule:
    gross_margin_rate: float = 0.4  # share of a cart's price that is margin
    recovery_share: float = 0.15  # share of would-be-abandoned carts an intervention saves
    intervention_cost: float = 0.10  # cost of one intervention, in the prices' currency

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if self.gross_margin_rate > 1 or self.recovery_share > 1:
            raise ValueError("gross_margin_rate and recovery_share are shares: at most 1")

    def expected_value(self, probability: float, cart_price: float) -> float:
        """What acting on this cart is worth, in the prices' currency."""
        margin = max(cart_price, 0.0) * self.gross_margin_rate
        return probability * margin * self.recovery_share - self.intervention_cost

    def intervene(self, probability: float, cart_price: float) -> bool:
        return self.expected_value(probability, cart_price) > 0

    def break_even_probability(self, cart_price: float) -> float | None:
        """The P above which acting on this cart pays (intervene <=> P > it); None when no
        probability up to 1 does (a cheap cart, or nothing recovered)."""
        gain = max(cart_price, 0.0) * self.gross_margin_rate * self.recovery_share
        if gain <= self.intervention_cost:
            return None
        return self.intervention_cost / gain


def write_rule(folder: Path | str, rule: DecisionRule) -> Path:
    path = Path(folder) / DECISION_FILE
    path.write_text(json.dumps(asdict(rule), indent=2) + "\n")
    return path


def read_rule(folder: Path | str) -> DecisionRule | None:
    """The version's rule, or None for a version that has none (the session family)."""
    path = Path(folder) / DECISION_FILE
    if not path.exists():
        return None
    try:
        return DecisionRule(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as err:
        raise ModelError(f"{path}: not a decision rule this release can apply ({err}).") from err
