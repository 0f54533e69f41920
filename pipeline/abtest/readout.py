"""The readout: every comparison of the experiment, computed from the queries' sufficient
statistics. Pure functions of counts (`build_readout`), so the dashboard and the tests drive
them without a warehouse too."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from pipeline.abtest.decision import Decision, decide
from pipeline.abtest.document import SCHEMA_VERSION
from pipeline.abtest.queries import ExperimentStats, GroupStats, SegmentCounts, WeeklyCounts
from pipeline.experiment import CONTROL, HYPOTHESIS, TREATMENT, Experiment
from pipeline.stats.bayesian import BayesianResult, compare_bayesian
from pipeline.stats.cuped import CupedResult, compare_adjusted
from pipeline.stats.frequentist import (
    ConversionResult,
    MeanResult,
    compare_conversion,
    compare_means,
    compare_ratios,
)
from pipeline.stats.guardrails import GuardrailResult, adjust_guardrails, guardrail
from pipeline.stats.models import MESSAGES, MessageCode
from pipeline.stats.multiple import CORRECTION_NAMES, Correction, adjust
from pipeline.stats.power import PowerResult, power_analysis
from pipeline.stats.sequential import DEFAULT_TUNING, SequentialResult, conversion_looks
from pipeline.stats.srm import SRM_ALPHA, SrmResult, srm_test

PRIMARY_LABEL = "Conversion of users who reached the cart"


@dataclass(frozen=True)
class ReadoutConfig:
    alpha: float = 0.05
    srm_alpha: float = SRM_ALPHA
    power: float = 0.8
    target_relative_lift: float = 0.05
    winsorize_at: float | None = None
    correction: Correction = "holm"
    sequential_tuning: float = DEFAULT_TUNING
    revenue_margin: float = 0.02  # revenue per user may not fall by more than this share

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
        if self.target_relative_lift <= -1 or self.target_relative_lift == 0:
            raise ValueError(
                "the target relative lift must be non-zero and above -100% (e.g. 0.05 for +5%)"
            )
        if not 0 <= self.revenue_margin < 1:
            raise ValueError("revenue_margin is a share in [0, 1) (e.g. 0.02 for -2%)")
        if self.correction not in CORRECTION_NAMES:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTION_NAMES)}, got {self.correction!r}"
            )


@dataclass(frozen=True)
class ExperimentInfo:
    """What was tested, when, and with which settings (as recorded at ingestion)."""

    uplift_rate: float
    start_setting: str | None  # the start day ingestion used (None: the data's first day)
    injection_seed: str
    settings_source: Literal["manifests", "settings"]
    start: str | None  # the first day as the warehouse built it
    end: str | None  # the data's last day
    days: int | None
    has_pre_period: bool
    hypothesis: str = HYPOTHESIS

    @property
    def is_aa(self) -> bool:
        return self.uplift_rate == 0


@dataclass(frozen=True)
class InjectedTruth:
    """The effect the ingestion injected into this very sample, beside the estimate.

    Treatment's conversion without the injected purchases is what Treatment would have done
    without the redesign, so (with - without) is the true absolute effect in the sample.
    """

    population: str
    treatment_rate: float
    treatment_rate_without_injection: float
    control_injected_converters: int
    absolute: float | None
    relative: float | None
    absolute_covered: bool | None
    relative_covered: bool | None
    placebo: ConversionResult
    message: MessageCode = "ok"


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
    verdict: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    schema_version: str = SCHEMA_VERSION


def injected_truth(
    population: str, control: GroupStats, treatment: GroupStats, conversion: ConversionResult
) -> InjectedTruth:
    with_injection = treatment.proportion
    without = treatment.proportion_without_injection
    control_injected = control.proportion.successes - control.converters_without_injection
    placebo = compare_conversion(control.proportion_without_injection, without, conversion.alpha)
    if with_injection.n == 0:
        return InjectedTruth(
            population, 0.0, 0.0, control_injected, None, None, None, None, placebo, "empty_group"
        )
    absolute = with_injection.mean - without.mean
    relative = absolute / without.mean if without.mean > 0 else None
    return InjectedTruth(
        population,
        with_injection.mean,
        without.mean,
        control_injected,
        absolute,
        relative,
        None if conversion.absolute is None else conversion.absolute.ci.covers(absolute),
        None
        if conversion.relative is None or relative is None
        else conversion.relative.ci.covers(relative),
        placebo,
        "ok" if relative is not None else "zero_baseline",
    )


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
    experiment: Experiment, source: Literal["manifests", "settings"], stats: ExperimentStats
) -> ExperimentInfo:
    start, end = stats.start, stats.end
    days = (end - start).days + 1 if start is not None and end is not None else None
    has_pre = any(g.returning > 0 for g in stats.groups.values())
    return ExperimentInfo(
        uplift_rate=experiment.uplift_rate,
        start_setting=None if experiment.start is None else experiment.start.isoformat(),
        injection_seed=experiment.injection_seed,
        settings_source=source,
        start=None if start is None else start.isoformat(),
        end=None if end is None else end.isoformat(),
        days=days,
        has_pre_period=has_pre or experiment.start is not None,
    )


def build_readout(
    stats: ExperimentStats,
    weekly: WeeklyCounts,
    segments: list[SegmentCounts],
    config: ReadoutConfig,
    experiment: Experiment | None = None,
    settings_source: Literal["manifests", "settings"] = "settings",
    warnings: tuple[str, ...] = (),
) -> Readout:
    """Every comparison from the sufficient statistics (no warehouse needed)."""
    experiment = experiment or Experiment()
    info = experiment_info(experiment, settings_source, stats)
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
    truth = injected_truth("exposed", ec, et, primary.conversion)
    truth_all = injected_truth("all", ac, at, all_users.conversion)
    power = power_analysis(
        ec.proportion.mean,
        ec.users,
        et.users,
        alpha,
        config.power,
        config.target_relative_lift,
        "wald",
        truth.absolute,
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
    guardrails = adjust_guardrails(
        [
            guardrail(
                "revenue_per_user",
                "revenue per user",
                revenue,
                "increase",
                margin=config.revenue_margin,
            ),
            guardrail(
                "remove_from_cart_rate",
                "remove-from-cart rate",
                compare_ratios(ec.removes_per_cart, et.removes_per_cart, alpha),
                "decrease",
            ),
            guardrail(
                "sessions_per_user",
                "sessions per user",
                compare_means(ac.sessions.metric, at.sessions.metric, alpha),
                "increase",
            ),
        ]
    )
    bayesian = {
        "conversion": compare_bayesian(ec.proportion, et.proportion, alpha),
        "revenue_per_user": compare_bayesian(ac.revenue.metric, at.revenue.metric, alpha),
    }
    sequential = conversion_looks(weekly.looks, alpha, config.sequential_tuning)
    decision = decide(
        primary.conversion,
        [("users who reached the cart", primary.srm), ("all users", all_users.srm)],
        guardrails,
        power,
        PRIMARY_LABEL,
    )
    notes = list(warnings)
    for pop in (primary, all_users):
        if pop.srm.warning:
            notes.append(f"{pop.description.capitalize()}: {pop.srm.warning}")
    if primary.conversion.message != "ok":
        notes.append(f"Primary metric: {MESSAGES[primary.conversion.message]}.")
    if sequential.message != "ok":
        notes.append(f"Weekly view: {MESSAGES[sequential.message]}.")
    if truth_all.control_injected_converters:
        notes.append(
            f"{truth_all.control_injected_converters} Control users converted only through "
            "injected purchases: the injection should touch Treatment alone; check ingestion."
        )
    if experiment.is_aa and truth_all.absolute:
        notes.append(
            "The experiment is recorded as an A/A test (uplift rate 0) but the data holds "
            "injected purchases: re-ingest with the settings you meant."
        )
    if config.winsorize_at is not None and stats.cap_units < 100:
        notes.append(
            f"The revenue cap is a percentile of only {stats.cap_units} users with revenue: "
            "treat the winsorized figure as rough."
        )
    for metric, result in (
        ("Revenue per user", revenue),
        ("Revenue per order", compare_ratios(ac.revenue_per_order, at.revenue_per_order, alpha)),
    ):
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
        revenue_per_order=compare_ratios(ac.revenue_per_order, at.revenue_per_order, alpha),
        revenue_per_item=compare_ratios(ac.revenue_per_item, at.revenue_per_item, alpha),
        guardrails=guardrails,
        bayesian=bayesian,
        power=power,
        sequential=sequential,
        week_ends=week_end_labels(stats.start, stats.end, len(weekly.looks)),
        segments=segment_results(segments, config),
        truth=truth,
        truth_all_users=truth_all,
        verdict=decision.headline,
        warnings=tuple(notes),
    )
