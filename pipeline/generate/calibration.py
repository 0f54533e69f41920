"""The real data set's figures (reference/statistics.md) and the model knobs tuned to meet them.

Targets are full-scale numbers; `scale` multiplies counts. The knobs below them were tuned by
simulation (benchmarks/bench_generate.py prints measured against target) and are the only place
to change the generator's shape.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from pipeline.settings import MONTHS

# ---- targets (statistics.md) -------------------------------------------------------------------
MONTH_ROWS: dict[str, int] = {
    "2019-Oct": 4_102_283,
    "2019-Nov": 4_635_837,
    "2019-Dec": 3_533_286,
    "2020-Jan": 4_264_752,
    "2020-Feb": 4_156_682,
}
MONTH_USERS: dict[str, int] = {
    "2019-Oct": 399_664,
    "2019-Nov": 368_232,
    "2019-Dec": 370_154,
    "2020-Jan": 410_073,
    "2020-Feb": 391_055,
}
MONTH_SESSIONS: dict[str, int] = {
    "2019-Oct": 873_960,
    "2019-Nov": 942_022,
    "2019-Dec": 839_812,
    "2020-Jan": 965_351,
    "2020-Feb": 931_668,
}
TOTAL_ROWS = 20_692_840
TOTAL_USERS = 1_639_358
TOTAL_SESSIONS = 4_535_941
TOTAL_PRODUCTS = 54_571
EVENT_MIX: dict[str, float] = {
    "view": 0.467,
    "cart": 0.279,
    "remove_from_cart": 0.192,
    "purchase": 0.062,
}
NULL_BRAND_SHARE = 0.423
NULL_CATEGORY_CODE_SHARE = 0.983
NULL_SESSION_ROWS = 4_598
BUYER_SHARE = 0.0674
PURCHASE_SESSION_SHARE = 0.034
# Share of each type's rows that repeat an earlier row exactly (same session, time, product).
REPEAT_SHARE: dict[str, float] = {  # targets
    "cart": 0.020,
    "remove_from_cart": 0.249,
}
# Share of each type's rows written twice on purpose (knob: sessions repeat some by chance too).
REPEAT_INJECTED: dict[str, float] = {
    "view": 0.0008,
    "cart": 0.011,
    "remove_from_cart": 0.235,
    "purchase": 0.0008,
}
ZERO_PRICE_SHARE = 0.002  # Oct-Jan; 0.5% over all five months
ZERO_PRICE_SHARE_BY_MONTH: dict[str, float] = {"2020-Feb": 0.017}
NEGATIVE_PRICE_ROWS = 131
NEGATIVE_ON_PURCHASE = 126 / 131
SHARED_SESSION_VALUES = 272
MULTI_CATEGORY_PRODUCTS = 1_619
MULTI_BRAND_PRODUCTS = 24
CART_SESSIONS_WITHOUT_VIEW = 0.20
PURCHASE_SESSIONS_WITHOUT_CART = 0.19
PRICE_QUANTILES = {"p25": 2.06, "median": 4.05, "p75": 7.06, "mean": 8.53}


# ---- calendar ----------------------------------------------------------------------------------
def _month_bounds(month: str) -> tuple[int, int]:
    """Epoch seconds of the month's first instant and of the next month's (UTC)."""
    start = datetime.strptime(month, "%Y-%b").replace(tzinfo=UTC)
    days = calendar.monthrange(start.year, start.month)[1]
    return int(start.timestamp()), int(start.timestamp()) + days * 86_400


MONTH_START: dict[str, int] = {m: _month_bounds(m)[0] for m in MONTHS}
MONTH_END: dict[str, int] = {m: _month_bounds(m)[1] for m in MONTHS}
# Relative activity by UTC hour (the shop's customers are mostly in UTC+3: quiet at night).
HOURLY_WEIGHTS = (
    0.25, 0.18, 0.14, 0.14, 0.2, 0.35, 0.55, 0.75, 0.85, 0.9, 0.92, 0.95,
    0.97, 1.0, 1.0, 1.0, 1.02, 1.05, 1.05, 1.0, 0.9, 0.75, 0.55, 0.38,
)  # fmt: skip

# ---- knobs (tuned by simulation) ---------------------------------------------------------------
USER_ACTIVITY_SIGMA = 1.0  # lognormal spread of how often a user comes back / opens sessions
MONTHLY_BUYER_SHARE = 0.0587  # share of a month's active users who buy that month
CART_SESSION_SHARE = 0.20  # sessions with cart activity but no purchase
# Product prices: (weight, median, lognormal sigma) of samples, the bulk, devices and sets.
PRICE_MIX = ((0.22, 1.05, 0.6), (0.70, 4.95, 0.58), (0.08, 40.0, 0.85))
# Events per session: 1 (+2 for purchase sessions) + negative binomial(shape, mean).
EVENTS_SHAPE = {"browse": 0.25, "cart": 0.8, "purchase": 1.0}
EVENTS_EXTRA_MEAN = {"browse": 0.9, "cart": 9.0, "purchase": 17.0}
# Event type probabilities (view, cart, remove, purchase) per session kind.
TYPE_PROBS = {
    "cart": (0.16, 0.48, 0.36, 0.0),
    "purchase": (0.21, 0.37, 0.07, 0.35),
}
NO_VIEW_SHARE = 0.10  # cart/purchase sessions that start straight at the cart
NO_CART_SHARE = 0.085  # purchase sessions without a cart event ("buy now", re-orders)
SLOTS_PER_EVENT = 0.5  # distinct products a session touches per event
RANDOM_SLOT_SHARE = 0.25  # events not following the view->cart->purchase product chain
# Seconds between events of a session: zero with some probability, else lognormal.
ZERO_GAP_SHARE = 0.25
GAP_MEDIAN_SECONDS = 19.0
GAP_SIGMA = 1.5
LONG_GAP_SHARE = 0.05  # multi-event sessions with one idle gap over 30 minutes
DAY_GAP_SHARE = 0.016  # multi-event sessions with a gap over a day
FOLLOW_UP_SHARE = 0.12  # later sessions of a user opened within 30 minutes of the previous one
CONTINUED_SESSIONS = 16_872  # sessions running over a month boundary (monthly sum - total)
# Products: catalogue size shrinks with sqrt(scale); popularity is Zipf-like.
PRODUCT_ZIPF_EXPONENT = 1.05
PRODUCT_ZIPF_OFFSET = 40.0
N_CATEGORIES = 525
N_BRANDS = 275
