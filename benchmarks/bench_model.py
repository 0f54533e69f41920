"""Abandonment model at full scale: training time, then SQL scoring in DuckDB against Python
scoring (booster.predict after reading the same rows out), measured in the same run.

SQL scoring's target: the predict_abandonment() macro over every cart session (~1M rows) takes
no longer than reading those rows out of DuckDB and calling booster.predict, and equals it to
1e-6. Each path runs REPEATS times, interleaved, and medians are compared; the previous form
(every tree as a nested CASE) is timed once for reference, and max |SQL - loader| is printed
for each kind of input that SQL gets wrong (NaN, NULL, ±inf, -0.0, beyond float32, thresholds).

Run on an otherwise idle machine: `.venv/bin/python benchmarks/bench_model.py` (or `make bench`);
`--scoring-only` skips training and scores with the current model.
Uses ECOM_DATA_DIR (default data/bench): its warehouse must hold gold.fct_cart_sessions
(run benchmarks/bench_warehouse.py first, or `make bench`).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import duckdb
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.model.report import metrics_lines
from pipeline.model.sql_scoring import compile_expression, install_macros
from pipeline.model.train import TRAIN_PARAMS, fit_booster, load_training_set, train_local
from pipeline.serving import artifact
from pipeline.serving.features import FEATURES
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
    if "--scoring-only" in sys.argv[1:]:  # the current model, no training figures
        from pipeline.serving.registry import resolve

        bench_scoring(s, artifact.load_model(resolve(s.models_dir, s.model_id)))
        return

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
    bench_scoring(s, model)


# ----------------------------------------------------------------------------- SQL scoring
REPEATS = 3  # each path runs this many times, interleaved; the medians are compared
TARGET_RATIO = 1.0  # SQL in DuckDB at least as fast as reading the rows out + booster.predict
TOLERANCE = 1e-6
SOURCE = "wh.gold.fct_cart_sessions"


def sql_scoring(con: duckdb.DuckDBPyConnection) -> float:
    """The analyst's path: the macro over every cart session, into a table."""
    started = time.perf_counter()
    con.execute(
        "create or replace temp table sql_scores as select session_id, predict_abandonment("
        "total_views, total_carts, session_duration_minutes, "
        f"abandonment_group_code(experiment_group)) as p from {SOURCE}"
    )
    return time.perf_counter() - started


def python_scoring(con: duckdb.DuckDBPyConnection, model) -> tuple[float, float, dict]:
    """The baseline: read the same rows out of DuckDB, then booster.predict (the loader)."""
    started = time.perf_counter()
    columns = con.execute(f"select session_id, {FEATURE_SQL} from {SOURCE}").fetchnumpy()
    X = np.column_stack(
        [
            np.ma.filled(np.ma.asarray(columns[name], dtype=np.float64), np.nan)
            for name in model.feature_names
        ]
    )
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    p = model.predict_matrix(X)
    return read_s, time.perf_counter() - started, dict(zip(columns["session_id"], p, strict=True))


