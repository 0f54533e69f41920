"""One month of events from its sessions: how many, which types, which products, when.

All vectorised: arrays of events indexed by their session, never a loop per session.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.generate import calibration as cal
from pipeline.generate.catalog import Catalog
from pipeline.generate.population import BROWSE, CART, KINDS, PURCHASE, MonthSessions

VIEW, CART_EVENT, REMOVE, PURCHASE_EVENT = 0, 1, 2, 3
# Funnel stage of each type: events of a session are ordered by stage plus noise.
_STAGE = np.array([0.0, 1.0, 1.4, 2.0])
_STAGE_NOISE = 1.5


@dataclass
class MonthEvents:
    """Base events of a month (before dirt), sorted by session, then funnel order."""

    session: np.ndarray  # int64 index into MonthSessions
    etype: np.ndarray  # uint8
    product: np.ndarray  # int64 index into Catalog
    time: np.ndarray  # int64 epoch seconds


def _negative_binomial(rng: np.random.Generator, shape: float, mean: float, n: int) -> np.ndarray:
    return rng.poisson(rng.gamma(shape, mean / shape, size=n))


def events_per_session(rng: np.random.Generator, kind: np.ndarray, target: int) -> np.ndarray:
    """Heavy-tailed counts by session kind, then nudged so the month has exactly `target`."""
    n = np.ones(len(kind), dtype=np.int64)
    for code, name in enumerate(KINDS):
        sel = np.flatnonzero(kind == code)
        base = 2 if code == PURCHASE else 1
        n[sel] = base + _negative_binomial(
            rng, cal.EVENTS_SHAPE[name], cal.EVENTS_EXTRA_MEAN[name], len(sel)
        )
    diff = target - int(n.sum())
    if diff > 0:  # add events to sessions in proportion to their size
        n += np.bincount(rng.choice(len(n), size=diff, p=n / n.sum()), minlength=len(n))
    elif diff < 0:  # remove events beyond each session's minimum
        floor = np.where(kind == PURCHASE, 2, 1)
        spare = np.repeat(np.arange(len(n)), n - floor)
        drop = rng.choice(len(spare), size=min(-diff, len(spare)), replace=False)
        n -= np.bincount(spare[drop], minlength=len(n))
    return n


def _rank_within(session: np.ndarray, first: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """For each event, how many events of the same mask precede it in its session."""
    c = np.cumsum(mask) - mask
    return c - c[first][session]


def _event_types(
    rng: np.random.Generator,
    kind: np.ndarray,
    session: np.ndarray,
    first: np.ndarray,
    n_per: np.ndarray,
) -> np.ndarray:
    probs = np.zeros((len(kind), 4))
    probs[kind == BROWSE, VIEW] = 1.0
    probs[kind == CART] = cal.TYPE_PROBS["cart"]
    probs[kind == PURCHASE] = cal.TYPE_PROBS["purchase"]
    no_view = (kind != BROWSE) & (rng.random(len(kind)) < cal.NO_VIEW_SHARE)
    probs[no_view, VIEW] = 0.0
    no_cart = (kind == PURCHASE) & (rng.random(len(kind)) < cal.NO_CART_SHARE)
    probs[no_cart, CART_EVENT] = 0.0
    probs[no_cart, REMOVE] = 0.0
    probs /= probs.sum(axis=1, keepdims=True)
    cum = np.cumsum(probs, axis=1)[:, :3]
    u = rng.random(len(session))
    etype = (u[:, None] >= cum[session]).sum(axis=1).astype(np.uint8)
    # Every cart session holds a cart, every purchase session a purchase, and both start with a
    # view unless they skip it (n_per >= 2 for purchase sessions).
    carts = first[kind == CART]
    etype[carts] = CART_EVENT
    viewed = (kind == CART) & ~no_view & (n_per >= 2)
    etype[first[viewed] + 1] = VIEW
    etype[first[kind == PURCHASE] + 1] = PURCHASE_EVENT
    etype[first[(kind == PURCHASE) & ~no_view]] = VIEW
    return etype


def _gaps(rng: np.random.Generator, n_per: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Idle seconds before each event (0 for a session's first event)."""
    total = int(n_per.sum())
    gap = np.rint(rng.lognormal(np.log(cal.GAP_MEDIAN_SECONDS), cal.GAP_SIGMA, size=total))
    gap[rng.random(total) < cal.ZERO_GAP_SHARE] = 0
    multi = np.flatnonzero(n_per > 1)
    u = rng.random(len(multi))
    at = first[multi] + 1 + (rng.random(len(multi)) * (n_per[multi] - 1)).astype(np.int64)
    long_ = u < cal.LONG_GAP_SHARE
    gap[at[long_]] = rng.integers(31 * 60, 8 * 3_600, size=int(long_.sum()))
    day = u > 1 - cal.DAY_GAP_SHARE
    gap[at[day]] = rng.integers(86_400, 3 * 86_400, size=int(day.sum()))
    gap[first] = 0
    return gap.astype(np.int64)


