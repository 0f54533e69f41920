"""What a drift report compares: the model's reference and later cart sessions, as pandas.

The reference is the current model's `reference_sample.csv` (1,000 of its training sessions),
or with `reference="window"` the model's whole training window read back from gold (a larger
baseline: Evidently then measures distances instead of running tests). Current slices are the
cart sessions of one month each, read through the warehouse interface (DuckDB or BigQuery).
Every frame carries the four contract features, experiment_group as its label
("control"/"treatment", a category) and the model's own P(abandoned) for each row.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.drift.verdict import DriftError
from pipeline.model.dataset import encoded_features
from pipeline.model.gold import read_cart_sessions
from pipeline.serving.artifact import LoadedModel, read_reference
from pipeline.serving.features import CONTRACT, FEATURES, GROUP_CODES
from pipeline.settings import Settings, month_key
from pipeline.warehouse.templates import render

PREDICTION = "abandonment_probability"
# The contract's group feature is a category for Evidently; counts, minutes and P are numbers.
CATEGORICAL = tuple(f.name for f in CONTRACT if f.kind == "group")
NUMERICAL = (*(f.name for f in CONTRACT if f.kind != "group"), PREDICTION)
COLUMNS = (*FEATURES, PREDICTION)
# A training window used as the reference is sampled down to this many sessions (seeded):
# far above Evidently's 1,000-row switch to distances, and a report stays a few seconds.
WINDOW_REFERENCE_ROWS = 100_000
# The deliberate shift of `ecom drift --shift`: two features scaled, two left alone, so the
# report shows what a shift looks like and that untouched columns stay quiet.
SHIFT_FACTORS: dict[str, float] = {"total_views": 1.5, "session_duration_minutes": 1.5}
Reference = Literal["sample", "window"]
_GROUP_NAMES = {float(code): name for name, code in GROUP_CODES.items()}


@dataclass(frozen=True)
class Slice:
    label: str  # file-name safe: "2020-02", "2020-02-shifted"
    month: str
    frame: pd.DataFrame
    shifted: bool = False


def frame_from_matrix(model: LoadedModel, matrix: np.ndarray) -> pd.DataFrame:
    """Contract-order encoded rows -> the report's columns, P(abandoned) scored by `model`."""
    frame = pd.DataFrame({name: matrix[:, i] for i, name in enumerate(FEATURES)})
    frame["experiment_group"] = pd.array(
        [_GROUP_NAMES.get(v) for v in matrix[:, FEATURES.index("experiment_group")]],
        dtype="object",
    )
    frame[PREDICTION] = model.predict_matrix(matrix) if len(frame) else np.array([])
    return frame


def reference_frame(
    model: LoadedModel, settings: Settings, reference: Reference = "sample"
) -> pd.DataFrame:
    if reference == "sample":
        sample = read_reference(model.path)
        matrix = np.column_stack([sample[name] for name in FEATURES])
        return frame_from_matrix(model, matrix)
    months = training_months(model)
    if not months:
        raise DriftError(
            f"{model.path}: the model card names no training months, so its window cannot be "
            "read back: use the reference sample (drop --reference window)."
        )
    matrix = _month_matrix(settings, months, "drift reference (training window)")
    if matrix.shape[0] > WINDOW_REFERENCE_ROWS:
        rng = np.random.default_rng(settings.seed)
        matrix = matrix[np.sort(rng.choice(matrix.shape[0], WINDOW_REFERENCE_ROWS, False))]
    return frame_from_matrix(model, matrix)


def training_months(model: LoadedModel) -> list[str]:
    return sorted(str(m) for m in (model.card.get("data_window") or {}).get("months") or [])


def months_sql(table: str, engine: str) -> str:
    """Cart sessions per month (sql/drift/cart_sessions_per_month.sql)."""
    return render("drift/cart_sessions_per_month.sql", engine, table=table)


def month_features_sql(table: str, engine: str, months: Sequence[str]) -> str:
    """The encoded features of the months' cart sessions (sql/drift/month_features.sql)."""
    keys = [month_key(m) for m in months]
    return render(
        "drift/month_features.sql",
        engine,
        table=table,
        months=keys,
        encoded_features=encoded_features(),
    )


