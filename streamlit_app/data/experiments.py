"""The dashboard's experiments: the selector's choices (experiments.yml, with each one's latest
decision read from gold.experiment_results rather than recomputed) and the selected one as
`ecom abtest` reads it; plus the pre-period balance table of a readout."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import polars as pl

from pipeline.abtest.decision import OUTCOME_WORDS
from pipeline.abtest.readout import Readout
from pipeline.abtest.recorded import recorded_experiment
from pipeline.abtest.results import TABLE as RESULTS_TABLE
from pipeline.errors import EcomError
from pipeline.experiment import Experiment
from pipeline.experiment.config import ExperimentSpec, load_experiments
from pipeline.settings import Settings
from pipeline.stats.models import MESSAGES
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for
from pipeline.warehouse.templates import render


@dataclass(frozen=True)
class Selected:
    """The experiment the page reads out, with what ingestion recorded for it (the injected
    experiment only), as `ecom abtest` reads it."""

    spec: ExperimentSpec
    recorded: Experiment | None = None
    settings_source: Literal["manifests", "settings"] = "settings"
    warnings: tuple[str, ...] = field(default_factory=tuple)


def selected(settings: Settings, key: str) -> Selected:
    experiments = load_experiments(settings)
    spec = experiments.get(key)
    if not spec.is_injected:
        return Selected(spec)
    recorded, source, warnings = recorded_experiment(settings.manifest_dir, experiments.ingestion)
    return Selected(spec, recorded, source, tuple(warnings))


@dataclass(frozen=True)
class Choice:
    """One experiment in the selector, with its latest readout when there is one."""

    key: str
    name: str
    kind: str
    decision: str | None = None
    data_through: datetime | None = None
    lift: float | None = None

    @property
    def label(self) -> str:
        kind = " (A/A)" if self.kind == "aa" else ""
        if self.decision is None:
            return f"{self.name}{kind} · not read out yet"
        lift = "" if self.lift is None else f", {self.lift * 100:+.1f}%"
        words = OUTCOME_WORDS.get(self.decision, self.decision)  # type: ignore[call-overload]
        return f"{self.name}{kind} · {words}{lift}"


def latest_decisions_sql(wh: Warehouse) -> str:
    return render(
        "dashboard/latest_decisions.sql", dialect_for(wh), table=wh.table("gold", RESULTS_TABLE)
    )


def choices(settings: Settings, wh: Warehouse) -> list[Choice]:
    """Every experiment of experiments.yml, in its order; the latest decisions come from
    gold.experiment_results (none before the first `ecom abtest`)."""
    try:
        found = wh.query(latest_decisions_sql(wh))
    except EcomError:  # no readout written yet: the choices stand without decisions
        found = pl.DataFrame()
    latest = {row["experiment_key"]: row for row in found.iter_rows(named=True)}
    out = []
    for spec in load_experiments(settings).experiments:
        row = latest.get(spec.key, {})
        out.append(
            Choice(
                spec.key,
                spec.name,
                spec.kind,
                row.get("decision"),
                row.get("data_through"),
                row.get("lift"),
            )
        )
    return out


BALANCE_SCHEMA = {
    "metric": pl.String,
    "population": pl.String,
    "control": pl.Float64,
    "treatment": pl.Float64,
    "difference": pl.Float64,
    "difference_lower": pl.Float64,
    "difference_upper": pl.Float64,
    "p_value": pl.Float64,
    "adjusted_p": pl.Float64,
    "result": pl.String,
}


def balance_frame(readout: Readout) -> pl.DataFrame:
    """The pre-period balance tests as the page's table (empty without a pre-period)."""
    balance = readout.balance
    if balance.message != "ok":
        return pl.DataFrame(schema=BALANCE_SCHEMA)
    rows = []
    for test in balance.tests:
        c = test.comparison
        rows.append(
            {
                "metric": test.label.capitalize(),
                "population": "Reached the cart" if test.population == "exposed" else "All users",
                "control": c.control_mean,
                "treatment": c.treatment_mean,
                "difference": None if c.absolute is None else c.absolute.estimate,
                "difference_lower": None if c.absolute is None else c.absolute.ci.lower,
                "difference_upper": None if c.absolute is None else c.absolute.ci.upper,
                "p_value": test.p_value,
                "adjusted_p": test.adjusted_p,
                "result": "Imbalanced"
                if test.flagged
                else ("Balanced" if test.adjusted_p is not None else MESSAGES[c.message]),
            }
        )
    return pl.DataFrame(rows, schema=BALANCE_SCHEMA)


def balance_rows(frame: pl.DataFrame) -> list[dict[str, str]]:
    """The balance table in words people read: rates as percentages, revenue in dollars,
    differences with their interval, p-values as '< 0.001'."""
    from streamlit_app.data import formats as fmt

    def signed_money(x: float) -> str:
        return f"{'-' if x < 0 else '+'}${abs(x):,.2f}"

    rows = []
    for r in frame.iter_rows(named=True):
        d, lower, upper = r["difference"], r["difference_lower"], r["difference_upper"]
        if "revenue" in r["metric"].lower():
            value = fmt.money
            change = fmt.DASH if d is None else signed_money(d)
            ci = (
                fmt.DASH
                if None in (lower, upper)
                else f"{signed_money(lower)} to {signed_money(upper)}"
            )
        else:
            value = fmt.pct
            change, ci = fmt.pp(d), fmt.interval(lower, upper, unit=" pp")
        rows.append(
            {
                "Before the start": r["metric"],
                "Users": r["population"],
                "Control": value(r["control"]),
                "Treatment": value(r["treatment"]),
                "Difference (95% CI)": f"{change} ({ci})",
                "p": fmt.p_value(r["p_value"]),
                "p (Holm)": fmt.p_value(r["adjusted_p"]),
                "Result": r["result"],
            }
        )
    return rows
