"""gold.experiment_results: every number of every readout as rows analysts can query, join and
chart in their own tools.

One row per run, experiment, metric, method, population, segment and look (the grain: the
columns of `KEY`), each with its estimate, interval, p-value or probability, the correction and
the family it belongs to (pipeline.abtest.families), the experiment's decision, the data's
last instant and the run id. The rows are a function of readout.json (`rows`), so the table
says exactly what the file says. The readout writes them through the warehouse interface on
either engine (`Warehouse.replace_rows`): a re-run of the same run id replaces that run's rows
of that experiment in one transaction, and earlier runs stay (the history).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, get_args

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from pipeline.abtest.document import Conversion, Means, ReadoutDocument

TABLE = "experiment_results"
# The grain: one row per combination (unique within the table).
KEY = ("run_id", "experiment_key", "metric", "method", "population", "dimension", "segment", "look")
ALL = "all"  # the dimension and segment of a whole-population row


class ResultRow(BaseModel):
    """gold.experiment_results: one number of one readout (table written by `ecom abtest`)."""

    model_config = ConfigDict(frozen=True)

    run_id: str = Field(description="Data-through time and a digest of the analysis settings.")
    experiment_key: str
    experiment_name: str
    metric: str = Field(description="cart_conversion, revenue_per_user, sample_ratio, ...")
    method: str = Field(description="z_test, welch, cuped, harm_test, sequential, chi_square, ...")
    population: str = Field(description="exposed (reached the cart) or all.")
    dimension: str = Field(description="all, or the segment dimension (day, entry_month, ...).")
    segment: str = Field(description="all, or the segment (a day, a month, new, returning).")
    look: int = Field(description="The weekly look (0 = first week); final rows: the last.")
    control_units: int | None
    treatment_units: int | None
    control_value: float | None
    treatment_value: float | None
    estimate: float | None = Field(description="Treatment minus Control.")
    ci_lower: float | None
    ci_upper: float | None
    relative_estimate: float | None = Field(description="The lift: estimate / |Control|.")
    relative_ci_lower: float | None
    relative_ci_upper: float | None
    p_value: float | None
    adjusted_p_value: float | None = Field(description="After the family's correction.")
    chance_to_win: float | None = Field(description="Bayesian P(Treatment better).")
    correction: str = Field(description="none, holm, bh or always_valid.")
    family: str = Field(description="The family of tests (readout.json's families).")
    is_significant: bool = Field(description="Flagged at the family's level (SRM: mismatch).")
    decision: str = Field(description="The experiment's decision (ship, do_not_ship, ...).")
    experiment_start: date | None
    experiment_end: date | None = Field(description="The configured last day, if any.")
    data_through: datetime | None = Field(description="The data's last instant (UTC).")
    written_at: datetime = Field(description="When this run's rows were written (UTC).")
    schema_version: str = Field(description="readout.json's schema version.")


_POLARS: dict[type, pl.DataType] = {
    bool: pl.Boolean(),
    int: pl.Int64(),
    float: pl.Float64(),
    str: pl.String(),
    datetime: pl.Datetime("us", "UTC"),
    date: pl.Date(),
}


def _polars_type(annotation: Any) -> pl.DataType:
    """The column type of a field annotated `T` or `T | None`."""
    (python_type,) = [a for a in get_args(annotation) if a is not type(None)] or [annotation]
    return _POLARS[python_type]


# The table's columns and types, from the model (one place for the contract).
RESULTS_SCHEMA = pl.Schema(
    {name: _polars_type(field.annotation) for name, field in ResultRow.model_fields.items()}
)


def _n(value: Any) -> float | None:
    return None if value is None else float(value)


def _effects(absolute: Any, relative: Any) -> dict[str, float | None]:
    return {
        "estimate": None if absolute is None else absolute.estimate,
        "ci_lower": None if absolute is None else absolute.ci.lower,
        "ci_upper": None if absolute is None else absolute.ci.upper,
        "relative_estimate": None if relative is None else relative.estimate,
        "relative_ci_lower": None if relative is None else relative.ci.lower,
        "relative_ci_upper": None if relative is None else relative.ci.upper,
    }


def _conversion(c: Conversion) -> dict[str, Any]:
    return {
        "control_units": c.control.n,
        "treatment_units": c.treatment.n,
        "control_value": c.control.mean,
        "treatment_value": c.treatment.mean,
        **_effects(c.absolute, c.relative),
        "p_value": c.p_value,
        "is_significant": c.significant,
    }


def _means(m: Means) -> dict[str, Any]:
    return {
        "control_units": m.n_control,
        "treatment_units": m.n_treatment,
        "control_value": m.control_mean,
        "treatment_value": m.treatment_mean,
        **_effects(m.absolute, m.relative),
        "p_value": m.p_value,
        "is_significant": m.significant,
    }


def _row_dicts(r: ReadoutDocument) -> Iterator[dict[str, Any]]:
    """Every result of the document, as the columns that vary by row."""
    bayes = r.bayesian
    yield {
        "metric": "cart_conversion",
        "method": "z_test",
        "population": "exposed",
        "family": "primary",
        **_conversion(r.primary.conversion),
        "chance_to_win": bayes["conversion"].chance_to_win,
    }
    yield {
        "metric": "cart_conversion",
        "method": "cuped",
        "population": "exposed",
        "family": "secondary",
        **_means(r.cuped.adjusted),
    }
    yield {
        "metric": "conversion",
        "method": "z_test",
        "population": "all",
        "family": "secondary",
        **_conversion(r.all_users.conversion),
    }
    yield {
        "metric": "revenue_per_user",
        "method": "welch",
        "population": "all",
        "family": "secondary",
        **_means(r.revenue),
        "chance_to_win": bayes["revenue_per_user"].chance_to_win,
    }
    yield {
        "metric": "revenue_per_user",
        "method": "cuped",
        "population": "all",
        "family": "secondary",
        **_means(r.revenue_cuped.adjusted),
    }
    if r.revenue_winsorized is not None:
        yield {
            "metric": "revenue_per_user",
            "method": "welch_winsorized",
            "population": "all",
            "family": "secondary",
            **_means(r.revenue_winsorized),
        }
    for metric, means in (
        ("revenue_per_order", r.revenue_per_order),
        ("revenue_per_item", r.revenue_per_item),
    ):
        yield {
            "metric": metric,
            "method": "delta_ratio",
            "population": "all",
            "family": "secondary",
            **_means(means),
        }
    for g in r.guardrails:
        population = "exposed" if g.metric == "remove_from_cart_rate" else "all"
        yield {
            "metric": g.metric,
            "method": "harm_test",
            "population": population,
            "family": "guardrails",
            "correction": "holm",
            **_means(g.comparison),
            "p_value": g.p_harm,
            "adjusted_p_value": g.p_harm_adjusted,
            "is_significant": g.status == "fail",
        }
        if g.margin is not None:
            yield {
                "metric": g.metric,
                "method": "non_inferiority",
                "population": population,
                "family": "non_inferiority",
                **_means(g.comparison),
                "p_value": g.p_noninferiority,
                "is_significant": g.p_noninferiority is not None and g.p_noninferiority < g.alpha,
            }
    for seg in r.segments:
        base = {
            "metric": "cart_conversion",
            "method": "z_test",
            "population": "exposed",
            "dimension": seg.dimension,
            "segment": seg.segment,
            "family": "segments",
            "correction": r.config.correction,
            "adjusted_p_value": seg.adjusted_p,
        }
        found = {} if seg.result is None else _conversion(seg.result)
        yield {**base, **found, "is_significant": seg.significant_adjusted}
    for look in r.sequential.looks:
        ok = look.sequential_ci is not None
        yield {
            "metric": "cart_conversion",
            "method": "sequential",
            "population": "exposed",
            "look": look.week,
            "family": "sequential",
            "correction": "always_valid",
            "control_units": look.control.n,
            "treatment_units": look.treatment.n,
            "control_value": look.control.mean,
            "treatment_value": look.treatment.mean,
            "estimate": look.estimate,
            "ci_lower": look.sequential_ci.lower if ok else None,
            "ci_upper": look.sequential_ci.upper if ok else None,
            "p_value": look.sequential_p,
            "is_significant": look.sequential_p is not None and look.sequential_p < r.config.alpha,
        }
    for pop in (r.primary, r.all_users):
        yield _sample_ratio(pop.srm, pop.name, ALL, ALL, "srm", "none", None)
    for fam in (r.srm_by_day, *r.srm_by_segment):
        for check in fam.checks:
            yield _sample_ratio(
                check.result,
                "all",
                fam.dimension,
                check.segment,
                f"srm_by_{fam.dimension}",
                fam.correction,
                check.adjusted_p,
                check.flagged,
            )
    for test in r.balance.tests:
        yield {
            "metric": test.metric,
            "method": "welch",
            "population": test.population,
            "family": "balance",
            "correction": r.balance.correction,
            **_means(test.comparison),
            "adjusted_p_value": test.adjusted_p,
            "is_significant": test.flagged,
        }


def _sample_ratio(
    srm: Any,
    population: str,
    dimension: str,
    segment: str,
    family: str,
    correction: str,
    adjusted: float | None,
    flagged: bool | None = None,
) -> dict[str, Any]:
    total = sum(srm.observed)
    return {
        "metric": "sample_ratio",
        "method": "chi_square",
        "population": population,
        "dimension": dimension,
        "segment": segment,
        "family": family,
        "correction": correction,
        "control_units": srm.observed[0],
        "treatment_units": srm.observed[1],
        "control_value": srm.observed[0] / total if total else None,
        "treatment_value": srm.observed[1] / total if total else None,
        "p_value": srm.p_value,
        "adjusted_p_value": adjusted,
        "is_significant": srm.flagged if flagged is None else flagged,
    }


def rows(document: ReadoutDocument, written_at: datetime | None = None) -> list[ResultRow]:
    """The document's results as table rows (the same numbers, by construction)."""
    e = document.experiment
    last_look = max((k.week for k in document.sequential.looks), default=0)
    common = {
        "run_id": document.run_id,
        "experiment_key": e.key,
        "experiment_name": e.name,
        "dimension": ALL,
        "segment": ALL,
        "look": last_look,
        "correction": "none",
        "decision": document.decision.outcome,
        "experiment_start": None if e.start is None else date.fromisoformat(e.start),
        "experiment_end": None if e.end_setting is None else date.fromisoformat(e.end_setting),
        "data_through": None if e.data_through is None else datetime.fromisoformat(e.data_through),
        "written_at": written_at or datetime.now(UTC),
        "schema_version": document.schema_version,
    }
    blank = dict.fromkeys(ResultRow.model_fields, None)
    return [ResultRow.model_validate({**blank, **common, **row}) for row in _row_dicts(document)]


def frame(result_rows: list[ResultRow]) -> pl.DataFrame:
    return pl.DataFrame([r.model_dump() for r in result_rows], schema=RESULTS_SCHEMA)


def write_results(wh: Any, document: ReadoutDocument) -> int:
    """Replace this run's rows of this experiment in gold.experiment_results (created on the
    first write); return how many rows the run now has there."""
    return wh.replace_rows(
        "gold",
        TABLE,
        RESULTS_SCHEMA,
        frame(rows(document)),
        {"experiment_key": document.experiment.key, "run_id": document.run_id},
    )


def shipped_last_quarter_sql(wh: Any, today: date | None = None) -> str:
    """The documented analyst query (sql/results/shipped_last_quarter.sql); `today` fixes the
    quarter (default: the warehouse's current date)."""
    from pipeline.warehouse.dialect import dialect_for
    from pipeline.warehouse.templates import render

    return render(
        "results/shipped_last_quarter.sql",
        dialect_for(wh),
        table=wh.table("gold", TABLE),
        today="current_date" if today is None else f"date '{today.isoformat()}'",
    )
