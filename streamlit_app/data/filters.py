"""The A/B dashboard's filters, as one frozen value: what the sidebar sets and the SQL reads.

Every filter selects *users* by what is known when they enter the experiment, so Treatment and
Control stay comparable (filtering on what happened after assignment would break the
randomization): the day and month they entered, whether they were seen before the experiment
started (returning) or not (new), and the price band of what their first cart session carted
(known at the primary analysis's trigger, the first cart). Columns of gold.fct_experiment_users.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pipeline.warehouse.dialect import Dialect

UserType = Literal["all", "new", "returning"]
USER_TYPES: tuple[UserType, ...] = ("all", "new", "returning")
USER_TYPE_LABELS: dict[UserType, str] = {
    "all": "All users",
    "new": "New (first seen in the experiment)",
    "returning": "Returning (seen before it started)",
}
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


@dataclass(frozen=True)
class PriceBand:
    """Sessions whose carted items cost, on average, from `lower` (inclusive) to `upper`."""

    key: str
    label: str
    lower: float | None
    upper: float | None


# A user's band is the mean price of the items their first cart session carted
# (first_cart_value / first_cart_items); users who never carted are "no cart".
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


def band_sql(cart_value: str = "first_cart_value", items: str = "first_cart_items") -> str:
    """A SQL case giving each user their price band key (engine-neutral)."""
    mean_price = f"{cart_value} / nullif({items}, 0)"  # BigQuery raises on x / 0
    whens = [f"when {items} is null or {items} = 0 then '{NO_CART.key}'"]
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
    """Empty `months` / `price_bands` mean all; `start` and `end` are the inclusive UTC days
    users entered the experiment between."""

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
            parts.append(f"entered {self.start or 'start'} to {self.end or 'end'}")
        if self.months:
            parts.append("entry months " + ", ".join(self.months))
        if self.user_type != "all":
            parts.append(f"{self.user_type} users")
        if self.price_bands:
            parts.append("price band " + ", ".join(BAND_BY_KEY[b].label for b in self.price_bands))
        return "; ".join(parts) or "no filters (the whole experiment)"

    def where(self, d: Dialect) -> str | None:
        """The filters as a predicate on gold.fct_experiment_users (None: no filter), in the
        form the readout's query builders take (`where`)."""
        epoch = date(1970, 1, 1)
        entry_day = d.epoch_day("entered_at")
        parts = []
        if self.start is not None:
            parts.append(f"{entry_day} >= {(self.start - epoch).days}")
        if self.end is not None:
            parts.append(f"{entry_day} <= {(self.end - epoch).days}")
        if self.months:
            parts.append("entry_month in (" + ", ".join(f"'{m}'" for m in self.months) + ")")
        if self.user_type == "new":
            parts.append("not is_returning")
        elif self.user_type == "returning":
            parts.append("is_returning")
        if self.price_bands:
            keys = ", ".join(f"'{b}'" for b in self.price_bands)
            parts.append(f"{band_sql()} in ({keys})")
        return " and ".join(f"({p})" for p in parts) or None

    # ------------------------------------------------------------------ the URL and file names

    def to_query(self) -> dict[str, list[str]]:
        """The filters as URL query parameters (an empty list: the parameter is absent), so a
        filtered view can be shared, reloaded and stepped back through."""
        return {
            "from": [self.start.isoformat()] if self.start else [],
            "to": [self.end.isoformat()] if self.end else [],
            "month": list(self.months),
            "users": [] if self.user_type == "all" else [self.user_type],
            "band": list(self.price_bands),
        }

    def slug(self) -> str:
        """A file-name-safe summary ('all-users', 'month-2019-12_new-users')."""
        parts = []
        if self.start or self.end:
            parts.append(f"entered-{self.start or 'start'}-to-{self.end or 'end'}")
        if self.months:
            parts.append("month-" + "-".join(self.months))
        if self.user_type != "all":
            parts.append(f"{self.user_type}-users")
        if self.price_bands:
            parts.append("band-" + "-".join(b.replace("_", "") for b in self.price_bands))
        return "_".join(parts) or "all-users"


QUERY_KEYS = ("from", "to", "month", "users", "band")


def from_query(
    params: Mapping[str, Sequence[str]], first_day: date | None = None, last_day: date | None = None
) -> tuple[Filters, list[str]]:
    """Filters from URL query parameters, and what was ignored there (a bad value is dropped
    with a reason, never an error page). Dates are kept within the data's days; its first
    and last day mean no date filter."""
    problems: list[str] = []

    def one(key: str) -> str | None:
        values = [v for v in params.get(key, ()) if v]
        return values[-1] if values else None

    days: dict[str, date | None] = {"from": None, "to": None}
    for key in days:
        text = one(key)
        if text is None:
            continue
        try:
            day = date.fromisoformat(text)
        except ValueError:
            problems.append(f"{key}={text!r} is not a date (YYYY-MM-DD)")
            continue
        if first_day is not None and day < first_day:
            day = first_day
        if last_day is not None and day > last_day:
            day = last_day
        days[key] = day
    # The data's whole range is no filter (the same cache entry as the default page).
    start = None if days["from"] == first_day else days["from"]
    end = None if days["to"] == last_day else days["to"]
    if start and end and start > end:
        problems.append(f"the dates run backwards ({start} > {end})")
        start = end = None
    months = [m for m in params.get("month", ()) if m]
    bad = [m for m in months if not MONTH.fullmatch(m)]
    problems += [f"month={m!r} is not YYYY-MM" for m in bad]
    user_type: UserType = "all"
    users = one("users")
    if users in USER_TYPES:
        user_type = users  # type: ignore[assignment]
    elif users is not None:
        problems.append(f"users={users!r} is not one of {', '.join(USER_TYPES[1:])}")
    bands = [b for b in params.get("band", ()) if b]
    unknown = [b for b in bands if b not in BAND_BY_KEY]
    problems += [f"band={b!r} is not a price band" for b in unknown]
    found = Filters(
        start,
        end,
        tuple(m for m in months if m not in bad),
        user_type,
        tuple(b for b in bands if b not in unknown),
    )
    return found, problems
