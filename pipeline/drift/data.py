"""What a drift report compares: the model's reference and later rows, as pandas.

The reference is the current model's `reference_sample.csv` (1,000 of its training rows),
or with `reference="window"` the model's whole training window read back from gold (a larger
baseline: Evidently then measures distances instead of running tests). Current slices are the
rows of one month each, read through the warehouse interface (DuckDB or BigQuery). Every frame
carries the family's contract features, experiment_group as its label ("control"/"treatment",
a category) and the model's own P(abandoned) for each row. A `View` says what that is per model
family: the session family's cart sessions (gold.fct_cart_sessions, four features) or the
moment family's prediction points (gold.fct_cart_moments, 18 features, the calibrated P).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from pipeline.drift.verdict import DriftError
from pipeline.model.dataset import group_code_sql
from pipeline.model.gold import read_gold
from pipeline.serving import features as session_contract
from pipeline.serving import moment as moment_contract
from pipeline.serving.artifact import LoadedModel, read_reference
from pipeline.serving.calibration import read_calibration
from pipeline.serving.features import GROUP_CODES, Feature
from pipeline.serving.trees import booster_margin
from pipeline.settings import Settings, month_key
from pipeline.warehouse.templates import render

PREDICTION = "abandonment_probability"
# A training window used as the reference is sampled down to this many rows (seeded):
# far above Evidently's 1,000-row switch to distances, and a report stays a few seconds.
WINDOW_REFERENCE_ROWS = 100_000
Reference = Literal["sample", "window"]
_GROUP_NAMES = {float(code): name for name, code in GROUP_CODES.items()}


@dataclass(frozen=True)
class View:
    """What one model family's drift report compares."""

    family: str
    table: str  # the gold table of its rows
    contract: tuple[Feature, ...]
    # The deliberate shift of `ecom drift --shift`: two features scaled (counts rounded), the
    # others left alone, so the report shows what a shift looks like and that they stay quiet.
    shift: dict[str, float] = field(default_factory=dict)
    order_by: str = "session_id"
    calibrated: bool = False  # P is the version's calibrated probability (calibration.json)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.contract)

    @property
    def categorical(self) -> tuple[str, ...]:
        """The group feature is a category for Evidently; counts, times and P are numbers."""
        return tuple(f.name for f in self.contract if f.kind == "group")

    @property
    def numerical(self) -> tuple[str, ...]:
        return (*(f.name for f in self.contract if f.kind != "group"), PREDICTION)

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.features, PREDICTION)

    @property
    def counts(self) -> frozenset[str]:
        return frozenset(f.name for f in self.contract if f.kind == "count")

    def out_dir(self, settings: Settings) -> Path:
        """The session family's reports where the app reads them; others in a subfolder."""
        return settings.drift_dir if self.family == "session" else settings.drift_dir / self.family

    def encoded_features(self) -> list[str]:
        return [
            f"{group_code_sql(name)} as {name}" if name in self.categorical else name
            for name in self.features
        ]


SESSION_VIEW = View(
    "session",
    "fct_cart_sessions",
    session_contract.CONTRACT,
    {"total_views": 1.5, "session_duration_minutes": 1.5},
)
MOMENT_VIEW = View(
    "moment",
    "fct_cart_moments",
    moment_contract.CONTRACT,
    {"views_so_far": 1.5, "seconds_since_session_start": 1.5},
    order_by="session_id, prediction_point",
    calibrated=True,
)
VIEWS: dict[str, View] = {view.family: view for view in (SESSION_VIEW, MOMENT_VIEW)}
# The session family's, by their earlier names.
CATEGORICAL = SESSION_VIEW.categorical
NUMERICAL = SESSION_VIEW.numerical
COLUMNS = SESSION_VIEW.columns
SHIFT_FACTORS = SESSION_VIEW.shift


@dataclass(frozen=True)
class Slice:
    label: str  # file-name safe: "2020-02", "2020-02-shifted"
    month: str
    frame: pd.DataFrame
    shifted: bool = False


def predict(model: LoadedModel, matrix: np.ndarray, view: View = SESSION_VIEW) -> np.ndarray:
    """The model's P(abandoned) as its consumers get it (calibrated where the family is)."""
    if not len(matrix):
        return np.array([])
    if view.calibrated:
        margin = booster_margin(model, model.booster, model.impute(matrix))
        return read_calibration(model.path).probabilities(margin)
    return model.predict_matrix(matrix)


def frame_from_matrix(
    model: LoadedModel, matrix: np.ndarray, view: View = SESSION_VIEW
) -> pd.DataFrame:
    """Contract-order encoded rows -> the report's columns, P(abandoned) scored by `model`."""
    frame = pd.DataFrame({name: matrix[:, i] for i, name in enumerate(view.features)})
    for name in view.categorical:
        frame[name] = pd.array(
            [_GROUP_NAMES.get(v) for v in matrix[:, view.features.index(name)]], dtype="object"
        )
    frame[PREDICTION] = predict(model, matrix, view)
    return frame


