"""The dashboard's numbers, from the queries' aggregates: KPIs, verdict, funnel, lift, segments.

All statistics come from pipeline.stats and the readout's public functions (the same tests,
intervals and wording as `ecom abtest`); this module only sums the aggregates into sufficient
statistics and lays the results out as frames the page draws and downloads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from pipeline.abtest.queries import SegmentCounts
from pipeline.abtest.readout import ReadoutConfig, segment_results, verdict_sentence
from pipeline.dashboard.filters import BAND_BY_KEY, USER_TYPE_LABELS, Filters
from pipeline.experiment import CONTROL, GROUPS, TREATMENT
from pipeline.stats.frequentist import (
    ConversionResult,
    MeanResult,
    compare_conversion,
    compare_means,
)
from pipeline.stats.models import MESSAGES
from pipeline.stats.power import PowerResult, power_analysis
from pipeline.stats.sequential import SequentialResult, conversion_looks
from pipeline.stats.srm import SrmResult, srm_test
from pipeline.stats.sufficient import Proportion, RatioMean, SampleMean

EPOCH = date(1970, 1, 1)
FUNNEL_STAGES = ("viewed", "carted", "purchased")


def day_of(epoch_day: int) -> date:
    return EPOCH + timedelta(days=int(epoch_day))


@dataclass(frozen=True)
class GroupKpis:
    """One group's tiles. revenue_per_purchase is None without purchases."""

    group: str
    users: int
    converters: int
    purchases: float
    revenue: float

    @property
    def conversion(self) -> float:
        return self.converters / self.users if self.users else 0.0

    @property
    def revenue_per_user(self) -> float:
        return self.revenue / self.users if self.users else 0.0

    @property
    def revenue_per_purchase(self) -> float | None:
        return self.revenue / self.purchases if self.purchases else None


@dataclass(frozen=True)
class Comparison:
    """Treatment against Control on the filtered users, as `ecom abtest` computes it."""

    srm: SrmResult
    conversion: ConversionResult
    revenue_per_user: MeanResult
    revenue_per_purchase: MeanResult
    power: PowerResult
    verdict: str


@dataclass(frozen=True)
class Dashboard:
    filters: Filters
    kpis: dict[str, GroupKpis]
    comparison: Comparison
    funnel: pl.DataFrame  # group, unit, stage, count, share_of_first
    cumulative: pl.DataFrame  # one row per day: cumulative counts, lift, both intervals
    sequential: SequentialResult
    daily: pl.DataFrame  # one row per day: each group's conversion that day, the day's lift
    segments: pl.DataFrame  # one row per segment: both groups, lift, adjusted p
    warnings: tuple[str, ...]

    @property
    def is_empty(self) -> bool:
        return sum(k.users for k in self.kpis.values()) == 0

    def kpi_frame(self) -> pl.DataFrame:
        """The tiles as a table (for the download)."""
        rows = []
        for group in GROUPS:
            k = self.kpis[group]
            rows.append(
                {
                    "experiment_group": group,
                    "users": k.users,
                    "converters": k.converters,
                    "conversion": k.conversion,
                    "revenue": k.revenue,
                    "purchases": k.purchases,
                    "revenue_per_user": k.revenue_per_user,
                    "revenue_per_purchase": k.revenue_per_purchase,
                }
            )
        return pl.DataFrame(rows, schema_overrides={"revenue_per_purchase": pl.Float64})


# ---------------------------------------------------------------------------- user cells


def _group_sums(cells: pl.DataFrame) -> dict[str, dict[str, float]]:
    columns = [
        c for c in cells.columns if c not in ("experiment_group", "first_day", "converted_day")
    ]
    sums = {group: dict.fromkeys(columns, 0.0) for group in GROUPS}
    if cells.height:
        totals = cells.group_by("experiment_group").agg(pl.col(columns).sum())
        for row in totals.iter_rows(named=True):
            if row["experiment_group"] in sums:
                sums[row["experiment_group"]] = {c: float(row[c] or 0) for c in columns}
    return sums


