"""The readout's queries: each returns per-group sufficient statistics from the gold layer.

The SQL is in sql/readout/ (templates rendered for the warehouse's engine); this module fills
them in and turns their results into pipeline.stats' sufficient statistics. Everything reads
gold.fct_experiment_users (one row per user in the experiment, with the pre-period covariates
and the cart trigger). The warehouse does the scanning and the sums; Python receives a few
dozen rows whatever the data size.

The table holds one row per experiment and user: `readout_queries` scopes every query to one
experiment (`experiment_where`) and returns them by name; `data_from_frames` turns their
results into `ReadoutData`, what `build_readout` takes.

Every builder takes `where`, an optional SQL predicate on that table's columns (e.g.
"entry_month = '2019-12'", "is_returning"): the dashboard's filters. Filters must use what is
known when a user enters the experiment (entry_month, entry_week, is_returning, ...), or the
comparison stops being randomized.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import polars as pl

from pipeline.experiment import GROUPS
from pipeline.experiment.config import KEY_PATTERN
from pipeline.stats.sufficient import Paired, Proportion, RatioMean, SampleMean
from pipeline.warehouse import Warehouse
from pipeline.warehouse.dialect import dialect_for
from pipeline.warehouse.templates import render

POPULATIONS = ("exposed", "all")  # the primary analysis first
TABLE = "fct_experiment_users"
KEY = re.compile(KEY_PATTERN)


@dataclass(frozen=True)
class GroupStats:
    """Everything the whole-experiment comparisons need for one group of one population."""

    users: int
    conversion: Paired  # converted (binary) with pre-period conversion as covariate
    converters_without_injection: int
    revenue: Paired  # revenue per user with pre-period revenue as covariate
    revenue_capped: SampleMean
    revenue_per_order: RatioMean  # orders = sessions with a purchase
    revenue_per_item: RatioMean  # items = purchase events (line items)
    sessions: Paired  # sessions per user with pre-period sessions as covariate
    removes_per_cart: RatioMean
    returning: int

    @property
    def proportion(self) -> Proportion:
        metric = self.conversion.metric
        assert isinstance(metric, Proportion)
        return metric

    @property
    def proportion_without_injection(self) -> Proportion:
        return Proportion(self.users, self.converters_without_injection)


@dataclass(frozen=True)
class ExperimentStats:
    """Per population ("exposed", "all") and group: the sufficient statistics; plus the
    experiment window as the warehouse built it and the winsorization cap."""

    groups: dict[tuple[str, str], GroupStats]
    start: date | None
    end: date | None
    revenue_cap: float | None = None
    cap_units: int = 0  # users with non-zero revenue the cap's percentile was taken over
    data_through: datetime | None = None  # the last instant of the data (UTC)

    def group(self, population: str, group: str) -> GroupStats:
        return self.groups.get((population, group), zero_stats())


def experiment_where(key: str, where: str | None = None) -> str:
    """The rows of one experiment (its key is checked to be SQL-safe by experiments.yml's
    schema), and the optional filter."""
    if not KEY.fullmatch(key):
        raise ValueError(f"{key!r} is not an experiment key")
    scope = f"experiment_key = '{key}'"
    return scope if not where else f"{scope} and ({where})"


def readout_queries(
    wh: Warehouse,
    key: str,
    winsorize_at: float | None = None,
    where: str | None = None,
    *,
    injected: bool = False,
) -> dict[str, str]:
    """Every query one experiment's readout runs, by the name `data_from_frames` takes its
    result under; `injected` adds the cart histogram the injected truth needs."""
    scoped = experiment_where(key, where)
    queries = {
        "totals": totals_sql(wh, winsorize_at, scoped),
        "window": window_sql(wh, scoped),
        "weekly": weekly_sql(wh, scoped),
        "segments": segments_sql(wh, scoped),
        "sample_ratio": sample_ratio_sql(wh, scoped),
    }
    if injected:
        queries["carts"] = injectable_carts_sql(wh, scoped)
    return queries


def totals_sql(wh: Warehouse, winsorize_at: float | None, where: str | None = None) -> str:
    """Per population and group: users, conversions (with and without injected purchases),
    and the sums, sums of squares and cross products of every metric and covariate
    (sql/readout/group_totals.sql).

    Winsorization caps per-user revenue at the `winsorize_at` percentile of the users with
    non-zero revenue, both groups pooled (GrowthBook's ignoreZeros: over all users the cap is 0
    whenever fewer than 1 - p of them buy)."""
    return _render("group_totals", wh, where, winsorize_at=winsorize_at)


def window_sql(wh: Warehouse, where: str | None = None) -> str:
    """The experiment's first day as the warehouse built it, and the data's last day."""
    return _render("experiment_window", wh, where)


def weekly_sql(wh: Warehouse, where: str | None = None) -> str:
    """The primary population by (group, week of the first cart, week converted)
    (sql/readout/weekly_looks.sql)."""
    return _render("weekly_looks", wh, where)


def segments_sql(wh: Warehouse, where: str | None = None) -> str:
    """Primary-population users and converters per segment (entry month, new or returning)
    and group (sql/readout/segments.sql)."""
    return _render("segments", wh, where)


def sample_ratio_sql(wh: Warehouse, where: str | None = None) -> str:
    """Users per group by UTC day of entry and by each segment dimension
    (sql/readout/sample_ratio.sql): the sample ratio checks below the whole population."""
    return _render("sample_ratio", wh, where)


def injectable_carts_sql(wh: Warehouse, where: str | None = None) -> str:
    """Users who would not have bought without the injection, by their raw cart events in the
    period, both groups together (sql/readout/injectable_carts.sql): the injected truth."""
    return _render("injectable_carts", wh, where)


def _render(name: str, wh: Warehouse, where: str | None, **params) -> str:
    return render(
        f"readout/{name}.sql", dialect_for(wh), table=wh.table("gold", TABLE), where=where, **params
    )


def zero_stats() -> GroupStats:
    empty = SampleMean(0, 0.0, 0.0)
    ratio = RatioMean(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return GroupStats(
        0,
        Paired(Proportion(0, 0), Proportion(0, 0), 0.0),
        0,
        Paired(empty, empty, 0.0),
        empty,
        ratio,
        ratio,
        Paired(empty, empty, 0.0),
        ratio,
        0,
    )


def _f(row: dict, name: str) -> float:
    value = row[name]
    return 0.0 if value is None else float(value)


def group_stats_from_row(row: dict) -> GroupStats:
    """One row of `totals_sql` as sufficient statistics."""
    n = int(row["users"])
    revenue = SampleMean(n, _f(row, "revenue_sum"), _f(row, "revenue_sum_squares"))
    sessions = SampleMean(n, _f(row, "sessions_sum"), _f(row, "sessions_sum_squares"))
    return GroupStats(
        users=n,
        conversion=Paired(
            Proportion(n, int(row["converters"])),
            Proportion(n, int(row["pre_converters"])),
            _f(row, "converted_pre_converted"),
        ),
        converters_without_injection=int(row["converters_without_injection"]),
        revenue=Paired(
            revenue,
            SampleMean(n, _f(row, "pre_revenue_sum"), _f(row, "pre_revenue_sum_squares")),
            _f(row, "revenue_pre_revenue_sum"),
        ),
        revenue_capped=SampleMean(
            n, _f(row, "capped_revenue_sum"), _f(row, "capped_revenue_sum_squares")
        ),
        revenue_per_order=RatioMean(
            n,
            revenue.sum,
            revenue.sum_squares,
            _f(row, "orders_sum"),
            _f(row, "orders_sum_squares"),
            _f(row, "revenue_orders_sum"),
        ),
        revenue_per_item=RatioMean(
            n,
            revenue.sum,
            revenue.sum_squares,
            _f(row, "items_sum"),
            _f(row, "items_sum_squares"),
            _f(row, "revenue_items_sum"),
        ),
        sessions=Paired(
            sessions,
            SampleMean(n, _f(row, "pre_sessions_sum"), _f(row, "pre_sessions_sum_squares")),
            _f(row, "sessions_pre_sessions_sum"),
        ),
        removes_per_cart=RatioMean(
            n,
            _f(row, "removes_sum"),
            _f(row, "removes_sum_squares"),
            _f(row, "carts_sum"),
            _f(row, "carts_sum_squares"),
            _f(row, "removes_carts_sum"),
        ),
        returning=int(row["returning_users"]),
    )


def _as_date(value) -> date | None:
    if value is None:
        return None
    if hasattr(value, "date") and callable(value.date):
        return value.date()
    return value


def stats_from_frames(totals: pl.DataFrame, window: pl.DataFrame) -> ExperimentStats:
    """The two queries' results as ExperimentStats; absent groups get zeros (reported, not
    raised, by the readout)."""
    groups: dict[tuple[str, str], GroupStats] = {}
    cap, cap_units = None, 0
    for row in totals.iter_rows(named=True):
        if row["experiment_group"] not in GROUPS or row["population"] not in POPULATIONS:
            continue
        groups[(row["population"], row["experiment_group"])] = group_stats_from_row(row)
        if row["revenue_cap"] is not None:
            cap = float(row["revenue_cap"])
        cap_units = max(cap_units, int(row["cap_units"] or 0))
    start = end = through = None
    if window.height:
        w = window.row(0, named=True)
        start, last = _as_date(w["experiment_start"]), w["last_seen_at"]
        end = None if last is None else _utc_day(last)
        through = None if last is None else _utc(last)
    return ExperimentStats(groups, start, end, cap, cap_units, through)


def _utc(instant) -> datetime:
    if getattr(instant, "tzinfo", None) is None:
        return instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC)


def _utc_day(instant) -> date:
    if getattr(instant, "tzinfo", None) is not None:
        return instant.astimezone(UTC).date()
    return instant.date()


@dataclass(frozen=True)
class WeeklyCounts:
    looks: tuple[tuple[Proportion, Proportion], ...]  # cumulative (control, treatment) per week


def weekly_from_frame(frame: pl.DataFrame) -> WeeklyCounts:
    """Cumulative per-week counts: users with a first cart by week w, converted by week w."""
    frame = frame.filter(pl.col("experiment_group").is_in(GROUPS))
    if frame.height == 0:
        return WeeklyCounts(())
    last_converted = frame["week_converted"].max()
    weeks = (
        max(int(frame["week_seen"].max()), -1 if last_converted is None else int(last_converted))
        + 1
    )
    cumulative: dict[str, list[Proportion]] = {}
    for group in GROUPS:
        seen = [0] * weeks
        converted = [0] * weeks
        for row in frame.filter(pl.col("experiment_group") == group).iter_rows(named=True):
            seen[int(row["week_seen"])] += int(row["users"])
            if row["week_converted"] is not None:
                converted[int(row["week_converted"])] += int(row["users"])
        n = c = 0
        cumulative[group] = []
        for week in range(weeks):
            n += seen[week]
            c += converted[week]
            cumulative[group].append(Proportion(n, c))
    control, treatment = GROUPS
    return WeeklyCounts(tuple(zip(cumulative[control], cumulative[treatment], strict=True)))


@dataclass(frozen=True)
class SegmentCounts:
    dimension: str
    segment: str
    control: Proportion | None
    treatment: Proportion | None


def segments_from_frame(frame: pl.DataFrame) -> list[SegmentCounts]:
    """One entry per segment; a group absent from a segment is None (reported, not raised)."""
    control_name, treatment_name = GROUPS
    found: dict[tuple[str, str], dict[str, Proportion]] = {}
    for row in frame.iter_rows(named=True):
        if row["experiment_group"] not in GROUPS:
            continue
        key = (row["dimension"], row["segment"])
        found.setdefault(key, {})[row["experiment_group"]] = Proportion(
            int(row["users"]), int(row["converters"])
        )
    return [
        SegmentCounts(dim, seg, groups.get(control_name), groups.get(treatment_name))
        for (dim, seg), groups in sorted(found.items())
    ]


@dataclass(frozen=True)
class SampleRatioCounts:
    """Users per group in one slice of all users (a day of entry, a segment)."""

    dimension: str
    segment: str
    control: int
    treatment: int


def sample_ratios_from_frame(frame: pl.DataFrame) -> list[SampleRatioCounts]:
    found: dict[tuple[str, str], dict[str, int]] = {}
    for row in frame.iter_rows(named=True):
        if row["experiment_group"] in GROUPS:
            key = (row["dimension"], str(row["segment"]))
            found.setdefault(key, {})[row["experiment_group"]] = int(row["users"])
    control, treatment = GROUPS
    return [
        SampleRatioCounts(dim, seg, counts.get(control, 0), counts.get(treatment, 0))
        for (dim, seg), counts in sorted(found.items())
    ]


def cart_histogram_from_frame(frame: pl.DataFrame | None) -> tuple[tuple[int, int], ...]:
    """(raw cart events, users) pairs of `injectable_carts_sql`."""
    if frame is None:
        return ()
    return tuple((int(k), int(n)) for k, n in zip(frame["carts"], frame["users"], strict=True))


@dataclass(frozen=True)
class ReadoutData:
    """Everything one experiment's readout needs from the warehouse: a few dozen rows."""

    stats: ExperimentStats
    weekly: WeeklyCounts
    segments: list[SegmentCounts]
    sample_ratios: list[SampleRatioCounts] = field(default_factory=list)
    cart_histogram: tuple[tuple[int, int], ...] = ()


def data_from_frames(
    frames: dict[str, pl.DataFrame], extra_segments: pl.DataFrame | None = None
) -> ReadoutData:
    """The results of `readout_queries` (by name) as ReadoutData; `extra_segments` adds
    segments of the same shape (the dashboard's price bands)."""
    segments = frames["segments"]
    if extra_segments is not None:
        segments = pl.concat([segments, extra_segments], how="vertical_relaxed")
    return ReadoutData(
        stats_from_frames(frames["totals"], frames["window"]),
        weekly_from_frame(frames["weekly"]),
        segments_from_frame(segments),
        sample_ratios_from_frame(frames["sample_ratio"]),
        cart_histogram_from_frame(frames.get("carts")),
    )
