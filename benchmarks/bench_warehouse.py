"""Benchmark the dbt warehouse build at full scale, against Polars sessionizing the same lake,
and an incremental build against a full one.

Data: $ECOM_DATA_DIR (default data/bench) as the generator and ingestion benchmarks leave it;
whatever is missing (raw CSVs, lake, bronze) is made first (untimed). Each measurement runs in
its own child process so its peak RSS is its own:
  1. the whole `ecom warehouse --full-refresh` build (every model, data test and unit test);
  2. the sessionization alone (`dbt run --select int_session_events fact_user_sessions`: the
     events numbered into sessions, then one row per session), reported as wall time including
     dbt's start-up and as the models' own SQL time;
  3. baseline: the same sessionization in Polars from the Parquet lake, written to Parquet,
     through the reference implementation the warehouse tests check dbt against
     (tests/oracles/polars_sessions.py: the same silver rules, gap rule and totals);
  4. adding February to October-January: in a second data dir (<data>/incremental, raw files
     linked), October-January are ingested and built and February ingested (untimed), then the
     incremental `ecom warehouse` is timed, then `ecom warehouse --full-refresh` of the same
     five months (the baseline, in the same run).
Targets: whole build < 60 s, sessionization within 2x of Polars, peak RSS < 4 GB, the
incremental build at most 35% of the full one.
Run on an otherwise idle machine: `.venv/bin/python benchmarks/bench_warehouse.py` (or `make bench`).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# The sessionization in the warehouse: int_session_events numbers every event into its session
# (the boundaries are an ephemeral step of it), fact_user_sessions rolls them up.
SESSIONIZATION = "int_session_events fact_user_sessions"


def settings():
    from pipeline.settings import get_settings

    return get_settings(data_dir=os.environ.get("ECOM_DATA_DIR", str(ROOT / "data" / "bench")))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def ensure_data() -> None:
    """Reuse the full-scale data the earlier benchmarks left; make only what is missing."""
    import duckdb

    from pipeline.settings import MONTHS

    s = settings()
    if s.warehouse_path.exists():
        with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
            found = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'bronze' and table_name = 'events'"
            ).fetchone()
        if found and found[0]:
            return
    if not all((s.raw_dir / f"{m}.csv").exists() for m in MONTHS):
        from pipeline.generate import generate

        print(f"(making full-scale raw CSVs in {s.raw_dir}, untimed)", flush=True)
        generate(s.raw_dir, scale=1.0, seed=42)
    from pipeline.ingest import ingest

    print(f"(ingesting into {s.warehouse_path}, untimed)", flush=True)
    ingest(s)


def child_build() -> dict:
    from pipeline.warehouse.build import build_warehouse

    start = time.perf_counter()
    result = build_warehouse(settings(), full_refresh=True)
    wall = time.perf_counter() - start
    model_s = {
        n.unique_id.split(".")[-1]: n.seconds for n in result.nodes if n.resource_type == "model"
    }
    tests_s = sum(n.seconds for n in result.nodes if n.resource_type in {"test", "unit_test"})
    return {
        "wall": wall,
        "rss": peak_rss_gb(),
        "models": model_s,
        "tests_seconds": tests_s,
        "tests": result.count("test") + result.count("unit_test"),
    }


def child_sessions() -> dict:
    from pipeline.warehouse.build import run_dbt

    start = time.perf_counter()
    result = run_dbt(settings(), "run", select=SESSIONIZATION, extra=("--full-refresh",))
    wall = time.perf_counter() - start
    sql = sum(n.seconds for n in result.nodes if n.resource_type == "model")
    return {"wall": wall, "rss": peak_rss_gb(), "sql": sql}


def child_polars() -> dict:
    import polars as pl

    from tests.oracles.polars_sessions import sessionize, silver_events

    s = settings()
    out = s.data_dir / "bench_polars_sessions.parquet"
    start = time.perf_counter()
    bronze = pl.scan_parquet(f"{s.lake}/events/**/*.parquet", hive_partitioning=True)
    # keep="any": which copy of an exact duplicate survives changes no session total.
    sessionize(silver_events(bronze, keep="any")).sink_parquet(out, engine="streaming")
    wall = time.perf_counter() - start
    rows = pl.scan_parquet(out).select(pl.len()).collect().item()
    out.unlink()
    return {"wall": wall, "rss": peak_rss_gb(), "sessions": rows}


FOUR_MONTHS = ("2019-Oct", "2019-Nov", "2019-Dec", "2020-Jan")
ADDED = "2020-Feb"


def incremental_settings():
    """A second data dir for the incremental measurement, its raw files linked to the bench's."""
    from pipeline.settings import get_settings

    s = settings()
    inc = get_settings(data_dir=str(s.data_dir / "incremental"))
    inc.raw_dir.mkdir(parents=True, exist_ok=True)
    for month in (*FOUR_MONTHS, ADDED):
        link = inc.raw_dir / f"{month}.csv"
        if not link.exists():
            link.symlink_to((s.raw_dir / f"{month}.csv").resolve())
    return inc