def compare(sums: dict[str, dict[str, float]], config: ReadoutConfig) -> Comparison:
    def proportion(s: dict[str, float]) -> Proportion:
        return Proportion(int(s["users"]), int(s["converters"]))

    def revenue(s: dict[str, float]) -> SampleMean:
        return SampleMean(int(s["users"]), s["revenue_sum"], s["revenue_sum_squares"])

    def order_value(s: dict[str, float]) -> RatioMean:
        return RatioMean(
            int(s["users"]),
            s["revenue_sum"],
            s["revenue_sum_squares"],
            s["orders_sum"],
            s["orders_sum_squares"],
            s["revenue_orders_sum"],
        )

    control, treatment = sums[CONTROL], sums[TREATMENT]
    srm = srm_test([int(control["users"]), int(treatment["users"])], alpha=config.srm_alpha)
    conversion = compare_conversion(
        proportion(control), proportion(treatment), config.alpha, config.verdict_test
    )
    power = power_analysis(
        proportion(control).mean,
        int(control["users"]),
        int(treatment["users"]),
        config.alpha,
        config.power,
        config.target_relative_lift,
        config.verdict_test,
    )
    return Comparison(
        srm=srm,
        conversion=conversion,
        revenue_per_user=compare_means(revenue(control), revenue(treatment), config.alpha),
        revenue_per_purchase=compare_means(
            order_value(control), order_value(treatment), config.alpha
        ),
        power=power,
        verdict=verdict_sentence(conversion, srm, power, config.alpha),
    )


def users_funnel(sums: dict[str, dict[str, float]]) -> pl.DataFrame:
    rows = []
    for group in GROUPS:
        counts = [sums[group]["viewers"], sums[group]["carters"], sums[group]["converters"]]
        rows += _funnel_rows(group, "users", counts)
    return pl.DataFrame(rows, schema=FUNNEL_SCHEMA)


FUNNEL_SCHEMA = {
    "experiment_group": pl.String,
    "unit": pl.String,
    "stage": pl.String,
    "count": pl.Int64,
    "share_of_first": pl.Float64,
}


def _funnel_rows(group: str, unit: str, counts: list[float]) -> list[dict]:
    first = counts[0]
    return [
        {
            "experiment_group": group,
            "unit": unit,
            "stage": stage,
            "count": int(count),
            "share_of_first": count / first if first else None,
        }
        for stage, count in zip(FUNNEL_STAGES, counts, strict=True)
    ]


def cumulative_lift(
    cells: pl.DataFrame, config: ReadoutConfig
) -> tuple[pl.DataFrame, SequentialResult]:
    """One look per day: users first seen by the end of the day, converters by then.

    The fixed-horizon interval beside the always-valid confidence sequence (the same
    `conversion_looks` as the readout's weekly view, here with a look a day)."""
    if cells.height == 0:
        return pl.DataFrame(schema=CUMULATIVE_SCHEMA), conversion_looks([], config.alpha)
    first = int(cells["first_day"].min())
    last_converted = cells["converted_day"].max()
    last = max(
        int(cells["first_day"].max()), first if last_converted is None else int(last_converted)
    )
    days = last - first + 1
    seen = {g: [0] * days for g in GROUPS}
    converted = {g: [0] * days for g in GROUPS}
    for row in cells.select("experiment_group", "first_day", "converted_day", "users").iter_rows():
        group, first_day, converted_day, users = row
        if group not in seen:
            continue
        seen[group][int(first_day) - first] += int(users)
        if converted_day is not None:
            converted[group][int(converted_day) - first] += int(users)
    looks: list[tuple[Proportion, Proportion]] = []
    running = {g: [0, 0] for g in GROUPS}
    for i in range(days):
        for g in GROUPS:
            running[g][0] += seen[g][i]
            running[g][1] += converted[g][i]
        looks.append((Proportion(*running[CONTROL]), Proportion(*running[TREATMENT])))
    sequential = conversion_looks(looks, config.alpha, config.sequential_tuning)
    rows = []
    for look in sequential.looks:
        ok = look.message == "ok"
        rows.append(
            {
                "day": day_of(first + look.week),
                "control_users": look.control.n,
                "control_converters": look.control.successes,
                "treatment_users": look.treatment.n,
                "treatment_converters": look.treatment.successes,
                "lift": look.estimate if ok else None,
                "fixed_lower": look.fixed_ci.lower if ok else None,
                "fixed_upper": look.fixed_ci.upper if ok else None,
                "fixed_p": look.fixed_p if ok else None,
                "sequential_lower": look.sequential_ci.lower if ok else None,
                "sequential_upper": look.sequential_ci.upper if ok else None,
                "sequential_p": look.sequential_p if ok else None,
            }
        )
    return pl.DataFrame(rows, schema=CUMULATIVE_SCHEMA), sequential


