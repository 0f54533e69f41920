"""Benchmark `ecom abtest` on the full generated data and check its acceptance criterion.

Reads the gold layer of $ECOM_DATA_DIR (default data/bench), building what is missing (raw CSVs,
bronze, dbt gold) first. Baseline measured in the same run: the seed's analysis, which pulls one
row per user into Python and runs a single scipy chi2_contingency. The readout computes far more
(two SRMs, z-tests and chi-squares for two populations, CUPED, guardrails, a Bayesian view,
Welch x5, power, 20+ sequential looks, segments, files) from
per-group sufficient statistics that SQL aggregates. Criterion (exit code 1 if missed): the
injected uplift is detected with p < 0.001, and the absolute and the relative intervals both
cover the injected truth (the issue-24 estimand: at full scale the relative one used to miss).
Run on an otherwise idle machine: `.venv/bin/python benchmarks/bench_abtest.py` (or `make bench`).
"""

from __future__ import annotations

import os
import resource
import time

import polars as pl
from scipy import stats

from pipeline.abtest import ReadoutConfig, compute_readout, run_abtest
from pipeline.experiment.config import load_experiments
from pipeline.settings import get_settings
from pipeline.warehouse import connect


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def gold_ready(settings) -> bool:
    if not settings.warehouse_path.exists():
        return False
    try:
        connect(settings).query("select count(*) from gold.fct_experiment_users")
    except Exception:
        return False
    return True


def ensure_gold(settings) -> None:
    if gold_ready(settings):
        return
    if not settings.raw_dir.exists() or not any(settings.raw_dir.glob("*.csv")):
        from pipeline.generate import generate

        generate(settings.raw_dir, scale=1.0, seed=42)
    from pipeline.ingest import ingest
    from pipeline.warehouse.build import build_warehouse

    wh = connect(settings)
    try:
        wh.query("select count(*) from bronze.events")
    except Exception:
        ingest(settings)
    build_warehouse(settings)


def seed_analysis(settings) -> float:
    """The seed: one row per user into Python, then one chi2_contingency."""
    frame = connect(settings).query("select experiment_group, converted from gold.dim_users")
    counts = frame.group_by("experiment_group").agg(n=pl.len(), converted=pl.col("converted").sum())
    rows = {r["experiment_group"]: r for r in counts.iter_rows(named=True)}
    table = [[rows[g]["converted"], rows[g]["n"] - rows[g]["converted"]] for g in sorted(rows)]
    return float(stats.chi2_contingency(table).pvalue)


def main() -> int:
    settings = get_settings(data_dir=os.environ.get("ECOM_DATA_DIR", "data/bench"))
    start = time.perf_counter()
    ensure_gold(settings)
    print(f"gold layer ready in {time.perf_counter() - start:.1f} s ({settings.warehouse_path})")

    start = time.perf_counter()
    seed_p = seed_analysis(settings)
    seed_wall = time.perf_counter() - start

    config = ReadoutConfig(winsorize_at=0.99, sequential_tuning=1_600_000)
    start = time.perf_counter()
    checkout = load_experiments(settings).get("checkout")
    readout = compute_readout(connect(settings), config, checkout)
    compute_wall = time.perf_counter() - start
    start = time.perf_counter()
    outputs = run_abtest(settings, config, keys=["checkout"])["checkout"]
    full_wall = time.perf_counter() - start

    c, t = readout.primary.conversion, readout.truth
    users = c.control.n + c.treatment.n
    print(f"users {users:,} (control {c.control.n:,}, treatment {c.treatment.n:,})")
    print(f"seed analysis (per-user rows + chi2_contingency): {seed_wall:.2f} s, p = {seed_p:.3g}")
    print(
        f"readout statistics (6 SQL aggregates + maths): {compute_wall:.2f} s "
        f"({compute_wall / seed_wall:.2f}x the seed); with JSON/Markdown/PNG/HTML: "
        f"{full_wall:.2f} s | peak RSS {peak_rss_gb():.2f} GB"
    )
    print(f"decision: {readout.decision.words}: {readout.verdict}")
    print(
        f"SRM p = {readout.primary.srm.p_value:.3f} (flagged: {readout.primary.srm.flagged}); "
        f"conversion {c.control.mean:.4%} -> {c.treatment.mean:.4%}, "
        f"z-test p = {c.p_value:.3g}, Yates p = {c.yates.p_value:.3g}"
    )
    print(
        f"injected truth {t.absolute * 100:+.3f} pp / {t.relative:+.2%}; estimate "
        f"{c.absolute.estimate * 100:+.3f} pp [{c.absolute.ci.lower * 100:+.3f}, "
        f"{c.absolute.ci.upper * 100:+.3f}] covers: {t.absolute_covered}; relative "
        f"{c.relative.estimate:+.2%} [{c.relative.ci.lower:+.2%}, {c.relative.ci.upper:+.2%}] "
        f"covers: {t.relative_covered}; placebo p = {t.placebo.p_value:.3f}"
    )
    s = readout.sequential
    print(
        f"weekly looks {len(s.looks)}: sequential (N*={s.tuning:,.0f}) significant from week "
        f"{None if s.first_sequential_rejection is None else s.first_sequential_rejection + 1}"
        f", fixed-horizon from week "
        f"{None if s.first_fixed_rejection is None else s.first_fixed_rejection + 1}"
    )
    print(f"reports: {outputs.markdown.parent}")
    ok = c.p_value < 0.001 and bool(t.absolute_covered) and bool(t.relative_covered)
    print(
        "criterion p < 0.001 and both intervals cover the injected truth: "
        f"{'OK' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
