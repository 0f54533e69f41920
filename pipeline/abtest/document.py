"""readout.json as pydantic models: what `ecom abtest` writes, its JSON Schema, and how a reader
checks a document.

`ReadoutDocument.model_validate(readout)` reads the computed `Readout` (pipeline.abtest.readout,
pipeline.stats' result dataclasses) by attribute, derived values such as `p_value` and
`significant` included, so no conversion is written by hand. JSON has no NaN: a value that is
not a finite number is written as null (`Number`).

`schema_version` is "major.minor". Within a major version the document only grows: a minor
version adds fields and never removes, renames or re-types one, so a reader written for 3.0
reads 3.7 unchanged (it ignores what it does not know). A breaking change bumps the major,
which readers refuse with a clear message. `read_readout` validates a document against these
models: every 3.0 field must be there.

3.0 (issue 24): one readout per experiment of experiments.yml; the decision may be
"investigate"; the injected truth is defined over both groups (its `relative` changed meaning);
sample ratio by day and segment, the pre-period balance, the families of tests and the run id
were added; the target lift and revenue margin in `config` may be null (the experiment's own).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pipeline.abtest.decision import Outcome
from pipeline.abtest.glossary import GLOSSARY
from pipeline.errors import InputError
from pipeline.stats.bayesian import LiftScale
from pipeline.stats.guardrails import GoodDirection, GuardrailStatus
from pipeline.stats.models import MESSAGES, MessageCode
from pipeline.stats.multiple import Correction
from pipeline.stats.power import PowerTest

KIND = "ecom.abtest.readout"
# Major.minor: a minor version only adds fields; readers check the major.
SCHEMA_VERSION = "3.0"
SUPPORTED_MAJOR = 3


def _finite_or_none(value: Any) -> Any:
    if hasattr(value, "item") and not isinstance(value, float | int):  # numpy scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain_int(value: Any) -> Any:
    return value.item() if hasattr(value, "item") and not isinstance(value, int) else value


Number = Annotated[float | None, BeforeValidator(_finite_or_none)]
Count = Annotated[int, BeforeValidator(_plain_int)]


class Output(BaseModel):
    """Built from the computed readout's attributes; frozen like the results it records."""

    model_config = ConfigDict(from_attributes=True, frozen=True)


class Interval(Output):
    lower: Number
    upper: Number


class Effect(Output):
    """A lift with its standard error, interval and two-sided p-value against zero."""

    estimate: Number
    std_error: Number
    ci: Interval
    p_value: Number


class ChiSquare(Output):
    statistic: Number
    p_value: Number
    yates: bool = Field(description="True: with Yates' continuity correction.")


class GroupCounts(Output):
    """One group of a conversion comparison: `successes` converters of `n` users."""

    n: Count
    successes: Count
    mean: Number


class Conversion(Output):
    """Two-proportion comparison. The verdict's test is the Wald z-test of `absolute`; the
    chi-squares are cross-checks. `p_value` and `significant` are the verdict test's."""

    control: GroupCounts
    treatment: GroupCounts
    alpha: float
    message: MessageCode
    pearson: ChiSquare | None
    yates: ChiSquare | None
    absolute: Effect | None = Field(description="Treatment minus Control, as a share.")
    relative: Effect | None = Field(description="The difference over Control's rate.")
    relative_message: MessageCode
    p_value: Number
    significant: bool


class Means(Output):
    """Welch's t-test on the difference of means, plus the delta-method relative lift."""

    control_mean: Number
    treatment_mean: Number
    n_control: Count
    n_treatment: Count
    alpha: float
    message: MessageCode
    dof: Number
    t_statistic: Number
    absolute: Effect | None
    relative: Effect | None
    relative_message: MessageCode
    p_value: Number
    significant: bool


class Cuped(Output):
    """A comparison adjusted by a pre-period covariate (theta pooled over both groups)."""

    theta: Number
    correlation: Number
    variance_reduction: Number
    unadjusted: Means
    adjusted: Means
    message: MessageCode


