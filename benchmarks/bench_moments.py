"""Benchmark gold.fct_cart_moments at full scale against a plain DuckDB query of the same rows.

Data: $ECOM_DATA_DIR (default data/bench), the full-scale warehouse the earlier benchmarks leave
(benchmarks/bench_warehouse.py makes whatever is missing, untimed). In the same run, each in
its own child process, alternating, REPEATS times:
  1. the dbt model alone (`dbt run --select fct_cart_moments`): its SQL time from dbt's run
     results, and the wall time with dbt's start-up;
  2. baseline: benchmarks/moments_plain.sql, one plain DuckDB query (no dbt, no macros) from the
     same inputs (silver.int_session_events, gold.fact_user_sessions) into a table, under the
     DuckDB settings dbt's profile gives the warehouse build (threads, memory limit, insertion
     order: dbt/profiles.yml), so the two differ only by their SQL and dbt.
Before any figure counts, the two tables are checked to hold exactly the same rows (EXCEPT ALL
both ways over every column). Target: the model's SQL within 1.5x of the plain query (medians).
Then, once, `ecom train --family moment` on those rows: its time and its headline figures.
Run on an otherwise idle machine: `.venv/bin/python benchmarks/bench_moments.py` (or `make
bench`); `--no-train` skips the training.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

PLAIN_SQL = ROOT / "benchmarks" / "moments_plain.sql"
PLAIN_TABLE = "main.bench_moments_plain"
REPEATS = int(os.environ.get("BENCH_MOMENTS_REPEATS", "2"))
TARGET = 1.5


def settings():
    from pipeline.settings import get_settings

    return get_settings(data_dir=os.environ.get("ECOM_DATA_DIR", str(ROOT / "data" / "bench")))


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # Linux: KiB


def ensure_moments() -> None:
    """The full-scale warehouse with gold.fct_cart_moments (made first if missing, untimed)."""
    import duckdb
    from bench_warehouse import ensure_data

    ensure_data()
    s = settings()
    with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
        found = con.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'gold' and table_name = 'fct_cart_moments'"
        ).fetchone()[0]
    if not found:
        from pipeline.warehouse.build import build_warehouse

        print("(building the warehouse: gold.fct_cart_moments is missing; untimed)", flush=True)
        build_warehouse(s)


def child_dbt() -> dict:
    from pipeline.warehouse.build import run_dbt

    start = time.perf_counter()
    result = run_dbt(settings(), "run", select="fct_cart_moments", extra=("--full-refresh",))
    wall = time.perf_counter() - start
    return {"wall": wall, "sql": result.nodes[0].seconds, "rss": peak_rss_gb()}


def profile_settings() -> dict[str, str]:
    """The DuckDB settings of dbt's local profile, its env_var defaults resolved as dbt does."""
    import re

    import yaml

    profile = yaml.safe_load((ROOT / "dbt" / "profiles.yml").read_text())
    raw = profile["ecom_growth"]["outputs"]["local"]["settings"]
    env_var = re.compile(r"env_var\('(\w+)', '([^']*)'\)")
    out = {}
    for key, value in raw.items():
        found = env_var.search(str(value))
        out[key] = os.environ.get(found.group(1), found.group(2)) if found else str(value)
    return out


def child_plain() -> dict:
    import duckdb

    with duckdb.connect(str(settings().warehouse_path)) as con:
        con.execute("set enable_progress_bar = false")
        for key, value in profile_settings().items():
            con.execute(f"set {key} = '{value}'")
        start = time.perf_counter()
        con.execute(PLAIN_SQL.read_text())
        wall = time.perf_counter() - start
        rows = con.execute(f"select count(*) from {PLAIN_TABLE}").fetchone()[0]
    return {"wall": wall, "rows": rows, "rss": peak_rss_gb()}


def child_compare() -> dict:
    """Rows of either table missing from the other (every column; 0 and 0 = the same rows)."""
    import duckdb

    with duckdb.connect(str(settings().warehouse_path)) as con:
        con.execute("set enable_progress_bar = false")
        columns = ", ".join(
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'gold' and table_name = 'fct_cart_moments' order by ordinal_position"
            ).fetchall()
        )
        model = f"select {columns} from gold.fct_cart_moments"
        plain = f"select {columns} from {PLAIN_TABLE}"
        only_model = con.execute(f"select count(*) from ({model} except all {plain})").fetchone()
        only_plain = con.execute(f"select count(*) from ({plain} except all {model})").fetchone()
        rows, sessions = con.execute(
            "select count(*), count(distinct session_id) from gold.fct_cart_moments"
        ).fetchone()
        points = con.execute(
            "select prediction_point, count(*), avg(abandoned::int) from gold.fct_cart_moments "
            "group by all order by 1"
        ).fetchall()
        con.execute(f"drop table {PLAIN_TABLE}")
    return {
        "only_model": only_model[0],
        "only_plain": only_plain[0],
        "rows": rows,
        "sessions": sessions,
        "points": points,
    }


