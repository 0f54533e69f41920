"""Who visits when: users, their monthly activity and their sessions (one row per session).

Built for all five months at once, whichever months are written, so that a month's file does
not depend on which other months were asked for. Session-level only: cheap (4.5M rows at full
scale); events are expanded month by month in `events`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline.generate import calibration as cal
from pipeline.settings import MONTHS

BROWSE, CART, PURCHASE = 0, 1, 2
KINDS = ("browse", "cart", "purchase")


@dataclass(frozen=True)
class MonthSessions:
    """The sessions of one month, grouped by user (sessions of a user are contiguous)."""

    user: np.ndarray  # int32 index into Population.user_id
    uuid: np.ndarray  # int64 index into Population.uuid_bytes
    start: np.ndarray  # int64 epoch seconds (events may move it, see events.session_times)
    kind: np.ndarray  # uint8 BROWSE / CART / PURCHASE
    follow_up: np.ndarray  # bool: opened within 30 min of the user's previous session
    pinned: np.ndarray  # bool: start fixed (runs over a month boundary)


@dataclass(frozen=True)
class Population:
    user_id: np.ndarray  # int64, 9 digits, ascending with first visit
    uuid_bytes: np.ndarray  # uint8 (n_sessions, 16): the raw user_session values
    months: dict[str, MonthSessions]


def _scaled(value: int, scale: float) -> int:
    return max(1, round(value * scale))


def _weighted_sample(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k distinct indices drawn with probability proportional to weight (Efraimidis-Spirakis)."""
    if k >= len(weights):
        return np.arange(len(weights))
    keys = np.log(rng.random(len(weights))) / weights
    return np.argpartition(-keys, k - 1)[:k]


def _new_users_per_month(scale: float) -> dict[str, int]:
    """Everyone is new in October; later months mix returning and new users in a fixed ratio."""
    users = {m: _scaled(cal.MONTH_USERS[m], scale) for m in MONTHS}
    total = _scaled(cal.TOTAL_USERS, scale)
    later = sum(users[m] for m in MONTHS[1:])
    returning_share = (sum(users.values()) - total) / later
    new = {MONTHS[0]: users[MONTHS[0]]}
    for m in MONTHS[1:]:
        new[m] = users[m] - round(users[m] * returning_share)
    new[MONTHS[-1]] += total - sum(new.values())
    return new


def _start_times(rng: np.random.Generator, month: str, n: int) -> np.ndarray:
    days = (cal.MONTH_END[month] - cal.MONTH_START[month]) // 86_400
    hourly = np.asarray(cal.HOURLY_WEIGHTS)
    hour = rng.choice(24, size=n, p=hourly / hourly.sum())
    return (
        cal.MONTH_START[month]
        + rng.integers(0, days, size=n) * 86_400
        + hour * 3_600
        + rng.integers(0, 3_600, size=n)
    )


def _month_sessions(
    rng: np.random.Generator,
    month: str,
    active: np.ndarray,
    activity: np.ndarray,
    n_sessions: int,
    uuid_base: int,
) -> MonthSessions:
    n_users = len(active)
    weights = activity[active]
    extra = rng.multinomial(max(0, n_sessions - n_users), weights / weights.sum())
    per_user = 1 + extra
    first = np.cumsum(per_user) - per_user
    user = np.repeat(active, per_user).astype(np.int32)
    n = len(user)

    kind = np.zeros(n, dtype=np.uint8)
    buyers = _weighted_sample(rng, np.sqrt(weights), round(cal.MONTHLY_BUYER_SHARE * n_users))
    first_buy = first[buyers] + (rng.random(len(buyers)) * per_user[buyers]).astype(np.int64)
    kind[first_buy] = PURCHASE
    is_buyer_session = np.zeros(n, dtype=bool)
    is_buyer_session[np.repeat(first[buyers], per_user[buyers]) + _ramp(per_user[buyers])] = True
    more = np.flatnonzero(is_buyer_session & (kind == BROWSE))
    n_more = min(len(more), round(cal.PURCHASE_SESSION_SHARE * n) - len(buyers))
    if n_more > 0:
        kind[rng.choice(more, size=n_more, replace=False)] = PURCHASE
    kind[(kind == BROWSE) & (rng.random(n) < cal.CART_SESSION_SHARE)] = CART

    later = np.ones(n, dtype=bool)
    later[first] = False
    return MonthSessions(
        user=user,
        uuid=uuid_base + np.arange(n, dtype=np.int64),
        start=_start_times(rng, month, n),
        kind=kind,
        follow_up=later & (rng.random(n) < cal.FOLLOW_UP_SHARE),
        pinned=np.zeros(n, dtype=bool),
    )