def per_kind_errors(con: duckdb.DuckDBPyConnection, model, parts) -> dict[str, float]:
    """max |SQL - booster| on each kind of input that SQL scorers get wrong, in a table of
    DOUBLEs (NaN as NaN doubles): rows made from real sessions with one feature changed."""
    import pyarrow as pa

    base = con.execute(f"select {FEATURE_SQL} from {SOURCE} using sample 2000 rows").fetchnumpy()
    X = np.column_stack([np.asarray(base[n], dtype=np.float64) for n in model.feature_names])
    rng = np.random.default_rng(0)
    duration = FEATURES.index("session_duration_minutes")
    thresholds = [
        float(t)
        for part in parts
        for feature, ts in zip(part.features, part.thresholds, strict=True)
        if feature == duration
        for t in ts
    ]
    kinds = {
        "a NaN double": np.nan,
        "NULL": None,
        "+inf or -inf": (np.inf, -np.inf),
        "-0.0": -0.0,
        "beyond float32 (1e39, 3.5e38, -1e39)": (1e39, 3.5e38, -1e39),
        "on a duration threshold": tuple(thresholds),
    }
    out = {}
    for kind, values in kinds.items():
        rows = X.copy()
        column = rng.integers(0, rows.shape[1], rows.shape[0])
        choices = values if isinstance(values, tuple) else (values,)
        picked = np.array([choices[i] for i in rng.integers(0, len(choices), rows.shape[0])])
        if kind.startswith("on a"):
            column[:] = duration
        rows[np.arange(rows.shape[0]), column] = np.nan if values is None else picked
        nulls = np.zeros(rows.shape, dtype=bool)
        if values is None:
            nulls[np.arange(rows.shape[0]), column] = True
        kind_rows = pa.table(  # noqa: F841 (read by DuckDB's replacement scan)
            {
                "i": np.arange(rows.shape[0]),
                **{
                    name: pa.array(rows[:, j], mask=nulls[:, j])
                    for j, name in enumerate(model.feature_names)
                },
            }
        )
        got = np.array(
            con.execute(
                "select predict_abandonment(total_views, total_carts, "
                "session_duration_minutes, experiment_group) from kind_rows order by i"
            ).fetchall(),
            dtype=np.float64,
        )[:, 0]
        out[kind] = float(np.abs(got - model.predict_matrix(rows)).max())
    return out


def bench_scoring(s: Settings, model) -> None:
    with duckdb.connect() as con:
        con.execute(f"attach '{s.warehouse_path}' as wh (read_only)")
        started = time.perf_counter()
        scorer = install_macros(con, model)
        install_s = time.perf_counter() - started
        cells = sum(p.cells for p in scorer.parts)
        print(
            f"compile + install predict_abandonment(): {install_s:.2f} s "
            f"({len(scorer.parts)} part(s), {cells:,} cells in the lookup table)"
        )
        sql_runs, read_runs, predict_runs = [], [], []
        for _ in range(REPEATS):
            sql_runs.append(sql_scoring(con))
            read_s, predict_s, python_p = python_scoring(con, model)
            read_runs.append(read_s)
            predict_runs.append(predict_s)
        sql_p = dict(con.execute("select session_id, p from sql_scores").fetchall())
        n = len(python_p)
        diff = max(abs(sql_p[sid] - p) for sid, p in python_p.items())

        # The previous form, for reference: every tree as a nested CASE (once; it is slow).
        arguments = [f"cast({f} as double)" for f in FEATURES[:-1]]
        arguments.append("cast(abandonment_group_code(experiment_group) as double)")
        expression = compile_expression(model, arguments)
        started = time.perf_counter()
        con.execute(
            f"create or replace temp table tree_scores as select {expression} as p from {SOURCE}"
        )
        trees_s = time.perf_counter() - started
        errors = per_kind_errors(con, model, scorer.parts)

    sql_s = statistics.median(sql_runs)
    python_s = statistics.median(r + p for r, p in zip(read_runs, predict_runs, strict=True))
    ratio = sql_s / python_s
    print(
        f"SQL scoring in DuckDB (predict_abandonment() over {n:,} rows into a table): "
        f"median {sql_s:.2f} s = {n / sql_s:,.0f} rows/s (runs: {_runs(sql_runs)})"
    )
    print(
        f"Python scoring (read rows out, median {statistics.median(read_runs):.2f} s + "
        f"booster.predict, median {statistics.median(predict_runs):.2f} s): median "
        f"{python_s:.2f} s = {n / python_s:,.0f} rows/s "
        f"(runs: {_runs([r + p for r, p in zip(read_runs, predict_runs, strict=True)])})"
    )
    print(
        f"  for reference, every tree as a nested CASE (the previous macro): {trees_s:.2f} s = "
        f"{n / trees_s:,.0f} rows/s"
    )
    verdict = "OK" if ratio <= TARGET_RATIO and diff <= TOLERANCE else "MISSED"
    print(
        f"ratio: SQL takes {ratio:.2f}x the Python path's time (target <= {TARGET_RATIO:.2f}, "
        f"exact to {TOLERANCE:g}); max |SQL - Python| = {diff:.2e} on {n:,} rows: {verdict}"
    )
    for kind, error in errors.items():
        print(f"  max |SQL - loader|, one input {kind}: {error:.2e}")


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    main()