def _session_starts(
    rng: np.random.Generator, ms: MonthSessions, duration: np.ndarray, month: str
) -> np.ndarray:
    """Follow-ups open shortly after the user's previous session ends; all stay in the month."""
    start = ms.start.copy()
    order = np.lexsort((start, ms.user))
    prev = np.empty_like(order)
    prev[order[1:]] = order[:-1]
    same_user = np.zeros(len(start), dtype=bool)
    same_user[order[1:]] = ms.user[order[1:]] == ms.user[order[:-1]]
    follow = np.flatnonzero(ms.follow_up & same_user & ~ms.pinned)
    start[follow] = (
        start[prev[follow]] + duration[prev[follow]] + rng.integers(60, 29 * 60, len(follow))
    )
    last = cal.MONTH_END[month] - 1 - duration
    free = ~ms.pinned
    start[free] = np.clip(start[free], cal.MONTH_START[month], np.maximum(last[free], 0))
    # A session pinned at the month start must still end before the month does.
    start = np.minimum(start, np.maximum(last, cal.MONTH_START[month]))
    return start


def _products(
    rng: np.random.Generator,
    catalog: Catalog,
    session: np.ndarray,
    etype: np.ndarray,
    n_per: np.ndarray,
    first: np.ndarray,
) -> np.ndarray:
    """The k-th cart of a session is the k-th viewed product, the k-th purchase the k-th cart."""
    slots = np.maximum(1, np.ceil(n_per * cal.SLOTS_PER_EVENT)).astype(np.int64)
    slot_first = np.cumsum(slots) - slots
    slot_product = rng.choice(catalog.size, size=int(slots.sum()), p=catalog.popularity)
    rank = np.zeros(len(session), dtype=np.int64)
    for code in (VIEW, CART_EVENT, REMOVE, PURCHASE_EVENT):  # a loop over the 4 types
        mask = etype == code
        rank[mask] = _rank_within(session, first, mask)[mask]
    slot = rank % slots[session]
    rand = rng.random(len(session)) < cal.RANDOM_SLOT_SHARE
    slot[rand] = (rng.random(int(rand.sum())) * slots[session[rand]]).astype(np.int64)
    return slot_product[slot_first[session] + slot]


def build_events(
    rng: np.random.Generator, ms: MonthSessions, catalog: Catalog, month: str, target: int
) -> MonthEvents:
    n_per = events_per_session(rng, ms.kind, target)
    first = np.cumsum(n_per) - n_per
    session = np.repeat(np.arange(len(n_per)), n_per)
    etype = _event_types(rng, ms.kind, session, first, n_per)
    key = session * 4.0 + _STAGE[etype] + rng.random(len(session)) * _STAGE_NOISE
    order = np.argsort(key, kind="stable")
    etype = etype[order]
    product = _products(rng, catalog, session, etype, n_per, first)
    gap = _gaps(rng, n_per, first)
    # Exact repeats are added on purpose (dirt.repeats); avoid accidental ones on views/purchases.
    same = np.zeros(len(gap), dtype=bool)
    same[1:] = (
        (session[1:] == session[:-1]) & (etype[1:] == etype[:-1]) & (product[1:] == product[:-1])
    )
    accidental = np.flatnonzero(same & (gap == 0) & ((etype == VIEW) | (etype == PURCHASE_EVENT)))
    gap[accidental] = rng.integers(1, 30, size=len(accidental))
    offset = np.cumsum(gap)
    offset -= offset[first][session]
    duration = offset[first + n_per - 1]
    start = _session_starts(rng, ms, duration, month)
    return MonthEvents(session=session, etype=etype, product=product, time=start[session] + offset)