def _ramp(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each length, concatenated (positions inside groups)."""
    starts = np.cumsum(lengths) - lengths
    return np.arange(lengths.sum()) - np.repeat(starts, lengths)


def _continue_sessions(
    rng: np.random.Generator, prev: MonthSessions, cur: MonthSessions, month: str, k: int
) -> None:
    """Let k sessions run over the boundary into `month`: same user_session value, same user."""
    in_prev = np.zeros(max(prev.user.max(), cur.user.max()) + 1, dtype=bool)
    in_prev[prev.user] = True
    candidates = np.flatnonzero(in_prev[cur.user] & ~cur.pinned)
    users, first_idx = np.unique(cur.user[candidates], return_index=True)
    take = rng.permutation(len(users))[:k]
    cur_idx = candidates[first_idx[take]]
    last_prev = np.full(len(in_prev), -1, dtype=np.int64)
    last_prev[prev.user] = np.arange(len(prev.user))  # grouped by user: last write is the last
    prev_idx = last_prev[cur.user[cur_idx]]
    cur.uuid[cur_idx] = prev.uuid[prev_idx]
    boundary = cal.MONTH_START[month]
    cur.start[cur_idx] = boundary + rng.integers(0, 1_200, size=len(cur_idx))
    prev.start[prev_idx] = boundary - rng.integers(60, 1_800, size=len(prev_idx))
    cur.pinned[cur_idx] = True
    prev.pinned[prev_idx] = True
    cur.follow_up[cur_idx] = False
    prev.follow_up[prev_idx] = False


def _share_session_values(rng: np.random.Generator, ms: MonthSessions, k: int) -> None:
    """The real files hold a few user_session values used by two different users."""
    pick = rng.choice(np.flatnonzero(~ms.pinned), size=2 * k, replace=False)
    a, b = pick[:k], pick[k:]
    differ = ms.user[a] != ms.user[b]
    ms.uuid[b[differ]] = ms.uuid[a[differ]]


def build_population(scale: float, seed: int) -> Population:
    rng = np.random.default_rng([seed, 1])
    new_per_month = _new_users_per_month(scale)
    n_users = sum(new_per_month.values())
    activity = rng.lognormal(0.0, cal.USER_ACTIVITY_SIGMA, size=n_users)
    gap = 522_000_000 / n_users
    user_id = 100_000_000 + np.cumsum(rng.integers(1, max(2, int(2 * gap)), size=n_users))

    months: dict[str, MonthSessions] = {}
    seen = 0
    uuid_base = 0
    for month in MONTHS:  # a loop per month
        n_active = _scaled(cal.MONTH_USERS[month], scale)
        n_new = new_per_month[month]
        returning = _weighted_sample(rng, activity[:seen], n_active - n_new) if seen else []
        active = np.sort(np.concatenate([returning, np.arange(seen, seen + n_new)])).astype(int)
        seen += n_new
        n_sessions = _scaled(cal.MONTH_SESSIONS[month], scale)
        months[month] = _month_sessions(rng, month, active, activity, n_sessions, uuid_base)
        uuid_base += len(months[month].user)

    later_sessions = sum(len(months[m].user) for m in MONTHS[1:])
    for prev_month, month in itertools.pairwise(MONTHS):
        k = round(cal.CONTINUED_SESSIONS * scale * len(months[month].user) / later_sessions)
        _continue_sessions(rng, months[prev_month], months[month], month, k)
    total_sessions = uuid_base
    for month in MONTHS:
        share = len(months[month].user) / total_sessions
        k = round(cal.SHARED_SESSION_VALUES * scale * share)
        if k:
            _share_session_values(rng, months[month], k)

    uuid_bytes = rng.integers(0, 256, size=(uuid_base, 16), dtype=np.uint8)
    return Population(user_id=user_id.astype(np.int64), uuid_bytes=uuid_bytes, months=months)