def reference_frame(
    model: LoadedModel,
    settings: Settings,
    reference: Reference = "sample",
    view: View = SESSION_VIEW,
) -> pd.DataFrame:
    if reference == "sample":
        sample = read_reference(model.path)
        matrix = np.column_stack([sample[name] for name in view.features])
        return frame_from_matrix(model, matrix, view)
    months = training_months(model)
    if not months:
        raise DriftError(
            f"{model.path}: the model card names no training months, so its window cannot be "
            "read back: use the reference sample (drop --reference window)."
        )
    matrix = _month_matrix(settings, months, "drift reference (training window)", view)
    if matrix.shape[0] > WINDOW_REFERENCE_ROWS:
        rng = np.random.default_rng(settings.seed)
        matrix = matrix[np.sort(rng.choice(matrix.shape[0], WINDOW_REFERENCE_ROWS, False))]
    return frame_from_matrix(model, matrix, view)


def training_months(model: LoadedModel) -> list[str]:
    """The months the model trained on (a session card's `months`, a moment card's
    `train_months`)."""
    window = model.card.get("data_window") or {}
    return sorted(str(m) for m in window.get("months") or window.get("train_months") or [])


def months_sql(table: str, engine: str) -> str:
    """Cart sessions per month (sql/drift/cart_sessions_per_month.sql)."""
    return render("drift/cart_sessions_per_month.sql", engine, table=table)


def month_features_sql(
    table: str, engine: str, months: Sequence[str], view: View = SESSION_VIEW
) -> str:
    """The encoded features of the months' rows (sql/drift/month_features.sql)."""
    keys = [month_key(m) for m in months]
    return render(
        "drift/month_features.sql",
        engine,
        table=table,
        months=keys,
        encoded_features=view.encoded_features(),
        order_by=view.order_by,
    )


def available_months(settings: Settings, view: View = SESSION_VIEW) -> dict[str, int]:
    """Rows per month in the view's gold table, oldest first."""
    frame = read_gold(settings, view.table, months_sql, "drift report's month list")
    return {str(m): int(n) for m, n in zip(frame["session_month"], frame["sessions"], strict=True)}


def _month_matrix(
    settings: Settings, months: Sequence[str], what: str, view: View = SESSION_VIEW
) -> np.ndarray:
    frame = read_gold(
        settings,
        view.table,
        lambda table, engine: month_features_sql(table, engine, months, view),
        what,
    )
    return frame.select(view.features).cast({name: float for name in view.features}).to_numpy()


def month_frame(
    model: LoadedModel, settings: Settings, month: str, view: View = SESSION_VIEW
) -> pd.DataFrame:
    matrix = _month_matrix(settings, [month], f"drift slice {month}", view)
    return frame_from_matrix(model, matrix, view)


def shifted(frame: pd.DataFrame, model: LoadedModel, view: View = SESSION_VIEW) -> pd.DataFrame:
    """A copy with the view's shift applied (counts rounded) and P(abandoned) scored again."""
    out = frame.copy()
    for name, factor in view.shift.items():
        values = out[name].to_numpy(dtype=float) * factor
        out[name] = np.round(values) if name in view.counts else values
    columns = []
    for name in view.features:
        if name in view.categorical:
            codes = out[name].map(lambda g: GROUP_CODES.get(g, np.nan)).astype(float)
            columns.append(codes.to_numpy())
        else:
            columns.append(out[name].to_numpy(dtype=float))
    out[PREDICTION] = predict(model, np.column_stack(columns), view)
    return out


def choose_months(
    model: LoadedModel,
    available: Mapping[str, int],
    months: Sequence[str] | None,
    shift: bool,
    view: View = SESSION_VIEW,
) -> list[str]:
    """The months to report on: those asked for, else every month after the training window;
    with `shift` and nothing later, the window's newest month (the demonstration still runs)."""
    where = f"gold.{view.table}"
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
    model: LoadedModel,
    settings: Settings,
    chosen: Sequence[str],
    shift: bool,
    view: View = SESSION_VIEW,
) -> list[Slice]:
    slices = []
    for month in chosen:
        frame = month_frame(model, settings, month, view)
        if shift:
            slices.append(Slice(f"{month}-shifted", month, shifted(frame, model, view), True))
        else:
            slices.append(Slice(month, month, frame))
    return slices


def center(
    reference: pd.Series, current: pd.Series, column: str, view: View = SESSION_VIEW
) -> dict[str, Any]:
    """Where a column sits on each side, for the words that explain a drift: a number's
    median, the group's share of Treatment (None for an empty side)."""

    def one(values: pd.Series) -> float | None:
        values = values.dropna()
        if values.empty:
            return None
        if column in view.categorical:
            return float((values == "treatment").mean())
        return float(values.median())

    statistic = "share of treatment" if column in view.categorical else "median"
    return {"statistic": statistic, "reference": one(reference), "current": one(current)}


def describe(frame: pd.DataFrame, view: View = SESSION_VIEW) -> dict[str, Any]:
    """Per column: the share of missing values (Evidently drops them before testing)."""
    return {name: float(frame[name].isna().mean()) if len(frame) else None for name in view.columns}
