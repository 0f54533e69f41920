"""The readout: every comparison of one experiment, computed from the queries' sufficient
statistics. Pure functions of counts (`build_readout`), so the dashboard and the tests drive
them without a warehouse too."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Literal

from pipeline.abtest.checks import investigations, pre_period_balance, sample_ratio_families
from pipeline.abtest.decision import Decision, decide
from pipeline.abtest.document import SCHEMA_VERSION
from pipeline.abtest.families import Family, readout_families
from pipeline.abtest.queries import ExperimentStats, GroupStats, ReadoutData, SegmentCounts
from pipeline.abtest.truth import InjectedTruth, injected_truth
from pipeline.experiment import CONTROL, TREATMENT, Experiment
from pipeline.experiment.config import ExperimentSpec
from pipeline.stats.balance import BalanceResult
from pipeline.stats.bayesian import BayesianResult, compare_bayesian
from pipeline.stats.cuped import CupedResult, compare_adjusted
from pipeline.stats.frequentist import (
    ConversionResult,
    MeanResult,
    compare_conversion,
    compare_means,
    compare_ratios,
)
from pipeline.stats.guardrails import (
    GoodDirection,
    GuardrailResult,
    adjust_guardrails,
    guardrail,
)
from pipeline.stats.models import MESSAGES, MessageCode
from pipeline.stats.multiple import CORRECTION_NAMES, Correction, adjust
from pipeline.stats.power import PowerResult, power_analysis
from pipeline.stats.sequential import DEFAULT_TUNING, SequentialResult, conversion_looks
from pipeline.stats.srm import SRM_ALPHA, SrmFamily, SrmResult, srm_test

PRIMARY_LABEL = "Conversion of users who reached the cart"
# The guardrail metrics experiments.yml may name: label, the good direction.
GUARDRAIL_METRICS: dict[str, tuple[str, GoodDirection]] = {
    "revenue_per_user": ("revenue per user", "increase"),
    "remove_from_cart_rate": ("remove-from-cart rate", "decrease"),
    "sessions_per_user": ("sessions per user", "increase"),
}


@dataclass(frozen=True)
class ReadoutConfig:
    alpha: float = 0.05
    srm_alpha: float = SRM_ALPHA
    power: float = 0.8
    # None: the experiment's own (experiments.yml: minimum_detectable_effect, and the
    # revenue_per_user guardrail's margin); a value overrides it for this run.
    target_relative_lift: float | None = None
    winsorize_at: float | None = None
    correction: Correction = "holm"
    sequential_tuning: float = DEFAULT_TUNING
    revenue_margin: float | None = None  # revenue per user may not fall by more than this share

    def __post_init__(self) -> None:
        """Reject bad settings here, so every caller (CLI, app, tests) gets the check. NaN
        fails every comparison, so each float is first required to be finite: otherwise
        `nan <= 0` is False and a NaN slips through into the report."""
        numbers = {
            "alpha": self.alpha,
            "srm_alpha": self.srm_alpha,
            "power": self.power,
            "target_relative_lift": self.target_relative_lift,
            "sequential_tuning": self.sequential_tuning,
            "winsorize_at": self.winsorize_at,
            "revenue_margin": self.revenue_margin,
        }
        for name, value in numbers.items():
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not 0 < self.alpha < 0.5:
            raise ValueError("alpha must be between 0 and 0.5 (e.g. 0.05)")
        if not 0 < self.srm_alpha < 1:
            raise ValueError("srm_alpha must be between 0 and 1 (e.g. 0.001)")
        if self.winsorize_at is not None and not 0.5 <= self.winsorize_at < 1:
            raise ValueError("winsorize at a percentile between 0.5 and 1 (e.g. 0.99)")
        if self.sequential_tuning <= 0:
            raise ValueError("the sequential tuning parameter N* must be positive (e.g. 5000)")
        if not 0 < self.power < 1:
            raise ValueError("power must be between 0 and 1 (e.g. 0.8)")
        lift = self.target_relative_lift
        if lift is not None and (lift <= -1 or lift == 0):
            raise ValueError(
                "the target relative lift must be non-zero and above -100% (e.g. 0.05 for +5%)"
            )
        if self.revenue_margin is not None and not 0 <= self.revenue_margin < 1:
            raise ValueError("revenue_margin is a share in [0, 1) (e.g. 0.02 for -2%)")
        if self.correction not in CORRECTION_NAMES:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTION_NAMES)}, got {self.correction!r}"
            )


@dataclass(frozen=True)
class ExperimentInfo:
    """What was tested (experiments.yml), when, and with which settings (as ingested)."""

    key: str
    name: str
    kind: Literal["ab", "aa"]
    hypothesis: str
    control_gets: str
    treatment_gets: str
    assignment_salt: str
    primary_metric: str
    minimum_detectable_effect: float
    injected: bool  # the demo's injection acts on this experiment
    uplift_rate: float
    start_setting: str | None  # the configured first day (None: the data's first day)
    end_setting: str | None  # the configured last day (None: still running)
    injection_seed: str
    settings_source: Literal["manifests", "settings"]
    start: str | None  # the first day as the warehouse built it
    end: str | None  # the data's last day
    days: int | None
    has_pre_period: bool
    data_through: str | None  # the data's last instant (ISO 8601, UTC)

    @property
    def is_aa(self) -> bool:
        """Both groups got the same experience: declared A/A, or nothing injected here."""
        return self.kind == "aa" or (self.injected and self.uplift_rate == 0)


@dataclass(frozen=True)
class SegmentResult:
    dimension: str
    segment: str
    result: ConversionResult | None
    adjusted_p: float | None
    significant_adjusted: bool
    message: MessageCode = "ok"


@dataclass(frozen=True)
class Population:
    """One analysed population: its SRM check and conversion comparison."""

    name: str
    description: str
    srm: SrmResult
    conversion: ConversionResult


@dataclass(frozen=True)
class Readout:
    config: ReadoutConfig
    experiment: ExperimentInfo
    decision: Decision
    primary: Population  # users who reached the cart
    all_users: Population
    cuped: CupedResult  # primary conversion with pre-period conversion as covariate
    revenue: MeanResult  # revenue per user, all users
    revenue_cuped: CupedResult
    revenue_winsorized: MeanResult | None
    revenue_cap: float | None
    revenue_per_order: MeanResult
    revenue_per_item: MeanResult
    guardrails: tuple[GuardrailResult, ...]
    bayesian: dict[str, BayesianResult]
    power: PowerResult
    sequential: SequentialResult
    week_ends: tuple[str, ...]
    segments: tuple[SegmentResult, ...]
    truth: InjectedTruth
    truth_all_users: InjectedTruth
    srm_by_day: SrmFamily
    srm_by_segment: tuple[SrmFamily, ...]
    balance: BalanceResult
    families: tuple[Family, ...]
    run_id: str
    verdict: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    schema_version: str = SCHEMA_VERSION


def segment_results(
    segments: list[SegmentCounts], config: ReadoutConfig
) -> tuple[SegmentResult, ...]:
    """Each segment's conversion comparison; p-values adjusted across all testable segments."""
    compared: list[tuple[SegmentCounts, ConversionResult | None, MessageCode]] = []
    for seg in segments:
        if seg.control is None or seg.treatment is None:
            compared.append((seg, None, "missing_group"))
            continue
        result = compare_conversion(seg.control, seg.treatment, config.alpha)
        compared.append((seg, result, result.message))
    testable = [r.p_value for _, r, _ in compared if r is not None and r.p_value is not None]
    adjusted = iter(adjust(testable, config.correction).tolist())
    out = []
    for seg, result, message in compared:
        p = next(adjusted) if result is not None and result.p_value is not None else None
        out.append(
            SegmentResult(
                seg.dimension, seg.segment, result, p, p is not None and p < config.alpha, message
            )
        )
    return tuple(out)


