"""How the model actually did: its warehouse scores against what the sessions then did.

Labels arrive with the session (a cart abandoned or bought), so the realized ROC-AUC, Brier
score and calibration need no estimate: sql/monitoring/realized.sql computes them per slice from
gold.cart_session_scores joined to gold.fct_cart_sessions, on DuckDB or BigQuery alike. Slices:
every week (training weeks flagged), and, over the sessions after the training window (what the
model never saw), each experiment group, each predicted risk band and each tenth of the
predicted probability (the calibration table).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for
from pipeline.warehouse.templates import render

SCORES = "cart_session_scores"
SESSIONS = "fct_cart_sessions"
MODEL_ID = re.compile(r"[A-Za-z0-9_.-]+")
MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
PREDICTED = "scores.abandonment_probability"
BINS = 10  # the calibration table's bins: tenths of the predicted probability
EPOCH = date(1970, 1, 1)
RESULT_SCHEMA = {
    "slice": pl.String,
    "sessions": pl.Int64,
    "abandoned": pl.Int64,
    "mean_predicted": pl.Float64,
    "observed_rate": pl.Float64,
    "brier": pl.Float64,
    "roc_auc": pl.Float64,
}


def week_slice(d) -> str:
    """Monday-start weeks as whole weeks since the Monday before 1970-01-01 (a Thursday)."""
    return d.cast_bigint(f"floor(({d.epoch_day('sessions.session_start')} + 3) / 7)")


def monday(week: int) -> date:
    return EPOCH + timedelta(days=7 * week - 3)


def band_slice(thresholds: dict[str, float]) -> str:
    medium, high = float(thresholds["medium"]), float(thresholds["high"])
    return (
        f"case when {PREDICTED} >= {high!r} then 'high' "
        f"when {PREDICTED} >= {medium!r} then 'medium' else 'low' end"
    )


def bin_slice(d) -> str:
    return d.cast_bigint(f"least(floor({PREDICTED} * {BINS}), {BINS - 1})")


def realized_sql(wh: Warehouse, model_id: str, slice_sql: str, after: str | None = None) -> str:
    """sql/monitoring/realized.sql for one model and one slicing."""
    if not MODEL_ID.fullmatch(model_id):
        raise ValueError(f"a model id has letters, digits, '-', '_' or '.', got {model_id!r}")
    if after is not None and not MONTH.fullmatch(after):
        raise ValueError(f"'after' is a month 'YYYY-MM', got {after!r}")
    return render(
        "monitoring/realized.sql",
        dialect_for(wh),
        scores=wh.table("gold", SCORES),
        sessions=wh.table("gold", SESSIONS),
        model_id=model_id,
        slice=slice_sql,
        after=after,
    )


def realized_queries(
    wh: Warehouse, model_id: str, through: str | None, thresholds: dict[str, float]
) -> dict[str, str]:
    """Every query behind the Monitoring tab's outcomes, by name."""
    d = dialect_for(wh)
    return {
        "overall": realized_sql(wh, model_id, "'after training'", through),
        "weeks": realized_sql(wh, model_id, week_slice(d)),
        "groups": realized_sql(wh, model_id, "sessions.experiment_group", through),
        "bands": realized_sql(wh, model_id, band_slice(thresholds), through),
        "bins": realized_sql(wh, model_id, bin_slice(d), through),
    }


@dataclass(frozen=True)
class Realized:
    model_id: str
    through: str | None  # the training window's last month: later sessions are out of time
    overall: pl.DataFrame  # one row: every session after the training window
    weeks: pl.DataFrame  # per week (its Monday), with in_training
    groups: pl.DataFrame  # per experiment group, after the training window
    bands: pl.DataFrame  # per predicted risk band, after the training window
    calibration: pl.DataFrame  # per tenth of the predicted probability, after the window

    @property
    def is_empty(self) -> bool:
        return self.weeks.height == 0


def _frame(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col("slice").cast(pl.String)).cast(RESULT_SCHEMA)  # type: ignore[arg-type]


def _weeks(frame: pl.DataFrame, through: str | None) -> pl.DataFrame:
    weeks = _frame(frame).with_columns(
        pl.col("slice").cast(pl.Int64).map_elements(monday, return_dtype=pl.Date).alias("week")
    )
    in_training = pl.lit(False)
    if through is not None:
        in_training = pl.col("week").dt.strftime("%Y-%m") <= through
    return weeks.select("week", in_training.alias("in_training"), *RESULT_SCHEMA).drop("slice")


def _bins(frame: pl.DataFrame) -> pl.DataFrame:
    bins = _frame(frame).with_columns(pl.col("slice").cast(pl.Int64).alias("bin"))
    return bins.select(
        (pl.col("bin") / BINS).alias("predicted_from"),
        ((pl.col("bin") + 1) / BINS).alias("predicted_to"),
        *(c for c in RESULT_SCHEMA if c not in ("slice", "roc_auc")),
    )


def load_realized(
    wh: Warehouse,
    model_id: str,
    through: str | None,
    thresholds: dict[str, float],
    query=None,
) -> Realized:
    """Run the queries (a few at a time) and lay their results out."""
    run = query or wh.query
    sqls = realized_queries(wh, model_id, through, thresholds)
    with ThreadPoolExecutor(max_workers=len(sqls)) as pool:
        frames = dict(zip(sqls, pool.map(run, sqls.values()), strict=True))
    band_order = {"low": 0, "medium": 1, "high": 2}
    return Realized(
        model_id=model_id,
        through=through,
        overall=_frame(frames["overall"]),
        weeks=_weeks(frames["weeks"], through),
        groups=_frame(frames["groups"]),
        bands=_frame(frames["bands"]).sort(pl.col("slice").replace_strict(band_order, default=9)),
        calibration=_bins(frames["bins"]),
    )
