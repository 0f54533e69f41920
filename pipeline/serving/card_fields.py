"""What `ecom models list` reads from a card of either family: its rows and its ROC-AUCs.

The session card has a random and a time split; a moment card has one time split (the test
month), whose first carts are its headline. Standard library only: the registry imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Where a card keeps each split's ROC-AUC, first match wins (under "evaluation").
AUC_PATHS: dict[str, tuple[tuple[str, ...], ...]] = {
    "random_split": (("random_split", "model"),),
    "time_split": (("time_split", "model"), ("per_point", "first_cart", "scorers", "model")),
}


def roc_auc_of(card: Mapping[str, Any], split: str) -> float | None:
    """The split's ROC-AUC of the model, or None when the card has none."""
    for path in AUC_PATHS[split]:
        try:
            node: Any = card["evaluation"]
            for key in path:
                node = node[key]
            return float(node["roc_auc"])
        except (KeyError, TypeError, ValueError):
            continue
    return None


def rows_of(card: Mapping[str, Any]) -> int | None:
    """The card's row count: the session card's total, or the sum of a moment card's parts."""
    rows = card.get("rows")
    if not isinstance(rows, dict):
        return None
    if isinstance(rows.get("total"), int):
        return rows["total"]
    parts = [part.get("rows") for part in rows.values() if isinstance(part, dict)]
    return sum(parts) if parts and all(isinstance(n, int) for n in parts) else None