def child_before_february() -> dict:
    """Untimed setup: October-January ingested and built, then February ingested."""
    import shutil

    from pipeline.ingest import ingest
    from pipeline.warehouse.build import build_warehouse

    inc = incremental_settings()
    for made in (inc.warehouse_path, inc.warehouse_build_path):
        made.unlink(missing_ok=True)
    for folder in (inc.data_dir / "lake", inc.manifest_dir, inc.quarantine_dir):
        shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    ingest(inc, list(FOUR_MONTHS))
    build_warehouse(inc)
    ingest(inc, [ADDED])
    return {"wall": time.perf_counter() - start}


def _timed_build(**options) -> dict:
    from pipeline.warehouse.build import build_warehouse

    start, cpu_start = time.perf_counter(), time.process_time()
    result = build_warehouse(incremental_settings(), **options)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    plan = result.plan
    return {
        "wall": wall,
        "cpu": cpu,  # every thread's CPU-seconds: less moved by other load than wall time
        "rss": peak_rss_gb(),
        "mode": plan.mode if plan else "?",
        "window": f"{plan.rebuild_from} to {plan.rebuild_until}"
        if plan and plan.rebuild_from
        else "",
        "models": {
            n.unique_id.split(".")[-1]: n.seconds
            for n in result.nodes
            if n.resource_type == "model"
        },
        "tests_seconds": sum(n.seconds for n in result.nodes if n.resource_type != "model"),
        "tests": result.count("test") + result.count("unit_test"),
    }


def child_incremental() -> dict:
    return _timed_build()


def child_full_refresh() -> dict:
    return _timed_build(full_refresh=True)


CHILDREN = {
    "build": child_build,
    "sessions": child_sessions,
    "polars": child_polars,
    "before_february": child_before_february,
    "incremental": child_incremental,
    "full_refresh": child_full_refresh,
}


def measure(what: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", what], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"{what} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    import duckdb

    ensure_data()
    s = settings()
    with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
        bronze = con.execute("select count(*) from bronze.events").fetchone()[0]
    from benchmarks import results_page

    where = results_page.shown(s.warehouse_path)
    print(f"warehouse build on {bronze:,} bronze events ({where})", flush=True)

    build = measure("build")
    with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
        silver, sessions = con.execute(
            "select (select count(*) from silver.stg_events), "
            "(select count(*) from gold.fact_user_sessions)"
        ).fetchone()
    models = " | ".join(f"{name} {sec:.1f} s" for name, sec in build["models"].items())
    print(
        f"  whole dbt build: wall {build['wall']:.1f} s | peak RSS {build['rss']:.2f} GB | "
        f"{build['tests']} tests {build['tests_seconds']:.1f} s | "
        f"target < 60 s: {'OK' if build['wall'] < 60 else 'MISSED'}"
    )
    print(f"    models: {models}")
    print(f"    silver events {silver:,} -> {sessions:,} sessions")

    dbt_sessions = measure("sessions")
    polars = measure("polars")
    ratio_sql = dbt_sessions["sql"] / polars["wall"]
    ratio_wall = dbt_sessions["wall"] / polars["wall"]
    print(
        f"  sessionization (dbt run {SESSIONIZATION}): wall {dbt_sessions['wall']:.1f} s "
        f"(model SQL {dbt_sessions['sql']:.1f} s) | peak RSS {dbt_sessions['rss']:.2f} GB"
    )
    print(
        f"  baseline Polars sessionization (streaming, lake -> Parquet): wall {polars['wall']:.1f} s"
        f" | peak RSS {polars['rss']:.2f} GB | {polars['sessions']:,} sessions"
        f" ({'same count' if polars['sessions'] == sessions else 'COUNT DIFFERS'})"
    )
    print(
        f"  ratio dbt/Polars: model SQL {ratio_sql:.2f}x, with dbt start-up {ratio_wall:.2f}x | "
        f"target <= 2x: {'OK' if ratio_sql <= 2 else 'MISSED'} | "
        f"RSS target < 4 GB: {'OK' if max(build['rss'], dbt_sessions['rss']) < 4 else 'MISSED'}"
    )

    measure("before_february")
    incremental = measure("incremental")
    full = measure("full_refresh")
    share = incremental["wall"] / full["wall"]
    cpu_share = incremental["cpu"] / full["cpu"]
    for label, run in (("incremental (add 2020-Feb)", incremental), ("full refresh", full)):
        models = " | ".join(f"{name} {sec:.1f} s" for name, sec in run["models"].items())
        print(
            f"  {label}: {run['mode']} {run['window']} | wall {run['wall']:.1f} s, CPU "
            f"{run['cpu']:.1f} s | peak RSS "
            f"{run['rss']:.2f} GB | {run['tests']} tests {run['tests_seconds']:.1f} s"
        )
        print(f"    models: {models}")
    print(
        f"  adding February to October-January: {share:.1%} of a full build's time "
        f"({cpu_share:.1%} of its CPU-seconds; target <= 35%: {'OK' if share <= 0.35 else 'MISSED'})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]]()))
    else:
        main()