class SampleRatio(Output):
    """The chi-square test of the groups' sizes against the 50/50 split the assignment
    promises."""

    observed: list[Count]
    expected: list[Number]
    statistic: Number
    p_value: Number
    alpha: float
    flagged: bool
    message: MessageCode


class Population(Output):
    name: str
    description: str
    srm: SampleRatio
    conversion: Conversion


class Guardrail(Output):
    """A metric the change must not hurt: a one-sided harm test, adjusted across the
    guardrails, and (with a margin) a non-inferiority test."""

    metric: str
    label: str
    good_direction: GoodDirection
    comparison: Means
    alpha: float
    margin: Number
    p_harm: Number
    p_harm_adjusted: Number
    p_noninferiority: Number
    status: GuardrailStatus
    message: MessageCode


class Bayesian(Output):
    """A Gaussian posterior of the lift with a flat prior (GrowthBook's Bayesian engine)."""

    scale: LiftScale
    alpha: float
    message: MessageCode
    posterior_mean: Number
    posterior_sd: Number
    credible_interval: Interval | None
    chance_to_win: Number
    loss_if_shipped: Number
    loss_if_kept: Number


class Power(Output):
    baseline: Number
    n_control: Count
    n_treatment: Count
    alpha: float
    power: float
    mde_absolute: Number
    mde_relative: Number
    target_relative_lift: float
    required_per_group: Count | None
    message: MessageCode
    test: PowerTest
    true_effect: Number
    power_at_true_effect: Number


class Look(Output):
    """One cumulative weekly look (`week` counts from 0)."""

    week: Count
    control: GroupCounts
    treatment: GroupCounts
    message: MessageCode
    estimate: Number
    fixed_ci: Interval | None
    fixed_p: Number
    sequential_ci: Interval | None
    sequential_p: Number


class Sequential(Output):
    """The weekly looks with an always-valid confidence sequence."""

    looks: list[Look]
    alpha: float
    tuning: Number
    rho: Number
    message: MessageCode
    first_fixed_rejection: int | None
    first_sequential_rejection: int | None


class Segment(Output):
    dimension: str
    segment: str
    result: Conversion | None
    adjusted_p: Number
    significant_adjusted: bool
    message: MessageCode


class InjectedTruth(Output):
    """The effect ingestion injected into this sample, as the estimate estimates it: over
    every user of the population (both groups), in expectation over the injection's draw."""

    population: str
    rate: float = Field(description="The injected rate (0: nothing injected; truth 0).")
    users: Count = Field(description="Users of the population, both groups.")
    baseline: Number = Field(description="Their conversion without the injection.")
    absolute: Number = Field(description="Expected conversion with it minus baseline.")
    relative: Number = Field(description="absolute / baseline.")
    absolute_covered: bool | None
    relative_covered: bool | None
    treatment_rate: Number
    treatment_rate_without_injection: Number
    control_injected_converters: Count
    placebo: Conversion
    message: MessageCode


class Experiment(Output):
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
    injected: bool = Field(description="The demo's injection acts on this experiment.")
    uplift_rate: float
    start_setting: str | None
    end_setting: str | None
    injection_seed: str
    settings_source: Literal["manifests", "settings"]
    start: str | None
    end: str | None
    days: Count | None
    has_pre_period: bool
    data_through: str | None = Field(description="The data's last instant (ISO 8601, UTC).")
    is_aa: bool


class Decision(Output):
    outcome: Outcome
    headline: str
    reasons: list[str]
    rule: str
    words: str


class Config(Output):
    """The analysis settings; null target lift and margin: the experiment's own."""

    alpha: float
    srm_alpha: float
    power: float
    target_relative_lift: float | None
    winsorize_at: float | None
    correction: Correction
    sequential_tuning: float
    revenue_margin: float | None


