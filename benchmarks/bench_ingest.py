"""Benchmark `ecom ingest` on a full-size month against two ways of doing the same work.

Same run, same file ($ECOM_DATA_DIR/raw/2019-Oct.csv, ~4.1M rows, 480 MB; default data/bench),
each in a fresh subprocess so its peak RSS is its own:
  polars  the real ingest function (lake Parquet + quarantine + manifest; no warehouse load)
  pandas  the seed's approach: read_csv in 1M-row chunks, hashlib MD5, pyarrow Parquet per chunk
  duckdb  the best-in-class peer: read_csv (typed, rejects table) -> SQL md5 -> COPY TO Parquet
Each parses, quarantines bad rows, assigns the group (MD5 parity), injects the uplift (MD5 of
the event's identity) and writes Parquet. Then all five months through the real `ingest`,
warehouse load included, which leaves the full-scale lake and bronze in $ECOM_DATA_DIR for the
dbt and model benchmarks. Run under the heavy lock:
    flock /tmp/ecom-team/heavy.lock .venv/bin/python benchmarks/bench_ingest.py
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

MONTH = "2019-Oct"
CHUNK_ROWS = 1_000_000  # the seed's pandas chunk size
TARGETS = {"vs_pandas": 3.5, "vs_duckdb": 1.1, "rss_mib": 700, "five_months_s": 25}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# ---- workers (each runs alone in its own process) ------------------------------------------
def run_polars(settings, out: Path) -> None:
    from pipeline.ingest import ingest_month

    ingest_month(settings, MONTH, load_warehouse=False)


def run_pandas(settings, out: Path) -> None:
    """The seed's way, with the same rules: chunked read_csv, vectorised parsing, hashlib."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pipeline import experiment
    from pipeline.experiment.config import load_experiments
    from pipeline.schema import EVENT_TYPES, RAW_COLUMNS

    rules = load_experiments(settings).ingestion  # what `ecom ingest` applies
    out.mkdir(parents=True, exist_ok=True)
    reader = pd.read_csv(
        settings.raw_dir / f"{MONTH}.csv",
        dtype=str,
        keep_default_na=False,
        chunksize=CHUNK_ROWS,
        on_bad_lines="skip",
    )
    groups: dict[str, str] = {}
    for number, chunk in enumerate(reader):
        chunk["source_line"] = chunk.index.to_numpy() + 2  # index counts rows across chunks
        # " UTC" in the format sends pandas down a slow path: strip it first.
        time_text = chunk["event_time"].str.removesuffix(" UTC")
        event_time = pd.to_datetime(time_text, format="%Y-%m-%d %H:%M:%S", errors="coerce")
        typed = {
            name: pd.to_numeric(chunk[name], errors="coerce")
            for name in ("product_id", "category_id", "price", "user_id")
        }
        bad = (
            event_time.isna()
            | ~chunk["event_type"].isin(EVENT_TYPES)
            | pd.concat(typed, axis=1).isna().any(axis=1)
        )
        good = chunk[~bad]
        quarantine = chunk[bad]
        for user in good["user_id"].unique():
            if user not in groups:
                groups[user] = experiment.assign_group(user, rules.salt)
        group = good["user_id"].map(groups)
        candidate = (good["event_type"] == "cart") & (group == experiment.TREATMENT)
        injected = pd.Series(False, index=good.index)
        injected[candidate] = [
            experiment.is_injected("cart", experiment.TREATMENT, t, u, p, s, rules)
            for t, u, p, s in good.loc[
                candidate, ["event_time", "user_id", "product_id", "user_session"]
            ].itertuples(index=False)
        ]
        frame = pd.DataFrame(
            {
                "event_time": event_time[~bad].dt.tz_localize("UTC"),
                "event_type": good["event_type"].where(~injected, "purchase"),
                "product_id": typed["product_id"][~bad].astype("int64"),
                "category_id": good["category_id"].astype("int64"),  # never via float
                "category_code": good["category_code"].replace("", None),
                "brand": good["brand"].replace("", None),
                "price": typed["price"][~bad],
                "user_id": typed["user_id"][~bad].astype("int64"),
                "user_session": good["user_session"].replace("", None),
                "experiment_group": group,
                "original_event_type": good["event_type"],
                "is_injected": injected,
                "source_line": good["source_line"],
            }
        )
        pq.write_table(pa.Table.from_pandas(frame), out / f"part-{number:05d}.parquet")
        raw = quarantine[list(RAW_COLUMNS)].agg(",".join, axis=1)
        pq.write_table(
            pa.Table.from_pandas(
                pd.DataFrame({"source_line": quarantine["source_line"], "raw": raw})
            ),
            out / f"quarantine-{number:05d}.parquet",
        )


