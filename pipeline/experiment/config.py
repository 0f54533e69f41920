"""experiments.yml: the team's experiments, one entry each, validated by pydantic.

Ingestion, the warehouse, the readout and the dashboard read this file (through
`load_experiments`); nothing about an experiment is written in code. Each entry names its key,
hypothesis, assignment salt, window, variants, primary metric, guardrails and minimum
detectable effect. One entry may carry an `injection`: the demo's simulated effect, which
ingestion writes into the data (the only experiment whose groups ingestion assigns; the
warehouse assigns the others by the same rule and checks ingestion's).

Two settings override the injected experiment for a run without editing the file:
ECOM_UPLIFT_RATE (its rate; 0 makes it an A/A test) and ECOM_EXPERIMENT_START (its start).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pipeline.errors import InputError
from pipeline.experiment.rules import Experiment

if TYPE_CHECKING:
    from pipeline.settings import Settings

# Safe inside SQL string literals and file names: the warehouse receives keys and salts as dbt
# vars and the readout filters on the key.
KEY_PATTERN = r"^[a-z][a-z0-9_-]{0,62}$"
SALT_PATTERN = r"^[A-Za-z0-9_.:-]{0,64}$"

PrimaryMetric = Literal["cart_conversion"]
GuardrailMetric = Literal["revenue_per_user", "remove_from_cart_rate", "sessions_per_user"]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Assignment(Spec):
    """Who gets Treatment: the last hex digit of md5(salt + user id) is odd (50/50)."""

    salt: str = Field(
        default="",
        pattern=SALT_PATTERN,
        description="Text hashed before the user id. Empty: the seed's rule, md5(user id). "
        "Give every other experiment its own salt so assignments are independent.",
    )


class Variants(Spec):
    """What each group gets, in words (the readout and the dashboard label the groups)."""

    control: str = Field(min_length=1, description="The baseline experience.")
    treatment: str = Field(min_length=1, description="The changed experience.")


class Guardrail(Spec):
    """A metric the change must not hurt (one-sided harm test, Holm across the guardrails)."""

    metric: GuardrailMetric
    margin: float | None = Field(
        default=None,
        ge=0,
        lt=1,
        description="Non-inferiority margin: the largest acceptable relative loss "
        "(0.02 = -2%); shipping needs the loss beyond it ruled out. None: harm test only.",
    )


class Injection(Spec):
    """The demo's simulated effect: ingestion turns this share of Treatment's cart events in
    the experiment's window into purchases, by a seeded hash of each event."""

    rate: float = Field(ge=0, le=1, allow_inf_nan=False, description="Share of cart events.")
    seed: str = Field(min_length=1, pattern=SALT_PATTERN, description="Salt of the draw.")


