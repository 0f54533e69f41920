"""Small raw months written by hand or from a seeded recipe, in the real file layout."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from pipeline.schema import RAW_COLUMNS
from pipeline.settings import Settings, month_key

HEADER = ",".join(RAW_COLUMNS)


def write_raw(settings: Settings, month: str, lines: Sequence[str], newline: str = "\n") -> Path:
    """A raw month file: the header, then `lines` verbatim."""
    settings.raw_dir.mkdir(parents=True, exist_ok=True)
    path = settings.raw_dir / f"{month}.csv"
    path.write_bytes((newline.join([HEADER, *lines]) + newline).encode())
    return path


def synthetic_lines(
    n: int, seed: int = 7, duplicates: int = 0, month: str = "2019-Oct"
) -> list[str]:
    """`n` well-formed raw lines of `month` with a realistic mix, plus `duplicates` verbatim
    repeats.

    Few users with many events each, cart-heavy, so a few hundred rows give dozens of
    Treatment carts and several injections at a 5% rate.
    """
    rng = random.Random(seed)
    key = month_key(month)
    users = [rng.randrange(100_000_000, 700_000_000) for _ in range(max(n // 12, 2))]
    lines = []
    for i in range(n):
        second = i * 7
        time = f"{key}-{1 + second // 86400:02d} {second // 3600 % 24:02d}:{second // 60 % 60:02d}:{second % 60:02d} UTC"
        event = rng.choices(["view", "cart", "remove_from_cart", "purchase"], [4, 4, 2, 1])[0]
        user = rng.choice(users)
        category = rng.choice(["1487580005268456287", "2195085255034011676", "1602943681873052386"])
        code = rng.choice(["", "", "", "appliances.environment.vacuum"])
        brand = rng.choice(["", "runail", "f.o.x", "cnd"])
        price = rng.choice(
            ["0.40", "6.27", "0", "-1.59", "29.05", str(rng.randrange(1, 9999) / 100)]
        )
        session = "" if rng.random() < 0.02 else f"{rng.getrandbits(64):016x}-{user % 997:04d}"
        product = rng.randrange(3_000, 6_000_000)
        lines.append(f"{time},{event},{product},{category},{code},{brand},{price},{user},{session}")
    for _ in range(duplicates):
        lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
    return lines


@pytest.fixture
def raw_month(settings: Settings) -> Callable[..., Path]:
    """Write a raw month into the test's data directory."""

    def make(lines: Sequence[str], month: str = "2019-Oct", newline: str = "\n") -> Path:
        return write_raw(settings, month, lines, newline)

    return make
