"""A small bronze made in the test (not by the generator), for the DuckDB dbt tests.

The bronze sample is made here (not by the generator) so the warehouse tests control exactly
which edge cases exist: gaps of exactly the timeout and one second more, equal timestamps,
exact duplicate rows, rows without a session, a tracker session shared by two users, and
injected purchases colliding with a real purchase of the same product at the same instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

from pipeline.experiment import assign_group, is_injected
from pipeline.experiment.config import read_experiments
from pipeline.schema import BRONZE_SCHEMA, EVENT_TYPES
from pipeline.settings import EXPERIMENTS_FILE, Settings
from pipeline.warehouse.build import BuildResult

START = datetime(2019, 10, 1, tzinfo=UTC)
TIMEOUT = timedelta(minutes=30)
# Gaps between a user's consecutive events: inside a session, on the boundary, across it.
GAP_CHOICES_SECONDS = np.array([0, 5, 60, 600, 1800, 1801, 3600, 86_400, 20 * 86_400])
GAP_WEIGHTS = np.array([0.15, 0.2, 0.2, 0.15, 0.08, 0.07, 0.05, 0.06, 0.04])
EVENT_WEIGHTS = np.array([0.47, 0.28, 0.19, 0.06])
# What ingestion applies with the repository's experiments.yml.
INGESTION = read_experiments(EXPERIMENTS_FILE).ingestion


def bronze_sample(n_users: int = 400, seed: int = 7) -> pl.DataFrame:
    """Events in BRONZE_SCHEMA for n_users users over about five months, with the dirt silver
    must handle. The experiment columns come from pipeline.experiment (never re-implemented)."""
    rng = np.random.default_rng(seed)
    rows: list[dict] = []
    # 9-digit user ids like the real data (choice over a range, never materialized).
    for user_id in 100_000_000 + rng.choice(900_000_000, n_users, replace=False):
        user_id = int(user_id)
        group = assign_group(user_id, INGESTION.salt)
        t = START + timedelta(seconds=int(rng.integers(0, 100 * 86_400)))
        session = f"s-{user_id}-0"
        for i in range(int(rng.integers(1, 40))):
            if i:
                gap = int(rng.choice(GAP_CHOICES_SECONDS, p=GAP_WEIGHTS))
                t += timedelta(seconds=gap)
                if gap > 1800:
                    session = f"s-{user_id}-{i}"
            raw_type = str(rng.choice(EVENT_TYPES, p=EVENT_WEIGHTS))
            raw_time = t.strftime("%Y-%m-%d %H:%M:%S UTC")
            product_id = int(rng.integers(3_000, 6_000))
            injected = is_injected(
                raw_type, group, raw_time, user_id, product_id, session, INGESTION
            )
            rows.append(
                {
                    "event_time": t,
                    "event_type": "purchase" if injected else raw_type,
                    "product_id": product_id,
                    "category_id": 1487580005134238553 + product_id % 7,
                    "category_code": None if rng.random() < 0.98 else "appliances.vacuum",
                    "brand": None if rng.random() < 0.4 else "runail",
                    "price": round(float(rng.gamma(1.5, 5.0)), 2),
                    "user_id": user_id,
                    "user_session": session,
                    "experiment_group": group,
                    "original_event_type": raw_type,
                    "is_injected": injected,
                }
            )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    # Dirt: ~5% exact duplicates, a few rows without a tracker session.
    duplicates = frame.sample(fraction=0.05, seed=seed)
    frame = pl.concat([frame, duplicates, organic_twins(frame)]).sort(
        "event_time", maintain_order=True
    )
    no_session = pl.int_range(pl.len()).mod(97) == 13
    frame = frame.with_columns(
        user_session=pl.when(no_session).then(None).otherwise(pl.col("user_session")),
        source_file=pl.lit("2019-Oct.csv"),
        source_line=pl.int_range(2, pl.len() + 2, dtype=pl.Int64),
        ingested_at=pl.lit(datetime(2024, 1, 1, tzinfo=UTC)),
    )
    return frame.select(BRONZE_SCHEMA.names()).cast(dict(BRONZE_SCHEMA))


def organic_twins(frame: pl.DataFrame, share: float = 0.5) -> pl.DataFrame:
    """For a share of the injected purchases, a real purchase of the same product by the same
    user in the same session at the same instant and price, listed after it (the collision
    that de-duplicating on event_type turned into one row, keeping the injected one)."""
    injected = frame.filter(pl.col("is_injected"))
    picked = injected.filter(pl.int_range(pl.len()) < max(1, round(injected.height * share)))
    return picked.with_columns(original_event_type=pl.lit("purchase"), is_injected=pl.lit(False))


def write_bronze(path: Path, frame: pl.DataFrame) -> None:
    """Replace bronze.events in the DuckDB file with this frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists bronze")
        con.register("frame", frame.to_arrow())
        con.execute("create or replace table bronze.events as select * from frame")


@dataclass(frozen=True)
class Built:
    """The shared build: its settings, the bronze it was built from, dbt's outcome."""

    settings: Settings
    bronze: pl.DataFrame
    result: BuildResult