def child_train() -> dict:
    from pipeline.model.moment.train import train_moment

    start = time.perf_counter()
    result = train_moment(settings())
    wall = time.perf_counter() - start
    card = result.card
    first = card["evaluation"]["per_point"]["first_cart"]["scorers"]
    decision = card["decision"]
    return {
        "wall": wall,
        "rss": peak_rss_gb(),
        "model_id": card["model_id"],
        "rows": {part: card["rows"][part]["rows"] for part in card["rows"]},
        "first_cart": {
            name: [m["roc_auc"], *m["roc_auc_ci"], m["brier_skill"]] for name, m in first.items()
        },
        "pooled_auc": card["evaluation"]["pooled"]["scorers"]["model"]["roc_auc"],
        "ece": [card["calibration"]["test_ece_before"], card["calibration"]["test_ece_after"]],
        "threshold": decision["threshold"],
        "profit": {name: r["profit"] for name, r in decision["test"].items()},
    }


CHILDREN = {
    "dbt": child_dbt,
    "plain": child_plain,
    "compare": child_compare,
    "train": child_train,
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
    ensure_moments()
    s = settings()
    load = os.getloadavg()[0]
    from benchmarks import results_page

    where = results_page.shown(s.warehouse_path)
    print(f"fct_cart_moments at full scale ({where}); load average {load:.1f}")
    print(
        "  DuckDB settings of both (dbt's profile): "
        + ", ".join(f"{k} {v}" for k, v in profile_settings().items())
    )
    dbt_runs, plain_runs = [], []
    for _ in range(REPEATS):  # alternating, so a busy spell hits both
        dbt_runs.append(measure("dbt"))
        plain_runs.append(measure("plain"))
    same = measure("compare")
    if same["only_model"] or same["only_plain"]:
        raise SystemExit(f"the plain query's rows differ from the model's: {same}")
    sql = statistics.median(r["sql"] for r in dbt_runs)
    wall = statistics.median(r["wall"] for r in dbt_runs)
    plain = statistics.median(r["wall"] for r in plain_runs)
    print(
        f"  {same['rows']:,} prediction points of {same['sessions']:,} sessions: "
        + ", ".join(f"{name} {n:,} ({share:.1%} abandoned)" for name, n, share in same["points"])
    )
    print(
        f"  dbt run fct_cart_moments: model SQL median {sql:.1f} s (runs "
        + ", ".join(f"{r['sql']:.1f}" for r in dbt_runs)
        + f"), wall with dbt's start-up {wall:.1f} s | peak RSS "
        f"{max(r['rss'] for r in dbt_runs):.2f} GB"
    )
    print(
        f"  baseline plain DuckDB query (same rows, checked: 0 differ either way): median "
        f"{plain:.1f} s (runs " + ", ".join(f"{r['wall']:.1f}" for r in plain_runs) + ") | "
        f"peak RSS {max(r['rss'] for r in plain_runs):.2f} GB"
    )
    ratio = sql / plain
    print(
        f"  ratio dbt/plain: model SQL {ratio:.2f}x, with dbt's start-up {wall / plain:.2f}x | "
        f"target <= {TARGET}x: {'OK' if ratio <= TARGET else 'MISSED'}"
    )
    if "--no-train" in sys.argv[1:]:
        return
    t = measure("train")
    print(
        f"  ecom train --family moment on those rows: {t['wall']:.0f} s, peak RSS "
        f"{t['rss']:.2f} GB; train/calibration/test rows "
        + "/".join(f"{n:,}" for n in t["rows"].values())
    )
    for name, (auc, low, high, skill) in t["first_cart"].items():
        print(
            f"    first cart, {name:<22} ROC-AUC {auc:.4f} [{low:.4f}, {high:.4f}]  "
            f"Brier skill {skill:+.4f}"
        )
    print(
        f"    pooled ROC-AUC {t['pooled_auc']:.4f}; test ECE {t['ece'][0]:.4f} before, "
        f"{t['ece'][1]:.4f} after calibration; threshold {t['threshold']}; profit on the "
        "test month " + ", ".join(f"{k} {v:,.0f}" for k, v in t["profit"].items())
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]]()))
    else:
        main()