def run_duckdb(settings, out: Path) -> None:
    """DuckDB's idiomatic way: typed read_csv with a rejects table, rules in SQL, COPY TO."""
    import duckdb

    from pipeline import experiment
    from pipeline.experiment.config import load_experiments
    from pipeline.schema import EVENT_TYPES

    rules = load_experiments(settings).ingestion  # what `ecom ingest` applies
    out.mkdir(parents=True, exist_ok=True)
    path = settings.raw_dir / f"{MONTH}.csv"
    types = ", ".join(f"'{t}'" for t in EVENT_TYPES)
    treatment_digits = ", ".join(f"'{d}'" for d in experiment.TREATMENT_HEX_DIGITS)
    con = duckdb.connect()
    con.execute(
        f"""
        create view raw as select * from read_csv('{path}', header = true, quote = '',
            columns = {{'event_time': 'varchar', 'event_type': 'varchar',
                'product_id': 'bigint', 'category_id': 'bigint', 'category_code': 'varchar',
                'brand': 'varchar', 'price': 'double', 'user_id': 'bigint',
                'user_session': 'varchar'}},
            store_rejects = true, filename = false)
        """
    )
    con.execute(
        f"""
        copy (
            with parsed as (
                select *, try_strptime(event_time, '%Y-%m-%d %H:%M:%S UTC') as ts
                from raw
            ),
            good as (
                select * from parsed
                where ts is not null and event_type in ({types}) and user_id is not null
            ),
            grouped as (
                select *,
                    case when right(md5('{rules.salt}' || cast(user_id as varchar)), 1)
                        in ({treatment_digits})
                        then '{experiment.TREATMENT}' else '{experiment.CONTROL}' end
                        as experiment_group
                from good
            ),
            injected as (
                select *,
                    event_type = 'cart' and experiment_group = '{experiment.TREATMENT}'
                    and cast(('0x' || left(md5(concat_ws('|', '{rules.injection_seed}',
                        event_time, cast(user_id as varchar), cast(product_id as varchar),
                        coalesce(user_session, ''))), 8)) as ubigint) / 4294967296.0
                        < {rules.uplift_rate} as is_injected
                from grouped
            )
            select
                timezone('UTC', ts) as event_time,
                case when is_injected then 'purchase' else event_type end as event_type,
                product_id, category_id, category_code, brand, price, user_id, user_session,
                experiment_group, event_type as original_event_type, is_injected
            from injected
        ) to '{out / "part-0.parquet"}' (format parquet, compression zstd)
        """
    )
    # Quarantine: the reader's rejects (column count, ids, price); rows failing the SQL checks
    # (time, event type, empty user) are filtered above, not written: a small favour to DuckDB.
    con.execute(f"copy reject_errors to '{out / 'quarantine.parquet'}' (format parquet)")
    return 0


WORKERS = {"polars": run_polars, "pandas": run_pandas, "duckdb": run_duckdb}
IMPORTS = {
    "polars": ("pipeline.ingest",),
    "pandas": ("pandas", "pyarrow.parquet", "pipeline.experiment"),
    "duckdb": ("duckdb", "pipeline.experiment"),
}


def worker(name: str, data_dir: str, out: str) -> None:
    from pipeline.settings import Settings

    settings = Settings(data_dir=Path(data_dir))
    for module in IMPORTS[name]:  # libraries load before the clock starts, for every contender
        importlib.import_module(module)
    start = time.perf_counter()
    WORKERS[name](settings, Path(out))
    wall = time.perf_counter() - start
    print(json.dumps({"seconds": wall, "rss_mib": peak_rss_mib()}))