class SrmCheck(Output):
    segment: str
    result: SampleRatio
    adjusted_p: Number
    flagged: bool


class SrmFamily(Output):
    """Sample ratio checks of one dimension, Holm-adjusted across its slices."""

    dimension: str
    alpha: float
    correction: str
    tests: Count
    checks: list[SrmCheck]


class BalanceTest(Output):
    metric: str
    label: str
    population: str
    comparison: Means
    p_value: Number
    adjusted_p: Number
    flagged: bool


class Balance(Output):
    """Pre-period conversion and revenue per user by group (Welch, Holm across them)."""

    tests: list[BalanceTest]
    alpha: float
    correction: str
    message: MessageCode


class Family(Output):
    """A family of tests: which tests one correction covers and the error rate it holds."""

    key: str
    scope: str
    tests: Count
    correction: Literal["none", "holm", "bh", "always_valid"]
    error_rate: Literal["per_test", "family_wise", "false_discovery", "across_looks"]
    alpha: float
    decides: bool = Field(description="The decision rule reads this family.")


class ReadoutDocument(Output):
    """readout.json: the experiment readout `ecom abtest` writes (reports/abtest/)."""

    kind: Literal["ecom.abtest.readout"] = KIND
    schema_version: str
    config: Config
    experiment: Experiment
    decision: Decision
    primary: Population = Field(description="Users who reached the cart: the verdict's.")
    all_users: Population
    cuped: Cuped = Field(description="Primary conversion, pre-period conversion as covariate.")
    revenue: Means = Field(description="Revenue per user, all users.")
    revenue_cuped: Cuped
    revenue_winsorized: Means | None
    revenue_cap: Number
    revenue_per_order: Means
    revenue_per_item: Means
    guardrails: list[Guardrail]
    bayesian: dict[str, Bayesian]
    power: Power
    sequential: Sequential
    week_ends: list[str] = Field(description="The last day each weekly look covers.")
    segments: list[Segment]
    truth: InjectedTruth
    truth_all_users: InjectedTruth
    srm_by_day: SrmFamily
    srm_by_segment: list[SrmFamily]
    balance: Balance
    families: list[Family]
    run_id: str = Field(description="Data-through time and a digest of the analysis.")
    verdict: str
    warnings: list[str]
    glossary: dict[str, str] = Field(default_factory=lambda: dict(GLOSSARY))
    message_texts: dict[str, str] = Field(default_factory=lambda: dict(MESSAGES))


def parse_version(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in str(text).split("."))
    except ValueError as err:
        raise InputError(f"readout schema_version {text!r} is not 'major.minor'") from err
    return major, minor


def read_readout(path: Path) -> dict[str, Any]:
    """The document, checked to be a readout of a major version this code reads and to hold
    every field of that version (later minor versions' fields are kept as they are)."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"Cannot read the readout {path}: {err}. Run `ecom abtest`.") from err
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise InputError(f"{path} is not an experiment readout (kind {KIND!r} expected).")
    major, _ = parse_version(document.get("schema_version", ""))
    if major != SUPPORTED_MAJOR:
        raise InputError(
            f"{path} has readout schema {document['schema_version']}; this code reads "
            f"{SUPPORTED_MAJOR}.x. Re-run `ecom abtest` with this version, or upgrade."
        )
    try:
        ReadoutDocument.model_validate(document)
    except ValidationError as err:
        problems = sorted({".".join(map(str, e["loc"])) for e in err.errors()})
        raise InputError(
            f"{path} lacks fields of schema {SUPPORTED_MAJOR}.x or gives them another type: "
            f"{', '.join(problems)}."
        ) from err
    return document


def _required_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        paths.append(path)
        nested = field.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            paths += _required_paths(nested, path)
    return paths


# Every key path a 3.x reader may rely on (nested objects included; lists and maps by their
# key), derived from the models above.
REQUIRED: tuple[tuple[str, ...], ...] = tuple(_required_paths(ReadoutDocument))