CUMULATIVE_SCHEMA = {
    "day": pl.Date,
    "control_users": pl.Int64,
    "control_converters": pl.Int64,
    "treatment_users": pl.Int64,
    "treatment_converters": pl.Int64,
    "lift": pl.Float64,
    "fixed_lower": pl.Float64,
    "fixed_upper": pl.Float64,
    "fixed_p": pl.Float64,
    "sequential_lower": pl.Float64,
    "sequential_upper": pl.Float64,
    "sequential_p": pl.Float64,
}


# ---------------------------------------------------------------------------- daily


DAILY_SCHEMA = {
    "day": pl.Date,
    "control_users": pl.Int64,
    "control_converters": pl.Int64,
    "control_conversion": pl.Float64,
    "treatment_users": pl.Int64,
    "treatment_converters": pl.Int64,
    "treatment_conversion": pl.Float64,
    "lift": pl.Float64,
    "lift_lower": pl.Float64,
    "lift_upper": pl.Float64,
    "p_value": pl.Float64,
}


def daily_effect(daily: pl.DataFrame, config: ReadoutConfig) -> pl.DataFrame:
    """Each day's conversion per group (users active that day, buying that day) and the day's
    absolute lift with its fixed-horizon interval: noisy by design, it shows when an effect
    appeared and whether it holds."""
    rows = []
    by_day: dict[int, dict[str, Proportion]] = {}
    for row in daily.iter_rows(named=True):
        if row["experiment_group"] in GROUPS:
            by_day.setdefault(int(row["session_day"]), {})[row["experiment_group"]] = Proportion(
                int(row["users"]), int(row["converters"])
            )
    for day in sorted(by_day):
        control = by_day[day].get(CONTROL, Proportion(0, 0))
        treatment = by_day[day].get(TREATMENT, Proportion(0, 0))
        result = compare_conversion(control, treatment, config.alpha, config.verdict_test)
        lift = result.absolute
        rows.append(
            {
                "day": day_of(day),
                "control_users": control.n,
                "control_converters": control.successes,
                "control_conversion": control.mean if control.n else None,
                "treatment_users": treatment.n,
                "treatment_converters": treatment.successes,
                "treatment_conversion": treatment.mean if treatment.n else None,
                "lift": None if lift is None else lift.estimate,
                "lift_lower": None if lift is None else lift.ci.lower,
                "lift_upper": None if lift is None else lift.ci.upper,
                "p_value": result.p_value,
            }
        )
    return pl.DataFrame(rows, schema=DAILY_SCHEMA)


def sessions_funnel(daily: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for group in GROUPS:
        part = daily.filter(pl.col("experiment_group") == group)
        counts = [
            float(part[c].sum()) if part.height else 0.0
            for c in ("sessions_viewed", "sessions_carted", "sessions_purchased")
        ]
        rows += _funnel_rows(group, "sessions", counts)
    return pl.DataFrame(rows, schema=FUNNEL_SCHEMA)


# ---------------------------------------------------------------------------- segments


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
    "significant": pl.Boolean,
    "note": pl.String,
}
DIMENSION_ORDER = ("month", "user_type", "price_band")


def segment_label(dimension: str, segment: str) -> str:
    if dimension == "price_band" and segment in BAND_BY_KEY:
        return BAND_BY_KEY[segment].label
    if dimension == "user_type" and segment in USER_TYPE_LABELS:
        return USER_TYPE_LABELS[segment]  # type: ignore[index]
    return segment


