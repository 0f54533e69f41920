"""Synthetic monthly CSVs in the public cosmetics-shop data set's exact format and shape.

The real files cannot be downloaded here, so the project generates them: same names, header,
value formats and row order, calibrated to the published statistics (calibration.py), with the
real files' dirt plus a known number of malformed lines of each kind (recorded in a
`<month>.truth.json` sidecar next to each CSV, never inside it).

Pipeline: catalogue (products) and population (users, sessions; all months, cheap) are built
once; then, month by month, events are expanded, dirtied, sorted by time and written. Same seed,
same bytes: every random draw comes from a generator seeded with (seed, purpose).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl
from rich.progress import Progress

from pipeline.errors import InputError
from pipeline.generate import calibration as cal
from pipeline.generate import dirt
from pipeline.generate.catalog import Catalog, build_catalog
from pipeline.generate.events import build_events
from pipeline.generate.population import Population, build_population
from pipeline.generate.writer import uuid_strings, write_month, write_sidecar
from pipeline.schema import EVENT_TYPES
from pipeline.settings import MONTHS

__all__ = ["GENERATOR_VERSION", "MALFORMED_KINDS", "generate", "month_frame"]

GENERATOR_VERSION = "1"
MALFORMED_KINDS = dirt.MALFORMED_KINDS
_STEPS = 3  # per month: events, frame, write


def month_rows(month: str, scale: float) -> int:
    return max(1, round(cal.MONTH_ROWS[month] * scale))


def month_frame(
    pop: Population, catalog: Catalog, month: str, scale: float, seed: int
) -> tuple[pl.DataFrame, dict[str, int]]:
    """All rows of a month, in file order, with their dirt (but not yet the malformed lines)."""
    m = MONTHS.index(month)
    rng = np.random.default_rng([seed, 100 + m])
    ms = pop.months[month]
    n_rows = month_rows(month, scale)
    n_base = round(n_rows * (1 - dirt.repeat_type_share()))
    ev = build_events(rng, ms, catalog, month, n_base)

    price = dirt.prices(rng, catalog.price[ev.product], ev.etype, month, scale)
    rows = np.concatenate([np.arange(len(ev.etype)), dirt.repeats(rng, ev.etype, n_rows)])
    rows = rows[np.argsort(ev.time[rows], kind="stable")]

    product = ev.product[rows]
    session = ev.session[rows]
    switched = catalog.switch_month[product] <= m
    alt_cat = catalog.alt_category[product]
    category = np.where(switched & (alt_cat >= 0), alt_cat, catalog.category[product])
    alt_brand = catalog.alt_brand[product]
    brand = np.where(switched & (alt_brand != -2), alt_brand, catalog.brand[product])
    n_brands = len(catalog.brands)
    brand = np.where(brand < 0, n_brands, brand)  # index of the null entry
    uuid_idx = session.copy()
    uuid_idx[dirt.null_session_rows(rng, len(rows), month, scale)] = len(ms.uuid)

    frame = pl.DataFrame(
        {
            "event_time": pl.from_epoch(pl.Series(ev.time[rows]), time_unit="s"),
            "event_type": pl.Series(EVENT_TYPES).gather(ev.etype[rows]),
            "product_id": catalog.product_id[product],
            "category_id": catalog.category_id[category],
            "category_code": pl.Series(catalog.category_code, dtype=pl.String).gather(category),
            "brand": pl.Series([*catalog.brands, None], dtype=pl.String).gather(brand),
            "price": price[rows],
            "user_id": pop.user_id[ms.user[session]],
            "user_session": pl.concat(
                [uuid_strings(pop.uuid_bytes[ms.uuid]), pl.Series([None], dtype=pl.String)]
            ).gather(uuid_idx),
        }
    )
    truth = {
        "rows": frame.height,
        "repeated_rows": frame.height - len(ev.etype),
        "sessions": len(np.unique(ms.uuid)),
        "users": len(np.unique(ms.user)),
    }
    return frame, truth


def _check(scale: float, months: Sequence[str], malformed_share: float) -> list[str]:
    if not 0 < scale <= 2:
        raise InputError(f"scale must be in (0, 2], got {scale}: 1.0 is the real data set's size")
    unknown = [m for m in months if m not in MONTHS]
    if unknown:
        raise InputError(f"unknown month(s) {unknown}: choose from {', '.join(MONTHS)}")
    if not 0 <= malformed_share < 0.5:
        raise InputError(f"malformed_share must be in [0, 0.5), got {malformed_share}")
    return [m for m in MONTHS if m in months]  # calendar order, no repeats


def generate(
    out_dir: Path,
    *,
    scale: float = 1.0,
    seed: int = 42,
    months: Sequence[str] = MONTHS,
    malformed_share: float = 0.0002,
    progress: Progress | None = None,
) -> list[Path]:
    """Write `<month>.csv` (and `<month>.truth.json`) for each month into out_dir.

    A month's bytes depend only on (scale, seed, malformed_share), not on which other months are
    generated in the same call.
    """
    wanted = _check(scale, months, malformed_share)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = {m: progress.add_task(m, total=_STEPS) for m in wanted} if progress else {}
    catalog = build_catalog(scale, seed)
    pop = build_population(scale, seed)
    paths = []
    for month in wanted:  # a loop per month: memory stays at one month's frame
        frame, truth = month_frame(pop, catalog, month, scale, seed)
        _advance(progress, tasks, month)
        rng = np.random.default_rng([seed, 200 + MONTHS.index(month)])
        malformed = dirt.malformed_rows(rng, frame.height, malformed_share)
        _advance(progress, tasks, month)
        path = out_dir / f"{month}.csv"
        lines = write_month(frame, path, malformed)
        n_bad = sum(v["count"] for v in lines.values())
        write_sidecar(
            path,
            {
                "file": path.name,
                "generator_version": GENERATOR_VERSION,
                "seed": seed,
                "scale": scale,
                "malformed_share": malformed_share,
                "data_lines": frame.height,
                "valid_lines": frame.height - n_bad,
                "malformed_lines": n_bad,
                "line_numbering": "1-based physical line; the header is line 1",
                "malformed": lines,
                "truth": truth,
            },
        )
        _advance(progress, tasks, month)
        paths.append(path)
    return paths


def _advance(progress: Progress | None, tasks: dict[str, object], month: str) -> None:
    if progress is not None:
        progress.advance(tasks[month])  # type: ignore[arg-type]