def available_months(settings: Settings) -> dict[str, int]:
    """Cart sessions per month in gold.fct_cart_sessions, oldest first."""
    frame = read_cart_sessions(settings, months_sql, "drift report's month list")
    return {str(m): int(n) for m, n in zip(frame["session_month"], frame["sessions"], strict=True)}


def _month_matrix(settings: Settings, months: Sequence[str], what: str) -> np.ndarray:
    frame = read_cart_sessions(
        settings, lambda table, engine: month_features_sql(table, engine, months), what
    )
    return frame.select(FEATURES).cast({name: float for name in FEATURES}).to_numpy()


def month_frame(model: LoadedModel, settings: Settings, month: str) -> pd.DataFrame:
    return frame_from_matrix(model, _month_matrix(settings, [month], f"drift slice {month}"))


def shifted(frame: pd.DataFrame, model: LoadedModel) -> pd.DataFrame:
    """A copy with SHIFT_FACTORS applied (counts rounded) and P(abandoned) scored again."""
    out = frame.copy()
    for name, factor in SHIFT_FACTORS.items():
        values = out[name].to_numpy(dtype=float) * factor
        out[name] = np.round(values) if name == "total_views" else values
    codes = out["experiment_group"].map(lambda g: GROUP_CODES.get(g, np.nan)).astype(float)
    matrix = np.column_stack(
        [codes.to_numpy() if n == "experiment_group" else out[n].to_numpy() for n in FEATURES]
    )
    out[PREDICTION] = model.predict_matrix(matrix)
    return out


def choose_months(
    model: LoadedModel,
    available: Mapping[str, int],
    months: Sequence[str] | None,
    shift: bool,
) -> list[str]:
    """The months to report on: those asked for, else every month after the training window;
    with `shift` and nothing later, the window's newest month (the demonstration still runs)."""
    where = "gold.fct_cart_sessions"
    have = ", ".join(available) or "none"
    if months:
        try:
            asked = [month_key(m) for m in months]
        except ValueError as err:
            raise DriftError(f"--month: {err}") from err
        unknown = [m for m in asked if m not in available]
        if unknown:
            raise DriftError(
                f"No cart sessions for {', '.join(unknown)} in {where} (months there: {have})."
            )
        return asked
    window = training_months(model)
    if not window:
        raise DriftError(
            f"{model.path}: the model card names no training window, so 'later' is unknown: "
            "pick the months to compare with --month."
        )
    later = [m for m in available if m > window[-1]]
    if later:
        return later
    if shift and available:
        return [next(reversed(available))]
    raise DriftError(
        f"No cart sessions after the model's training window (through {window[-1]}) in "
        f"{where} (months there: {have}). Ingest later months (`ecom ingest`, then "
        "`ecom warehouse`), train on an earlier window (`ecom train --through MONTH`), "
        "compare a month of the window with --month, or demonstrate with --shift."
    )


def build_slices(
    model: LoadedModel, settings: Settings, chosen: Sequence[str], shift: bool
) -> list[Slice]:
    slices = []
    for month in chosen:
        frame = month_frame(model, settings, month)
        if shift:
            slices.append(Slice(f"{month}-shifted", month, shifted(frame, model), True))
        else:
            slices.append(Slice(month, month, frame))
    return slices


def center(reference: pd.Series, current: pd.Series, column: str) -> dict[str, Any]:
    """Where a column sits on each side, for the words that explain a drift: a number's
    median, the group's share of Treatment (None for an empty side)."""

    def one(values: pd.Series) -> float | None:
        values = values.dropna()
        if values.empty:
            return None
        if column in CATEGORICAL:
            return float((values == "treatment").mean())
        return float(values.median())

    statistic = "share of treatment" if column in CATEGORICAL else "median"
    return {"statistic": statistic, "reference": one(reference), "current": one(current)}


def describe(frame: pd.DataFrame) -> dict[str, Any]:
    """Per column: the share of missing values (Evidently drops them before testing)."""
    return {name: float(frame[name].isna().mean()) if len(frame) else None for name in COLUMNS}
