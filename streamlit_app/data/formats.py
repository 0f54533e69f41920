"""How the app writes numbers and names for people: one place, so every tab says "< 0.001",
"1,234" and "Nov 2019" the same way, and an undefined value is "–", never 0.
"""

from __future__ import annotations

import re
from datetime import date

DASH = "–"  # an undefined value (a rate without a denominator, a test that could not run)
MONTH = re.compile(r"(\d{4})-(\d{2})")

DIMENSION_LABELS = {
    "entry_month": "Entry month",
    "user_type": "New or returning",
    "price_band": "Price band of the first cart",
}


def count(n: int | float | None) -> str:
    return DASH if n is None else f"{int(n):,}"


def pct(x: float | None, digits: int = 2) -> str:
    return DASH if x is None else f"{x * 100:.{digits}f}%"


def signed_pct(x: float | None, digits: int = 1) -> str:
    return DASH if x is None else f"{x * 100:+.{digits}f}%"


def pp(x: float | None, digits: int = 2) -> str:
    """A difference of two rates, in percentage points."""
    return DASH if x is None else f"{x * 100:+.{digits}f} pp"


def money(x: float | None) -> str:
    return DASH if x is None else f"${x:,.2f}"


def p_value(p: float | None) -> str:
    """'< 0.001' below a thousandth, else three decimals ('0.042'); '–' when no test ran."""
    if p is None:
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def chance(x: float | None) -> str:
    """A probability as a percentage that never rounds to a certainty: 'over 99.9%'."""
    if x is None:
        return DASH
    if x > 0.999:
        return "over 99.9%"
    if x < 0.001:
        return "under 0.1%"
    return f"{x * 100:.1f}%"


def interval(
    lower: float | None, upper: float | None, scale: float = 100, unit: str = "", digits: int = 2
) -> str:
    """'+1.20 to +3.40 pp' (scaled); '–' when either end is unknown."""
    if lower is None or upper is None:
        return DASH
    return f"{lower * scale:+.{digits}f} to {upper * scale:+.{digits}f}{unit}"


def month_label(month: str) -> str:
    """'2019-11' -> 'Nov 2019' (anything else unchanged)."""
    found = MONTH.fullmatch(month)
    if not found:
        return month
    return date(int(found.group(1)), int(found.group(2)), 1).strftime("%b %Y")


def dimension_label(dimension: str) -> str:
    return DIMENSION_LABELS.get(dimension, dimension.replace("_", " ").capitalize())