def week_end_labels(start: date | None, end: date | None, looks: int) -> tuple[str, ...]:
    """The last day each look covers: full weeks from the start day, the last one cut short by
    the end of the data (it holds every user and converter)."""
    if start is None or looks == 0:
        return ()
    ends = [start + timedelta(days=7 * (w + 1) - 1) for w in range(looks)]
    if end is not None:
        ends[-1] = max(end, start + timedelta(days=7 * (looks - 1)))
    return tuple(day.isoformat() for day in ends)


def experiment_info(
    spec: ExperimentSpec,
    rules: Experiment,
    source: Literal["manifests", "settings"],
    stats: ExperimentStats,
) -> ExperimentInfo:
    start, end = stats.start, stats.end
    days = (end - start).days + 1 if start is not None and end is not None else None
    has_pre = any(g.returning > 0 for g in stats.groups.values())
    return ExperimentInfo(
        key=spec.key,
        name=spec.name,
        kind=spec.kind,
        hypothesis=spec.hypothesis,
        control_gets=spec.variants.control,
        treatment_gets=spec.variants.treatment,
        assignment_salt=spec.assignment.salt,
        primary_metric=spec.primary_metric,
        minimum_detectable_effect=spec.minimum_detectable_effect,
        injected=spec.is_injected,
        uplift_rate=rules.uplift_rate,
        start_setting=None if rules.start is None else rules.start.isoformat(),
        end_setting=None if rules.end is None else rules.end.isoformat(),
        injection_seed=rules.injection_seed,
        settings_source=source,
        start=None if start is None else start.isoformat(),
        end=None if end is None else end.isoformat(),
        days=days,
        has_pre_period=has_pre or rules.start is not None,
        data_through=None if stats.data_through is None else stats.data_through.isoformat(),
    )