class ExperimentSpec(Spec):
    """One experiment."""

    key: str = Field(pattern=KEY_PATTERN, description="Stable id (results, files, filters).")
    name: str = Field(min_length=1, description="Title of the readout and the dashboard.")
    hypothesis: str = Field(min_length=1, description="What the change should do, and why.")
    kind: Literal["ab", "aa"] = Field(
        default="ab",
        description="aa: both groups get the same experience (a standing check of the "
        "pipeline: a difference means investigate, never ship).",
    )
    assignment: Assignment = Field(default_factory=Assignment)
    variants: Variants
    start: date | None = Field(
        default=None,
        description="First UTC day; earlier sessions are the pre-period (CUPED covariates, "
        "balance checks). None: the data's first day (no pre-period).",
    )
    end: date | None = Field(default=None, description="Last UTC day; None: still running.")
    primary_metric: PrimaryMetric = Field(
        default="cart_conversion",
        description="cart_conversion: share of users with a cart event who bought.",
    )
    guardrails: tuple[Guardrail, ...] = Field(default=())
    minimum_detectable_effect: float = Field(
        gt=-1,
        allow_inf_nan=False,
        description="The relative lift the experiment is sized for (0.05 = +5%): the power "
        "figures and the 'no effect' decision use it.",
    )
    injection: Injection | None = Field(
        default=None, description="Demo only: the effect ingestion injects (at most one)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"{self.key}: end {self.end} is before start {self.start}")
        if self.minimum_detectable_effect == 0:
            raise ValueError(f"{self.key}: the minimum detectable effect must not be 0")
        if self.kind == "aa" and self.injection is not None and self.injection.rate > 0:
            raise ValueError(f"{self.key}: an A/A experiment cannot inject an effect")
        metrics = [g.metric for g in self.guardrails]
        if len(set(metrics)) != len(metrics):
            raise ValueError(f"{self.key}: a guardrail metric is listed twice")
        return self

    @property
    def is_injected(self) -> bool:
        return self.injection is not None

    def rules(self) -> Experiment:
        """The experiment as the assignment and injection rules take it."""
        return Experiment(
            key=self.key,
            salt=self.assignment.salt,
            uplift_rate=0.0 if self.injection is None else self.injection.rate,
            start=self.start,
            end=self.end,
            injection_seed="" if self.injection is None else self.injection.seed,
        )


class ExperimentsFile(Spec):
    """experiments.yml: every experiment the pipeline reads out."""

    experiments: tuple[ExperimentSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _distinct(self) -> ExperimentsFile:
        keys = [e.key for e in self.experiments]
        if len(set(keys)) != len(keys):
            raise ValueError(f"experiment keys must be distinct: {keys}")
        salts = [e.assignment.salt for e in self.experiments]
        if len(set(salts)) != len(salts):
            raise ValueError(
                "each experiment needs its own assignment salt (the same salt assigns the "
                f"same users to Treatment): {salts}"
            )
        if sum(e.is_injected for e in self.experiments) > 1:
            raise ValueError("at most one experiment may carry an injection")
        return self

    def get(self, key: str) -> ExperimentSpec:
        for spec in self.experiments:
            if spec.key == key:
                return spec
        known = ", ".join(e.key for e in self.experiments)
        raise InputError(f"No experiment {key!r} in experiments.yml (known: {known}).")

    @property
    def injected(self) -> ExperimentSpec | None:
        """The experiment whose effect ingestion injects (and whose groups it assigns)."""
        return next((e for e in self.experiments if e.is_injected), None)

    @property
    def ingestion(self) -> Experiment:
        """What ingestion applies: the injected experiment's rules, or the seed's assignment
        with nothing injected."""
        spec = self.injected
        return Experiment() if spec is None else spec.rules()


# The schema of the file, for the documentation's generated reference.
OUTPUT_MODELS = (ExperimentsFile,)


def read_experiments(path: Path) -> ExperimentsFile:
    """The file, validated; a missing or invalid file is an input error naming what is wrong."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as err:
        raise InputError(
            f"Cannot read the experiments file {path}: {err}. Set ECOM_EXPERIMENTS_FILE."
        ) from err
    except yaml.YAMLError as err:
        raise InputError(f"{path} is not valid YAML: {err}") from err
    try:
        return ExperimentsFile.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in err.errors()
        )
        raise InputError(f"{path} is not a valid experiments file: {problems}") from err


def load_experiments(settings: Settings) -> ExperimentsFile:
    """experiments.yml as configured (ECOM_EXPERIMENTS_FILE), with the run's overrides of the
    injected experiment (ECOM_UPLIFT_RATE, ECOM_EXPERIMENT_START) applied."""
    loaded = read_experiments(settings.experiments_file)
    return with_overrides(loaded, settings.uplift_rate, settings.experiment_start)


def with_overrides(
    loaded: ExperimentsFile, uplift_rate: float | None, start: date | None
) -> ExperimentsFile:
    if uplift_rate is None and start is None:
        return loaded
    spec = loaded.injected
    if spec is None:
        raise InputError(
            "ECOM_UPLIFT_RATE and ECOM_EXPERIMENT_START set the injected experiment, and "
            "experiments.yml has none (no entry with an `injection`)."
        )
    update: dict[str, object] = {}
    if uplift_rate is not None:
        assert spec.injection is not None
        update["injection"] = spec.injection.model_copy(update={"rate": uplift_rate})
    if start is not None:
        update["start"] = start
    try:
        changed = ExperimentSpec.model_validate({**spec.model_dump(), **update})
    except ValidationError as err:
        raise InputError(f"The experiment overrides do not fit {spec.key}: {err}") from err
    return ExperimentsFile(
        experiments=tuple(changed if e.key == spec.key else e for e in loaded.experiments)
    )
