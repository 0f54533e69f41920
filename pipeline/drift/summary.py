"""The drift summary `ecom drift` writes (latest.json, drift_<label>.json), as pydantic models,
and its Markdown (templates/drift_summary.md.j2: latest.md).

The models are the one statement of the summary's shape: `run.py` builds them, the CLI prints
from them, `DriftSummary.model_json_schema()` is the published schema. Non-finite numbers are
refused (the JSON is strict: verdict.finite_json turns them into null first). Fields a summary
does not carry (a slice's note, a shifted slice's factors) stay out of its JSON.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any, Literal

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from pipeline import markdown

Kind = Literal["p_value", "distance"]


class _Strict(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the fields that were set, in field order, by their JSON names."""
        return self.model_dump(by_alias=True, exclude_unset=True)


class MissingShare(_Strict):
    reference: float
    current: float | None = Field(description="null for a slice without rows.")


class Center(_Strict):
    """Where the column sits in the reference and in the slice (pipeline.drift.data.center)."""

    statistic: Literal["median", "share of treatment"]
    reference: float | None
    current: float | None


class ColumnDrift(_Strict):
    """One column of one slice: Evidently's method, threshold and score, and the project's
    verdict (pipeline/drift/verdict.py)."""

    column: str
    method: str = Field(description="Evidently's method, or 'missing values' (none could run).")
    kind: Kind | None = Field(
        description="p_value: drifted below the threshold; distance: at or above it."
    )
    threshold: float | None
    score: float | None = Field(description="null when not finite (see the note).")
    drifted: bool
    note: str | None = None
    missing_share: MissingShare | None = None
    center: Center | None = None


class SliceDrift(_Strict):
    """One slice (a month, or a shifted copy of one) against the reference."""

    label: str = Field(description="File-name safe: 2020-02, 2020-02-shifted.")
    rows: int
    method_regime: str = Field(description="p_value, distance, mixed or none: what ran.")
    regime_rule: str
    regime_expected: Kind
    regime_reason: str
    drifted_columns: list[str]
    drifted_count: int
    columns_checked: int
    dataset_drifted: bool = Field(
        description="At least dataset_drift_share of the columns drifted."
    )
    dataset_drift_share: float
    columns: list[ColumnDrift]
    note: str | None = None
    month: str | None = None
    shifted: bool | None = None
    html: str | None = Field(None, description="This slice's Evidently report (a file beside).")
    json_file: str | None = Field(None, alias="json", description="This slice's own summary.")
    shift: dict[str, float] | None = Field(None, description="The factors of a shifted slice.")


class DriftSummary(_Strict):
    """latest.json (every slice of the newest run), latest-shift.json (the newest `--shift`
    run's), drift_<label>.json (one slice) or a kept run's summary.json."""

    model_id: str
    generated_at: str
    reference: Literal["sample", "window"] = Field(
        description="sample: the model's reference sample; window: its training window."
    )
    reference_rows: int
    training_months: list[str]
    slices: list[SliceDrift]
    html: str = Field(description="The last slice's Evidently report (a file beside).")


OUTPUT_MODELS: tuple[type[BaseModel], ...] = (DriftSummary,)


def _number(value: float | None, spec: str) -> str:
    return "–" if value is None or not math.isfinite(value) else format(value, spec)


@cache
def _template() -> jinja2.Template:
    return markdown.template("pipeline.drift", "drift_summary.md.j2", number=_number)


def render_markdown(summary: DriftSummary) -> str:
    """The summary for people: each slice's verdict and its columns' table."""
    return _template().render(summary=summary)