def run_id(stats: ExperimentStats, config: ReadoutConfig, spec: ExperimentSpec) -> str:
    """The readout's identity: the data's last instant and a digest of the analysis
    (settings and experiment definition). Re-running on the same data with the same settings
    gives the same id (experiment_results replaces its rows); new data or new settings, a new
    one (the earlier rows stay)."""
    through = stats.data_through
    stamp = "no-data" if through is None else through.strftime("%Y%m%dT%H%M%SZ")
    analysis = json.dumps([asdict(config), spec.model_dump(mode="json")], sort_keys=True)
    return f"{stamp}-{hashlib.sha256(analysis.encode()).hexdigest()[:8]}"


def guardrail_results(
    spec: ExperimentSpec,
    config: ReadoutConfig,
    exposed: tuple[GroupStats, GroupStats],
    everyone: tuple[GroupStats, GroupStats],
    revenue: MeanResult,
) -> tuple[GuardrailResult, ...]:
    """The experiment's guardrails, in its order, Holm-adjusted across them."""
    (ec, et), (ac, at) = exposed, everyone
    comparisons = {
        "revenue_per_user": lambda: revenue,
        "remove_from_cart_rate": lambda: compare_ratios(
            ec.removes_per_cart, et.removes_per_cart, config.alpha
        ),
        "sessions_per_user": lambda: compare_means(
            ac.sessions.metric, at.sessions.metric, config.alpha
        ),
    }
    results = []
    for g in spec.guardrails:
        label, direction = GUARDRAIL_METRICS[g.metric]
        margin = g.margin
        if g.metric == "revenue_per_user" and config.revenue_margin is not None:
            margin = config.revenue_margin
        results.append(guardrail(g.metric, label, comparisons[g.metric](), direction, margin))
    return adjust_guardrails(results)


