"""Benchmark `ecom generate` at full scale and compare what it wrote with statistics.md.

Writes all five months into $ECOM_DATA_DIR/raw (default data/bench/raw) and leaves them there:
the ingestion, warehouse and model benchmarks read them. Baseline measured in the same run:
Polars writing the very same frames as CSV (the I/O floor), so the ratio is what generation
itself costs. Run it on an otherwise idle machine (`make bench` runs every benchmark in turn).
"""

from __future__ import annotations

import os
import resource
import time

from pipeline.generate import calibration as cal
from pipeline.generate import generate, month_frame
from pipeline.generate.catalog import build_catalog
from pipeline.generate.measure import measure
from pipeline.generate.population import build_population
from pipeline.schema import RAW_TIME_FORMAT
from pipeline.settings import MONTHS, get_settings

SCALE = float(os.environ.get("ECOM_BENCH_SCALE", "1.0"))
SEED = 42


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def main() -> None:
    settings = get_settings(data_dir=os.environ.get("ECOM_DATA_DIR", "data/bench"))
    out = settings.raw_dir
    start = time.perf_counter()
    paths = generate(out, scale=SCALE, seed=SEED)
    wall = time.perf_counter() - start
    rss = peak_rss_gb()
    rows = sum(sum(1 for _ in p.open("rb")) - 1 for p in paths)
    size = sum(p.stat().st_size for p in paths)
    print(f"generate scale={SCALE}: {rows:,} rows in {len(paths)} files, {size / 1e9:.2f} GB")
    print(
        f"  wall {wall:.1f} s | {rows / wall / 1e3:,.0f}k rows/s | {size / wall / 1e6:.0f} MB/s"
        f" | peak RSS {rss:.2f} GB | target < 90 s: {'OK' if wall < 90 else 'MISSED'}"
    )

    # Baseline: only write the same frames (built again, untimed) as CSV to the same disk.
    catalog, pop = build_catalog(SCALE, SEED), build_population(SCALE, SEED)
    scratch = out.parent / "bench_write_floor.csv"
    floor = 0.0
    for month in MONTHS:
        frame, _ = month_frame(pop, catalog, month, SCALE, SEED)
        t0 = time.perf_counter()
        frame.write_csv(scratch, datetime_format=RAW_TIME_FORMAT, float_precision=2)
        floor += time.perf_counter() - t0
        del frame
    scratch.unlink()
    print(
        f"  baseline (Polars writes the same frames as CSV): {floor:.1f} s | "
        f"generate/baseline = {wall / floor:.2f}x | generation share {(wall - floor) / wall:.0%}"
    )

    t0 = time.perf_counter()
    stats = measure(paths)
    print(f"\nmeasured vs statistics.md (x{SCALE:g}), measured in {time.perf_counter() - t0:.0f} s")
    report(stats, SCALE)


def _row(name: str, measured: float, target: float, fmt: str = ",.0f") -> None:
    ratio = measured / target if target else float("nan")
    print(f"  {name:<34} {measured:>14{fmt}} {target:>14{fmt}}  {ratio:6.3f}")


def report(s: dict, scale: float) -> None:
    print(f"  {'figure':<34} {'measured':>14} {'target':>14}  ratio")
    _row("* valid rows", s["rows"], cal.TOTAL_ROWS * scale)
    for m in MONTHS:
        _row(f"*   rows {m}", s["rows_per_month"][m], cal.MONTH_ROWS[m] * scale)
    _row("* users", s["users"], cal.TOTAL_USERS * scale)
    _row("* sessions (user_session)", s["sessions"], cal.TOTAL_SESSIONS * scale)
    _row("  sessions (30-minute rule)", s["sessions_30min_rule"], cal.TOTAL_SESSIONS * scale)
    _row("* products", s["products"], cal.TOTAL_PRODUCTS * min(scale, 1) ** 0.5)
    for m in MONTHS:
        _row(f"*   users {m}", s["monthly_users"][m], cal.MONTH_USERS[m] * scale)
        _row(f"*   sessions {m}", s["monthly_sessions"][m], cal.MONTH_SESSIONS[m] * scale)
    for t, share in cal.EVENT_MIX.items():
        _row(f"* share {t}", s["event_mix"][t] * 100, share * 100, ".2f")
    _row("* null brand %", s["null_brand_share"] * 100, cal.NULL_BRAND_SHARE * 100, ".2f")
    _row("* null category_code %", s["null_category_code_share"] * 100, 98.3, ".2f")
    _row("* null user_session rows", s["null_session_rows"], cal.NULL_SESSION_ROWS * scale)
    _row("* buyers", s["buyers"], 110_518 * scale)
    _row("* buyer share %", s["buyer_share"] * 100, cal.BUYER_SHARE * 100, ".2f")
    p = s["price"]
    for k, v in cal.PRICE_QUANTILES.items():
        _row(f"  price {k}", p[k], v, ".2f")
    _row("  price max", p["max"], 327.78, ".2f")
    _row("  price min", p["min"], -79.37, ".2f")
    _row("  zero price %", p["zero_share"] * 100, 0.5, ".2f")
    _row("  zero price % in Feb", s["zero_price_share_by_month"]["2020-Feb"] * 100, 1.7, ".2f")
    _row("  negative prices", p["negative"], 131 * scale)
    _row("  negative on purchases", p["negative_purchases"], 126 * scale)
    _row("  purchase / cart events", s["purchase_per_cart"], 0.22, ".3f")
    d = s["sessions_detail"]
    _row("  sessions with a purchase %", d["with_purchase_share"] * 100, 3.4, ".2f")
    _row("  events per session", d["events_mean"], 4.6, ".2f")
    _row("  duration median (min)", d["duration_median_min"], 0.0001, ".2f")
    _row("  duration p75 (min)", d["duration_p75_min"], 1.6, ".2f")
    _row("  sessions over a day %", d["over_a_day_share"] * 100, 0.8, ".2f")
    _row("  duplicate rows %", s["duplicate_rows"] / s["rows"] * 100, 5.4, ".2f")
    _row(
        "  repeated remove_from_cart %", s["repeated_share"]["remove_from_cart"] * 100, 24.9, ".2f"
    )
    _row("  repeated cart %", s["repeated_share"]["cart"] * 100, 2.0, ".2f")
    _row("  user_session values on >1 user", d["multi_user_values"], 272 * scale)
    _row("  cart sessions without view %", d["cart_without_view_share"] * 100, 20, ".2f")
    _row("  purchase sessions without cart %", d["purchase_without_cart_share"] * 100, 19, ".2f")
    _row("  products under >1 category", s["products_multi_category"], 1_619)
    _row("  products under >1 brand", s["products_multi_brand"], 24)


if __name__ == "__main__":
    main()