def run_five_months(data_dir: str) -> None:
    from pipeline.ingest import ingest
    from pipeline.settings import Settings

    settings = Settings(data_dir=Path(data_dir))
    start, cpu_start = time.perf_counter(), time.process_time()
    manifests = ingest(settings)
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    print(
        json.dumps(
            {
                "months": len(manifests),
                "rows": sum(m.rows_read for m in manifests),
                "quarantined": sum(m.rows_quarantined for m in manifests),
                "bytes": sum(m.input_bytes for m in manifests),
                "seconds": wall,
                "cpu_seconds": cpu,
                "lake_seconds": sum(m.timings_seconds["parse_and_write"] for m in manifests),
                "load_seconds": sum(m.timings_seconds["warehouse_load"] for m in manifests),
                "rss_mib": peak_rss_mib(),
            }
        )
    )


# ---- the driver --------------------------------------------------------------------------
def in_subprocess(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        sys.exit(f"{args[:2]} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_raw(data_dir: Path) -> None:
    from pipeline.generate import generate
    from pipeline.settings import MONTHS

    missing = [m for m in MONTHS if not (data_dir / "raw" / f"{m}.csv").exists()]
    if missing:
        print(f"generating {', '.join(missing)} at full scale into {data_dir / 'raw'} ...")
        generate(data_dir / "raw", scale=1.0, seed=42, months=missing)


def main() -> None:
    data_dir = Path(os.environ.get("ECOM_DATA_DIR", "data/bench")).resolve()
    ensure_raw(data_dir)
    source = data_dir / "raw" / f"{MONTH}.csv"
    size_mb = source.stat().st_size / 1e6
    with source.open("rb") as handle:  # untimed: the same row count for every contender
        rows = sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b"")) - 1
    # The comparison writes to a scratch data dir whose raw/ is the bench raw/.
    scratch = data_dir / ".bench_ingest_scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    (scratch / "raw").symlink_to(data_dir / "raw")
    results = {}
    for name in ("polars", "pandas", "duckdb"):
        results[name] = in_subprocess("--worker", name, str(scratch), str(scratch / f"out-{name}"))
        r = results[name]
        print(
            f"{name:>7}: {rows:,} rows in {r['seconds']:.2f} s | "
            f"{rows / r['seconds'] / 1e6:.2f}M rows/s | {size_mb / r['seconds']:.0f} MB/s | "
            f"peak RSS {r['rss_mib']:.0f} MiB",
            flush=True,
        )
    shutil.rmtree(scratch, ignore_errors=True)
    polars, pandas, duckdb = (results[n]["seconds"] for n in ("polars", "pandas", "duckdb"))
    rss = results["polars"]["rss_mib"]
    print(
        f"  polars vs pandas: {pandas / polars:.2f}x faster (target >= {TARGETS['vs_pandas']}x: "
        f"{'OK' if pandas / polars >= TARGETS['vs_pandas'] else 'MISSED'})"
    )
    print(
        f"  polars / duckdb time: {polars / duckdb:.2f} (target <= {TARGETS['vs_duckdb']}: "
        f"{'OK' if polars / duckdb <= TARGETS['vs_duckdb'] else 'MISSED'})"
    )
    print(
        f"  polars peak RSS {rss:.0f} MiB (target < {TARGETS['rss_mib']} MiB: "
        f"{'OK' if rss < TARGETS['rss_mib'] else 'MISSED'})"
    )
    five = in_subprocess("--five-months", str(data_dir))
    print(
        f"all {five['months']} months via `ingest` (lake + quarantine + manifests + DuckDB "
        f"bronze): {five['rows']:,} rows ({five['bytes'] / 1e9:.2f} GB, "
        f"{five['quarantined']:,} quarantined) in {five['seconds']:.1f} s | "
        f"{five['rows'] / five['seconds'] / 1e6:.2f}M rows/s | peak RSS {five['rss_mib']:.0f} MiB "
        f"(target < {TARGETS['five_months_s']} s: "
        f"{'OK' if five['seconds'] < TARGETS['five_months_s'] else 'MISSED'})"
    )
    print(
        f"  of which parse + lake write {five['lake_seconds']:.1f} s, "
        f"DuckDB bronze load {five['load_seconds']:.1f} s; CPU {five['cpu_seconds']:.1f} s "
        f"({five['cpu_seconds'] / five['seconds']:.2f} of the 2 cores: other load on the "
        "machine shows as a lower figure)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == "--five-months":
        run_five_months(sys.argv[2])
    else:
        main()