def build_readout(
    data: ReadoutData,
    config: ReadoutConfig,
    spec: ExperimentSpec,
    recorded: Experiment | None = None,
    settings_source: Literal["manifests", "settings"] = "settings",
    warnings: tuple[str, ...] = (),
) -> Readout:
    """Every comparison of one experiment from the sufficient statistics (no warehouse
    needed). `recorded` is what ingestion injected (the manifests), for the injected
    experiment; without it the experiment's own settings are taken."""
    rules = recorded if recorded is not None and spec.is_injected else spec.rules()
    stats = data.stats
    info = experiment_info(spec, rules, settings_source, stats)
    alpha = config.alpha
    ec, et = stats.group("exposed", CONTROL), stats.group("exposed", TREATMENT)
    ac, at = stats.group("all", CONTROL), stats.group("all", TREATMENT)

    def population(name: str, description: str, c: GroupStats, t: GroupStats) -> Population:
        return Population(
            name,
            description,
            srm_test([c.users, t.users], alpha=config.srm_alpha),
            compare_conversion(c.proportion, t.proportion, alpha),
        )

    primary = population(
        "exposed",
        "users with at least one cart event in the experiment (counted before the injection)",
        ec,
        et,
    )
    all_users = population("all", "every user with a session in the experiment", ac, at)
    rate, carts = info.uplift_rate if info.injected else 0.0, data.cart_histogram
    truth = injected_truth("exposed", ec, et, primary.conversion, rate, carts)
    truth_all = injected_truth("all", ac, at, all_users.conversion, rate, carts)
    target = (
        spec.minimum_detectable_effect
        if config.target_relative_lift is None
        else config.target_relative_lift
    )
    power = power_analysis(
        ec.proportion.mean, ec.users, et.users, alpha, config.power, target, "wald", truth.absolute
    )
    has_pre = info.has_pre_period
    cuped = compare_adjusted(ec.conversion, et.conversion, alpha, has_pre_period=has_pre)
    revenue_cuped = compare_adjusted(ac.revenue, at.revenue, alpha, has_pre_period=has_pre)
    revenue = revenue_cuped.unadjusted
    winsorized = (
        compare_means(ac.revenue_capped, at.revenue_capped, alpha)
        if config.winsorize_at is not None
        else None
    )
    guardrails = guardrail_results(spec, config, (ec, et), (ac, at), revenue)
    bayesian = {
        "conversion": compare_bayesian(ec.proportion, et.proportion, alpha),
        "revenue_per_user": compare_bayesian(ac.revenue.metric, at.revenue.metric, alpha),
    }
    sequential = conversion_looks(data.weekly.looks, alpha, config.sequential_tuning)
    by_day, *by_segment = sample_ratio_families(data.sample_ratios, config.srm_alpha)
    balance = pre_period_balance((ec, et), (ac, at), config.srm_alpha, has_pre)
    segments = segment_results(data.segments, config)
    decision = decide(
        primary.conversion,
        [("users who reached the cart", primary.srm), ("all users", all_users.srm)],
        guardrails,
        power,
        PRIMARY_LABEL,
        investigate=investigations([by_day, *by_segment], balance),
        is_aa=info.is_aa,
    )
    revenue_per_order = compare_ratios(ac.revenue_per_order, at.revenue_per_order, alpha)
    notes = list(warnings)
    for pop in (primary, all_users):
        if pop.srm.warning:
            notes.append(f"{pop.description.capitalize()}: {pop.srm.warning}")
    if primary.conversion.message != "ok":
        notes.append(f"Primary metric: {MESSAGES[primary.conversion.message]}.")
    if sequential.message != "ok":
        notes.append(f"Weekly view: {MESSAGES[sequential.message]}.")
    if info.injected and truth_all.control_injected_converters:
        notes.append(
            f"{truth_all.control_injected_converters} Control users converted only through "
            "injected purchases: the injection should touch Treatment alone; check ingestion."
        )
    if (
        info.injected
        and rate == 0
        and any(g.converters_without_injection != g.proportion.successes for g in (ac, at))
    ):
        notes.append(
            "The experiment is recorded as an A/A test (uplift rate 0) but the data holds "
            "injected purchases: re-ingest with the settings you meant."
        )
    if config.winsorize_at is not None and stats.cap_units < 100:
        notes.append(
            f"The revenue cap is a percentile of only {stats.cap_units} users with revenue: "
            "treat the winsorized figure as rough."
        )
    for metric, result in (("Revenue per user", revenue), ("Revenue per order", revenue_per_order)):
        if result.message != "ok":
            notes.append(f"{metric}: {MESSAGES[result.message]}.")
    return Readout(
        config=config,
        experiment=info,
        decision=decision,
        primary=primary,
        all_users=all_users,
        cuped=cuped,
        revenue=revenue,
        revenue_cuped=revenue_cuped,
        revenue_winsorized=winsorized,
        revenue_cap=stats.revenue_cap,
        revenue_per_order=revenue_per_order,
        revenue_per_item=compare_ratios(ac.revenue_per_item, at.revenue_per_item, alpha),
        guardrails=guardrails,
        bayesian=bayesian,
        power=power,
        sequential=sequential,
        week_ends=week_end_labels(stats.start, stats.end, len(data.weekly.looks)),
        segments=segments,
        truth=truth,
        truth_all_users=truth_all,
        srm_by_day=by_day,
        srm_by_segment=tuple(by_segment),
        balance=balance,
        families=readout_families(
            config.alpha,
            config.srm_alpha,
            config.correction,
            PRIMARY_LABEL,
            guardrails,
            segments,
            sequential,
            (by_day, *by_segment),
            balance,
            secondary=6 + (winsorized is not None),
        ),
        run_id=run_id(stats, config, spec),
        verdict=decision.headline,
        warnings=tuple(notes),
    )
