"""Abandonment model at full scale: training time, then SQL scoring in DuckDB against Python
scoring (booster.predict after reading the same rows out), measured in the same run.

Run on an otherwise idle machine: `.venv/bin/python benchmarks/bench_model.py` (or `make bench`).
Uses ECOM_DATA_DIR (default data/bench): its warehouse must hold gold.fct_cart_sessions
(run benchmarks/bench_warehouse.py first, or `make bench`).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.model import artifact
from pipeline.model.report import metrics_lines
from pipeline.model.sql_scoring import install_macros
from pipeline.model.train import TRAIN_PARAMS, fit_booster, load_training_set, train_local
from pipeline.settings import REPO_ROOT, Settings

FEATURE_SQL = (
    "total_views, total_carts, session_duration_minutes, "
    "abandonment_group_code(experiment_group) as experiment_group"
)


def settings() -> Settings:
    data_dir = os.environ.get("ECOM_DATA_DIR") or str(REPO_ROOT / "data" / "bench")
    return Settings(data_dir=Path(data_dir))


def ensure_gold(s: Settings) -> None:
    if s.warehouse_path.exists():
        with duckdb.connect(str(s.warehouse_path), read_only=True) as con:
            found = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'gold' and table_name = 'fct_cart_sessions'"
            ).fetchone()[0]
        if found:
            return
    from pipeline.warehouse.build import build_warehouse

    print("gold.fct_cart_sessions missing: building the warehouse first", flush=True)
    build_warehouse(s)


def main() -> None:
    s = settings()
    ensure_gold(s)

    started = time.perf_counter()
    data = load_training_set(s)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    fit_booster(data.X[~data.is_eval], data.y[~data.is_eval], TRAIN_PARAMS, s.seed)
    fit_s = time.perf_counter() - started
    started = time.perf_counter()
    result = train_local(s)
    full_s = time.perf_counter() - started
    rows = len(data)
    train_rows = int((~data.is_eval).sum())
    print(f"training set: {rows:,} cart sessions ({train_rows:,} train), read in {read_s:.2f} s")
    print(
        f"xgboost fit (100 trees, depth 4) on {train_rows:,} rows: {fit_s:.2f} s "
        f"({train_rows / fit_s:,.0f} rows/s)"
    )
    print(
        f"ecom train --engine local (read, 2 splits x (xgboost + 2 baselines), "
        f"200-resample bootstraps, artifact): {full_s:.2f} s"
    )
    for line in metrics_lines(result.card):
        print(line)

    model = artifact.load_model(result.model_dir)
    with duckdb.connect() as con:
        con.execute(f"attach '{s.warehouse_path}' as wh (read_only)")
        install_macros(con, model)
        source = "wh.gold.fct_cart_sessions"

        started = time.perf_counter()
        con.execute(
            "create temp table sql_scores as select session_id, predict_abandonment("
            "total_views, total_carts, session_duration_minutes, "
            f"abandonment_group_code(experiment_group)) as p from {source}"
        )
        sql_s = time.perf_counter() - started

        started = time.perf_counter()
        columns = con.execute(f"select session_id, {FEATURE_SQL} from {source}").fetchnumpy()
        X = np.column_stack(
            [
                np.ma.filled(np.ma.asarray(columns[name], dtype=np.float64), np.nan)
                for name in model.feature_names
            ]
        )
        read_out_s = time.perf_counter() - started
        started = time.perf_counter()
        python_p = model.predict_matrix(X)
        predict_s = time.perf_counter() - started
        python_s = read_out_s + predict_s

        sql_p = dict(con.execute("select session_id, p from sql_scores").fetchall())
    diff = max(abs(sql_p[sid] - p) for sid, p in zip(columns["session_id"], python_p, strict=True))
    n = X.shape[0]
    print(
        f"SQL scoring in DuckDB (macro, {n:,} rows into a table): {sql_s:.2f} s = {n / sql_s:,.0f} rows/s"
    )
    print(
        f"Python scoring (read rows out {read_out_s:.2f} s + booster.predict {predict_s:.2f} s): "
        f"{python_s:.2f} s = {n / python_s:,.0f} rows/s"
    )
    print(
        f"ratio: SQL takes {sql_s / python_s:.2f}x the Python path's time "
        f"(predict alone: {n / predict_s:,.0f} rows/s); max |SQL - Python| = {diff:.2e}"
    )


if __name__ == "__main__":
    main()
