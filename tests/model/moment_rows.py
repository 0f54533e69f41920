"""Synthetic gold.fct_cart_moments (and the sessions' gold.fct_cart_sessions) in a DuckDB file:
five months of prediction points whose abandonment depends on the features, with the types dbt
builds, so the moment trainer and scorer run on a warehouse a test controls.

A session's label is one latent draw shared by its points (as in the real table, where
`abandoned` is the session's outcome); later points see more of it (their features are less
noisy), and the history features are missing for a user's first session.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.serving import moment
from tests.model.conftest import write_warehouse

MONTHS = ("2019-10", "2019-11", "2019-12", "2020-01", "2020-02")
POINTS = {"first_cart": 1.0, "cart_plus_3_events": 0.6, "cart_plus_10_minutes": 0.8}
COUNTS = {f.name for f in moment.CONTRACT if f.kind in ("count", "hour", "weekday")}


def moment_rows(sessions: int, seed: int) -> tuple[dict, dict]:
    """(fct_cart_moments columns, fct_cart_sessions columns) as Python lists/arrays."""
    rng = np.random.default_rng(seed)
    users = rng.integers(1, max(2, sessions // 3), sessions)
    month = rng.integers(0, len(MONTHS), sessions)
    treatment = users % 2
    latent = rng.normal(0, 1, sessions)
    abandoned = latent + 0.3 * treatment + rng.normal(0, 0.7, sessions) > -0.9
    first_session = rng.random(sessions) < 0.4
    rows: dict[str, list] = {
        name: []
        for name in (
            "session_id",
            "prediction_point",
            "user_id",
            "experiment_group",
            "session_start",
            "session_month",
            "point_at",
            *moment.FEATURES,
            "abandoned",
            "purchased_within_24h",
        )
    }
    for s in range(sessions):
        day = 1 + s % 27
        start = np.datetime64(f"{MONTHS[month[s]]}-{day:02d}T10:00:00", "us")
        for offset, (point, share) in enumerate(POINTS.items()):
            if point != "first_cart" and rng.random() > share:
                continue
            noise = rng.normal(0, 1.2 - 0.3 * offset)
            signal = latent[s] + noise
            views = max(0, round(float(4 + 2 * signal + offset * 2)))
            values = {
                "views_so_far": views,
                "carts_so_far": 1 + int(rng.random() < 0.3) + offset // 2,
                "removes_so_far": int(max(0, signal) > 1.0),
                "distinct_products_viewed": views // 2,
                "distinct_brands_viewed": views // 3,
                "distinct_categories_viewed": min(views, 2),
                "seconds_since_session_start": float(abs(60 * (3 + signal)) + 120 * offset),
                "seconds_since_last_event": (
                    np.nan if views == 0 else float(abs(20 + 30 * signal) % 1800)
                ),
                "cart_price": float(np.round(rng.lognormal(1.5, 0.8), 2)),
                "cart_price_rank": np.nan if views == 0 else float(rng.random()),
                "hour_utc": int(rng.integers(0, 24)),
                "weekday_utc": int(rng.integers(1, 8)),
                "experiment_group": int(treatment[s]),
                "prior_sessions": 0 if first_session[s] else int(rng.integers(1, 6)),
                "prior_purchasing_sessions": 0 if first_session[s] else int(rng.integers(0, 2)),
                "prior_abandonment_rate": np.nan if first_session[s] else float(rng.random()),
                "days_since_previous_session": (
                    np.nan if first_session[s] else float(rng.exponential(5))
                ),
                "prior_revenue": 0.0 if first_session[s] else float(rng.exponential(20)),
            }
            rows["session_id"].append(f"{users[s]}-{s}")
            rows["prediction_point"].append(point)
            rows["user_id"].append(int(users[s]))
            rows["experiment_group"].append("treatment" if treatment[s] else "control")
            rows["session_start"].append(start)
            rows["session_month"].append(MONTHS[month[s]])
            seconds = np.timedelta64(int(values["seconds_since_session_start"]), "s")
            rows["point_at"].append(start + seconds)
            for name in moment.FEATURES:
                if name != "experiment_group":
                    rows[name].append(values[name])
            rows["abandoned"].append(bool(abandoned[s]))
            rows["purchased_within_24h"].append(bool(abandoned[s] and rng.random() < 0.05))
    whole = {
        "session_id": [f"{users[s]}-{s}" for s in range(sessions)],
        "user_id": users,
        "experiment_group": np.where(treatment == 1, "treatment", "control"),
        "session_start": [f"{MONTHS[month[s]]}-{1 + s % 27:02d} 10:00:00" for s in range(sessions)],
        "session_month": [MONTHS[m] for m in month],
        "total_views": np.maximum(0, np.round(6 + 3 * latent)).astype(int),
        "total_carts": 1 + (rng.random(sessions) < 0.4).astype(int),
        "session_duration_minutes": np.round(np.abs(8 + 5 * latent), 2),
        "abandoned_cart": abandoned,
    }
    return rows, whole


def write_moments(path: Path, sessions: int = 2500, seed: int = 3) -> tuple[dict, dict]:
    """gold.fct_cart_moments and gold.fct_cart_sessions in the DuckDB file at `path`."""
    rows, whole = moment_rows(sessions, seed)
    write_warehouse(path, whole)
    columns = {
        "session_id": pa.array(rows["session_id"], pa.string()),
        "prediction_point": pa.array(rows["prediction_point"], pa.string()),
        "user_id": pa.array(rows["user_id"], pa.int64()),
        "experiment_group": pa.array(rows["experiment_group"], pa.string()),
        "session_start": pa.array(np.array(rows["session_start"]), pa.timestamp("us", "UTC")),
        "session_month": pa.array(rows["session_month"], pa.string()),
        "point_at": pa.array(np.array(rows["point_at"]), pa.timestamp("us", "UTC")),
    }
    for name in moment.FEATURES:
        if name == "experiment_group":
            continue
        kind = pa.int64() if name in COUNTS else pa.float64()
        columns[name] = pa.array(rows[name], kind, from_pandas=True)  # NaN -> NULL
    columns["abandoned"] = pa.array(rows["abandoned"], pa.bool_())
    columns["purchased_within_24h"] = pa.array(rows["purchased_within_24h"], pa.bool_())
    moments = pa.table(columns)  # noqa: F841 (read by DuckDB's replacement scan)
    with duckdb.connect(str(path)) as con:
        con.execute("create or replace table gold.fct_cart_moments as select * from moments")
    return rows, whole


def tiny_moment_model(folder: Path, rounds: int = 6, seed: int = 5) -> Path:
    """A moment-family version folder without a warehouse: a few trees on the synthetic rows,
    the moment contract's metadata, and a calibration that is not the identity."""
    from pipeline.model import writer
    from pipeline.model.train import TRAIN_PARAMS, fit_booster
    from pipeline.serving.calibration import Platt, write_calibration
    from pipeline.serving.decision import DecisionRule, write_rule
    from pipeline.serving.features import GROUP_CODES

    rows, _ = moment_rows(600, seed)
    X = np.column_stack(
        [
            [GROUP_CODES[g] for g in rows["experiment_group"]]
            if name == "experiment_group"
            else np.asarray(rows[name], dtype=float)
            for name in moment.FEATURES
        ]
    ).astype(float)
    y = np.asarray(rows["abandoned"], dtype=int)
    booster = fit_booster(X, y, {**TRAIN_PARAMS, "n_estimators": rounds, "max_depth": 3}, seed)
    card = {"model_id": f"moment-test{seed:08d}", "engine": "local"}

    def extras(path: Path) -> None:
        write_calibration(path, Platt(0.8, 0.3, "a test calibration"))
        write_rule(path, DecisionRule())

    return writer.write_model(
        folder,
        booster,
        writer.contract_metadata({}, moment.FEATURES, moment.LABEL),
        card,
        {"views_so_far": X[:2, 0]},
        extras=extras,
    )
