"""The dashboard's segment table: the readout's segments, adjusted as the readout adjusts them,
and the price bands only the dashboard shows, outside that family.

One family definition: the readout's (pipeline.abtest: its segments' p-values adjusted
together, by its configured correction). The page takes those adjusted p-values as they are,
so a segment's "p (Holm)" on the page is the one `ecom abtest` reports for the same users. The
price bands are exploration on top: each band's test is shown unadjusted, marked as outside the
family, and never "significant".
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from pipeline.abtest import queries as readout_queries
from pipeline.abtest.readout import Readout
from pipeline.stats.frequentist import ConversionResult, compare_conversion
from pipeline.stats.models import MESSAGES
from pipeline.stats.multiple import CORRECTION_NAMES
from streamlit_app.data.filters import BAND_BY_KEY, PRICE_BANDS, USER_TYPE_LABELS
from streamlit_app.data.formats import dimension_label, month_label

SEGMENT_SCHEMA = {
    "dimension": pl.String,
    "segment": pl.String,
    "label": pl.String,
    "control_users": pl.Int64,
    "control_conversion": pl.Float64,
    "treatment_users": pl.Int64,
    "treatment_conversion": pl.Float64,
    "lift": pl.Float64,
    "lift_lower": pl.Float64,
    "lift_upper": pl.Float64,
    "relative_lift": pl.Float64,
    "p_value": pl.Float64,
    "adjusted_p": pl.Float64,
    "in_family": pl.Boolean,
    "significant": pl.Boolean,
    "note": pl.String,
}
DIMENSION_ORDER = ("entry_month", "user_type", "price_band")
BAND_ORDER = [b.key for b in PRICE_BANDS]
OUTSIDE_FAMILY = "outside the readout's tests: not adjusted, exploration only"


@dataclass(frozen=True)
class Family:
    """The multiple-testing family the page's adjusted p-values belong to, in words."""

    correction: str  # the correction's name ("Holm")
    tests: int  # tests in the family (segments with a p-value)
    dimensions: tuple[str, ...]  # the readout's segment dimensions

    def sentence(self) -> str:
        dims = " and ".join(dimension_label(d).lower() for d in self.dimensions) or "none"
        return (
            f"p ({self.correction}) is adjusted across the readout's family of {self.tests} "
            f"segment tests ({dims}), the same family and adjustment as the experiment's "
            "readout report. Price bands are extra views of the dashboard: their p-values are "
            "not adjusted and never count as significant."
        )


def segment_label(dimension: str, segment: str) -> str:
    if dimension == "price_band" and segment in BAND_BY_KEY:
        return BAND_BY_KEY[segment].label
    if dimension == "user_type" and segment in USER_TYPE_LABELS:
        return {"new": "New users", "returning": "Returning users"}.get(segment, segment)
    if dimension == "entry_month":
        return month_label(segment)
    return segment


def family(readout: Readout) -> Family:
    dims = tuple(dict.fromkeys(s.dimension for s in readout.segments))
    return Family(
        CORRECTION_NAMES[readout.config.correction].split(" (")[0],
        sum(s.adjusted_p is not None for s in readout.segments),
        dims,
    )


def _order(row: dict) -> tuple:
    dimension, segment = row["dimension"], row["segment"]
    rank = DIMENSION_ORDER.index(dimension) if dimension in DIMENSION_ORDER else 99
    within = f"{BAND_ORDER.index(segment):03d}" if segment in BAND_ORDER else str(segment)
    return (rank, within)


def _row(
    dimension: str,
    segment: str,
    result: ConversionResult | None,
    counts: readout_queries.SegmentCounts | None,
    adjusted_p: float | None,
    in_family: bool,
    significant: bool | None,
    message: str,
) -> dict:
    control = result.control if result else (counts.control if counts else None)
    treatment = result.treatment if result else (counts.treatment if counts else None)
    lift = None if result is None else result.absolute
    relative = None if result is None else result.relative
    notes = [MESSAGES[message]] if message != "ok" else []  # type: ignore[index]
    if not in_family:
        notes.append(OUTSIDE_FAMILY)
    return {
        "dimension": dimension,
        "segment": segment,
        "label": segment_label(dimension, segment),
        "control_users": None if control is None else control.n,
        "control_conversion": None if control is None or not control.n else control.mean,
        "treatment_users": None if treatment is None else treatment.n,
        "treatment_conversion": None if treatment is None or not treatment.n else treatment.mean,
        "lift": None if lift is None else lift.estimate,
        "lift_lower": None if lift is None else lift.ci.lower,
        "lift_upper": None if lift is None else lift.ci.upper,
        "relative_lift": None if relative is None else relative.estimate,
        "p_value": None if result is None else result.p_value,
        "adjusted_p": adjusted_p,
        "in_family": in_family,
        "significant": significant,
        "note": "; ".join(notes),
    }


def segment_table(
    readout: Readout,
    counts: list[readout_queries.SegmentCounts],
    bands: list[readout_queries.SegmentCounts],
) -> pl.DataFrame:
    """The readout's segments with their adjusted p-values, then each price band's own test."""
    by_key = {(c.dimension, c.segment): c for c in counts}
    rows = [
        _row(
            seg.dimension,
            seg.segment,
            seg.result,
            by_key.get((seg.dimension, seg.segment)),
            seg.adjusted_p,
            True,
            seg.significant_adjusted,
            seg.message,
        )
        for seg in readout.segments
    ]
    alpha = readout.config.alpha
    for band in bands:
        if band.control is None or band.treatment is None:
            rows.append(
                _row(band.dimension, band.segment, None, band, None, False, None, "missing_group")
            )
            continue
        result = compare_conversion(band.control, band.treatment, alpha)
        rows.append(
            _row(band.dimension, band.segment, result, band, None, False, None, result.message)
        )
    rows.sort(key=_order)
    return pl.DataFrame(rows, schema=SEGMENT_SCHEMA)