def segment_table(frame: pl.DataFrame, config: ReadoutConfig) -> pl.DataFrame:
    """Each segment's conversion lift, p-values adjusted across all of them (the readout's
    `segment_results`: Holm by default)."""
    found: dict[tuple[str, str], dict[str, Proportion]] = {}
    for row in frame.iter_rows(named=True):
        if row["experiment_group"] in GROUPS and row["segment"] is not None:
            key = (row["dimension"], row["segment"])
            found.setdefault(key, {})[row["experiment_group"]] = Proportion(
                int(row["users"]), int(row["converters"])
            )

    def order(key: tuple[str, str]) -> tuple[int, int | str]:
        dimension, segment = key
        rank = DIMENSION_ORDER.index(dimension) if dimension in DIMENSION_ORDER else 99
        if dimension == "price_band":
            return rank, list(BAND_BY_KEY).index(segment) if segment in BAND_BY_KEY else 99
        return rank, segment

    keys = sorted(found, key=order)
    counts = [
        SegmentCounts(d, s, found[(d, s)].get(CONTROL), found[(d, s)].get(TREATMENT))
        for d, s in keys
    ]
    rows = []
    for seg in segment_results(counts, config):
        result = seg.result
        lift = None if result is None else result.absolute
        relative = None if result is None else result.relative
        control = None if result is None else result.control
        treatment = None if result is None else result.treatment
        source = next(c for c in counts if (c.dimension, c.segment) == (seg.dimension, seg.segment))
        control = control or source.control
        treatment = treatment or source.treatment
        rows.append(
            {
                "dimension": seg.dimension,
                "segment": seg.segment,
                "label": segment_label(seg.dimension, seg.segment),
                "control_users": None if control is None else control.n,
                "control_conversion": None if control is None else control.mean,
                "treatment_users": None if treatment is None else treatment.n,
                "treatment_conversion": None if treatment is None else treatment.mean,
                "lift": None if lift is None else lift.estimate,
                "lift_lower": None if lift is None else lift.ci.lower,
                "lift_upper": None if lift is None else lift.ci.upper,
                "relative_lift": None if relative is None else relative.estimate,
                "p_value": None if result is None else result.p_value,
                "adjusted_p": seg.adjusted_p,
                "significant": seg.significant_adjusted,
                "note": MESSAGES[seg.message] if seg.message != "ok" else "",
            }
        )
    return pl.DataFrame(rows, schema=SEGMENT_SCHEMA)


# ---------------------------------------------------------------------------- the page


def build_dashboard(
    filters: Filters,
    cells: pl.DataFrame,
    daily: pl.DataFrame,
    segments: pl.DataFrame,
    config: ReadoutConfig | None = None,
) -> Dashboard:
    """Everything the page shows, from the three queries' results."""
    config = config or ReadoutConfig()
    sums = _group_sums(cells)
    kpis = {
        group: GroupKpis(
            group,
            int(sums[group]["users"]),
            int(sums[group]["converters"]),
            sums[group]["orders_sum"],
            sums[group]["revenue_sum"],
        )
        for group in GROUPS
    }
    comparison = compare(sums, config)
    cumulative, sequential = cumulative_lift(cells, config)
    funnel = pl.concat([users_funnel(sums), sessions_funnel(daily)])
    warnings = []
    if comparison.srm.warning:
        warnings.append(comparison.srm.warning)
    for name, result in (
        ("Revenue per user", comparison.revenue_per_user),
        ("Revenue per purchase", comparison.revenue_per_purchase),
    ):
        if result.message != "ok":
            warnings.append(f"{name}: {MESSAGES[result.message]}.")
    return Dashboard(
        filters=filters,
        kpis=kpis,
        comparison=comparison,
        funnel=funnel,
        cumulative=cumulative,
        sequential=sequential,
        daily=daily_effect(daily, config),
        segments=segment_table(segments, config),
        warnings=tuple(warnings),
    )


# ---------------------------------------------------------------------------- the filters' range


@dataclass(frozen=True)
class Bounds:
    """What the data covers: the months to choose from and the first and last UTC day."""

    months: tuple[str, ...]
    first_day: date | None
    last_day: date | None
    sessions: int

    @property
    def is_empty(self) -> bool:
        return self.sessions == 0


def bounds_from_frame(frame: pl.DataFrame) -> Bounds:
    if frame.height == 0:
        return Bounds((), None, None, 0)
    return Bounds(
        tuple(str(m) for m in frame["session_month"].to_list()),
        day_of(int(frame["first_day"].min())),
        day_of(int(frame["last_day"].max())),
        int(frame["sessions"].sum()),
    )


def load_dashboard(
    wh, filters: Filters, config: ReadoutConfig | None = None, query=None
) -> Dashboard:
    """Run the page's queries (through `query`, e.g. a cached runner; default `wh.query`)."""
    from pipeline.dashboard.queries import page_queries

    run = query or wh.query
    frames = {name: run(sql) for name, sql in page_queries(wh, filters).items()}
    return build_dashboard(filters, frames["cells"], frames["daily"], frames["segments"], config)
