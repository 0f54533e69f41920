"""The A/B dashboard's filters, as one frozen value: what the sidebar sets and the SQL reads.

Every filter narrows the *sessions* the page is computed on; users, conversion and revenue are
then computed per user over their remaining sessions. So "returning users, 5-10 $ carts, in
November" means: users' November sessions after their first month whose carted items cost 5 to
10 on average, and whether those sessions ended in a purchase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

UserType = Literal["all", "new", "returning"]
USER_TYPES: tuple[UserType, ...] = ("all", "new", "returning")
USER_TYPE_LABELS: dict[UserType, str] = {
    "all": "All users",
    "new": "New (their first month)",
    "returning": "Returning (after their first month)",
}
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class PriceBand:
    """Sessions whose carted items cost, on average, from `lower` (inclusive) to `upper`."""

    key: str
    label: str
    lower: float | None
    upper: float | None


# The band of a session is the mean price of its raw cart events (cart_value / total_carts).
# Edges near the data set's price quartiles (p25 2.06, median 4.05, p75 7.06) and its tail.
NO_CART = PriceBand("no_cart", "No cart", None, None)
PRICE_BANDS: tuple[PriceBand, ...] = (
    PriceBand("under_2", "Under $2", None, 2.0),
    PriceBand("2_to_5", "$2 to $5", 2.0, 5.0),
    PriceBand("5_to_10", "$5 to $10", 5.0, 10.0),
    PriceBand("10_plus", "$10 and more", 10.0, None),
    NO_CART,
)
BAND_BY_KEY: dict[str, PriceBand] = {b.key: b for b in PRICE_BANDS}


def band_sql(cart_value: str = "cart_value", total_carts: str = "total_carts") -> str:
    """A SQL case giving each session its price band key (engine-neutral)."""
    mean_price = f"{cart_value} / nullif({total_carts}, 0)"  # BigQuery raises on x / 0
    whens = [f"when {total_carts} = 0 then '{NO_CART.key}'"]
    for band in PRICE_BANDS:
        if band is NO_CART:
            continue
        if band.upper is not None:
            whens.append(f"when {mean_price} < {band.upper!r} then '{band.key}'")
        else:
            whens.append(f"else '{band.key}'")
    return "case " + " ".join(whens) + " end"


@dataclass(frozen=True)
class Filters:
    """Empty `months` / `price_bands` mean all; `start` and `end` are inclusive UTC days."""

    start: date | None = None
    end: date | None = None
    months: tuple[str, ...] = field(default_factory=tuple)
    user_type: UserType = "all"
    price_bands: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        """Refuse what would make bad SQL: these values are written into the query text."""
        for month in self.months:
            if not isinstance(month, str) or not MONTH.fullmatch(month):
                raise ValueError(f"a month filter is 'YYYY-MM', got {month!r}")
        unknown = [b for b in self.price_bands if b not in BAND_BY_KEY]
        if unknown:
            raise ValueError(f"unknown price band(s) {unknown}: use {sorted(BAND_BY_KEY)}")
        if self.user_type not in USER_TYPES:
            raise ValueError(f"user type is one of {USER_TYPES}, got {self.user_type!r}")
        for day in (self.start, self.end):
            if day is not None and not isinstance(day, date):
                raise ValueError(f"a date filter is a date, got {day!r}")
        if self.start is not None and self.end is not None and self.start > self.end:
            raise ValueError(f"the date range starts after it ends ({self.start} > {self.end})")
        # One canonical form, so equal filters are equal cache keys (every band = no filter).
        object.__setattr__(self, "months", tuple(sorted(set(self.months))))
        bands = tuple(b.key for b in PRICE_BANDS if b.key in set(self.price_bands))
        object.__setattr__(self, "price_bands", () if len(bands) == len(PRICE_BANDS) else bands)

    @property
    def is_default(self) -> bool:
        return self == Filters()

    def describe(self) -> str:
        """One line for captions and file names' companions: what the page is filtered to."""
        parts = []
        if self.start or self.end:
            parts.append(f"{self.start or 'start'} to {self.end or 'end'}")
        if self.months:
            parts.append("months " + ", ".join(self.months))
        if self.user_type != "all":
            parts.append(f"{self.user_type} users")
        if self.price_bands:
            parts.append("carts " + ", ".join(BAND_BY_KEY[b].label for b in self.price_bands))
        return "; ".join(parts) or "no filters (the whole experiment)"
