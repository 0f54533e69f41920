"""The readout: every comparison of the experiment, computed from the queries' sufficient
statistics. Pure functions of counts, so tests drive them without a warehouse too."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pipeline.abtest.queries import GroupTotals, SegmentCounts, WeeklyCounts
from pipeline.experiment import CONTROL, TREATMENT
from pipeline.stats.frequentist import (
    ChiSquareVariant,
    ConversionResult,
    MeanResult,
    compare_conversion,
    compare_means,
)
from pipeline.stats.models import MESSAGES, MessageCode
from pipeline.stats.multiple import CORRECTION_NAMES, Correction, adjust
from pipeline.stats.power import PowerResult, power_analysis
from pipeline.stats.sequential import DEFAULT_TUNING, SequentialResult, conversion_looks
from pipeline.stats.srm import SRM_ALPHA, SrmResult, srm_test

SCHEMA_VERSION = "1.0"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ReadoutConfig:
    alpha: float = 0.05
    srm_alpha: float = SRM_ALPHA
    verdict_test: ChiSquareVariant = "yates"
    power: float = 0.8
    target_relative_lift: float = 0.05
    winsorize_at: float | None = None
    correction: Correction = "holm"
    sequential_tuning: float = DEFAULT_TUNING

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
        }
        for name, value in numbers.items():
            if value is not None and not (isinstance(value, int | float) and math.isfinite(value)):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        if not 0 < self.alpha < 1:
            raise ValueError("alpha must be between 0 and 1 (e.g. 0.05)")
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
        if self.verdict_test not in ("yates", "pearson"):
            raise ValueError(f"verdict_test must be yates or pearson, got {self.verdict_test!r}")
        if self.correction not in CORRECTION_NAMES:
            raise ValueError(
                f"correction must be one of {', '.join(CORRECTION_NAMES)}, got {self.correction!r}"
            )


@dataclass(frozen=True)
class InjectedTruth:
    """The effect the ingestion injected into this very sample, beside the estimate.

    Treatment's conversion without the injected purchases is what Treatment would have done
    without the redesign, so (with - without) is the true absolute effect in the sample.
    """

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
class Readout:
    config: ReadoutConfig
    srm: SrmResult
    conversion: ConversionResult
    revenue: MeanResult
    revenue_winsorized: MeanResult | None
    revenue_cap: float | None
    order_value: MeanResult
    power: PowerResult
    sequential: SequentialResult
    week_ends: tuple[str, ...]
    segments: tuple[SegmentResult, ...]
    truth: InjectedTruth
    verdict: str
    warnings: tuple[str, ...] = field(default_factory=tuple)
    schema_version: str = SCHEMA_VERSION


def injected_truth(
    control: GroupTotals, treatment: GroupTotals, conversion: ConversionResult, alpha: float
) -> InjectedTruth:
    with_injection = treatment.conversion
    without = treatment.conversion_without_injection
    control_injected = control.conversion.successes - control.conversion_without_injection.successes
    placebo = compare_conversion(
        control.conversion_without_injection, without, alpha, conversion.verdict_test
    )
    if with_injection.n == 0:
        return InjectedTruth(
            0.0, 0.0, control_injected, None, None, None, None, placebo, "empty_group"
        )
    absolute = with_injection.mean - without.mean
    relative = absolute / without.mean if without.mean > 0 else None
    return InjectedTruth(
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
        result = compare_conversion(seg.control, seg.treatment, config.alpha, config.verdict_test)
        compared.append((seg, result, result.message))
    testable = [r.p_value for _, r, _ in compared if r is not None and r.p_value is not None]
    adjusted = iter(adjust(testable, config.correction).tolist())
    out = []
    for seg, result, message in compared:
        p = next(adjusted) if result is not None and result.p_value is not None else None
        out.append(
            SegmentResult(
                seg.dimension,
                seg.segment,
                result,
                p,
                p is not None and p < config.alpha,
                message,
            )
        )
    return tuple(out)


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def verdict_sentence(
    conversion: ConversionResult, srm: SrmResult, power: PowerResult, alpha: float
) -> str:
    """The one sentence a product manager reads first."""
    if conversion.message != "ok":
        return f"No verdict: {MESSAGES[conversion.message]}."
    if srm.flagged:
        return (
            "Do not act on this experiment: the groups are not split as designed (sample ratio "
            f"mismatch, {_p(srm.p_value)}), so its results cannot be trusted."
        )
    c, t = conversion.control.mean, conversion.treatment.mean
    test = "Yates-corrected chi-square" if conversion.verdict_test == "yates" else "chi-square"
    abs_lift = conversion.absolute
    assert abs_lift is not None and conversion.p_value is not None
    level = round((1 - alpha) * 100)
    ci = f"{level}% CI {abs_lift.ci.lower * 100:+.2f} to {abs_lift.ci.upper * 100:+.2f} pp"
    rel = f", {conversion.relative.estimate * 100:+.1f}%" if conversion.relative is not None else ""
    if conversion.significant:
        direction = "raised" if abs_lift.estimate > 0 else "lowered"
        return (
            f"Treatment {direction} conversion from {_pct(c)} to {_pct(t)} "
            f"({abs_lift.estimate * 100:+.2f} pp{rel}; {ci}; {test} {_p(conversion.p_value)})."
        )
    mde = (
        f"; with this sample a lift of {power.mde_absolute * 100:.2f} pp or more would have "
        f"been detected {power.power:.0%} of the time"
        if power.mde_absolute is not None
        else ""
    )
    return (
        f"No detectable difference in conversion: {_pct(c)} in Control vs {_pct(t)} in Treatment "
        f"({ci}; {test} {_p(conversion.p_value)}){mde}."
    )


def _utc_day(microseconds: int) -> date:
    return (EPOCH + timedelta(microseconds=microseconds)).date()


def week_end_labels(weekly: WeeklyCounts) -> tuple[str, ...]:
    """The last day each look covers. Every look but the last is a full week; the last ends
    with the data (its week is usually cut short), and holds every user and converter."""
    if weekly.started_us is None or not weekly.looks:
        return ()
    start = _utc_day(weekly.started_us)
    ends = [start + timedelta(days=7 * (w + 1) - 1) for w in range(len(weekly.looks))]
    if weekly.ended_us is not None:
        last_week_start = start + timedelta(days=7 * (len(ends) - 1))
        ends[-1] = max(_utc_day(weekly.ended_us), last_week_start)
    return tuple(day.isoformat() for day in ends)


def build_readout(
    totals: dict[str, GroupTotals],
    weekly: WeeklyCounts,
    segments: list[SegmentCounts],
    config: ReadoutConfig,
) -> Readout:
    control, treatment = totals[CONTROL], totals[TREATMENT]
    srm = srm_test([control.conversion.n, treatment.conversion.n], alpha=config.srm_alpha)
    conversion = compare_conversion(
        control.conversion, treatment.conversion, config.alpha, config.verdict_test
    )
    revenue = compare_means(control.revenue, treatment.revenue, config.alpha)
    winsorized = (
        compare_means(control.revenue_winsorized, treatment.revenue_winsorized, config.alpha)
        if config.winsorize_at is not None
        else None
    )
    order_value = compare_means(control.order_value, treatment.order_value, config.alpha)
    power = power_analysis(
        control.conversion.mean,
        control.conversion.n,
        treatment.conversion.n,
        config.alpha,
        config.power,
        config.target_relative_lift,
        config.verdict_test,
    )
    sequential = conversion_looks(weekly.looks, config.alpha, config.sequential_tuning)
    truth = injected_truth(control, treatment, conversion, config.alpha)
    warnings = []
    if srm.warning:
        warnings.append(srm.warning)
    if conversion.message != "ok":
        warnings.append(f"Conversion: {MESSAGES[conversion.message]}.")
    if sequential.message != "ok":
        warnings.append(f"Weekly view: {MESSAGES[sequential.message]}.")
    if truth.control_injected_converters:
        warnings.append(
            f"{truth.control_injected_converters} Control users converted only through injected "
            "purchases: the injection should touch Treatment alone; check ingestion."
        )
    for metric, result in (("Revenue per user", revenue), ("Average order value", order_value)):
        if result.message != "ok":
            warnings.append(f"{metric}: {MESSAGES[result.message]}.")
    return Readout(
        config=config,
        srm=srm,
        conversion=conversion,
        revenue=revenue,
        revenue_winsorized=winsorized,
        revenue_cap=control.revenue_cap
        if control.revenue_cap is not None
        else treatment.revenue_cap,
        order_value=order_value,
        power=power,
        sequential=sequential,
        week_ends=week_end_labels(weekly),
        segments=segment_results(segments, config),
        truth=truth,
        verdict=verdict_sentence(conversion, srm, power, config.alpha),
        warnings=tuple(warnings),
    )


def correction_name(config: ReadoutConfig) -> str:
    return CORRECTION_NAMES[config.correction]
