"""Request and response models, kept apart: what callers send, what they get back.

Every input field comes from the feature contract (pipeline.serving.features): its range is the
validation rule. Counts are whole JSON numbers (no `true`, no `"3"`, no `3.5`; `3.0` is an
integer in JSON Schema), the duration a finite JSON number, null means missing (the trees'
default branch, as SQL NULL).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pipeline.serving.card import ModelCard
from pipeline.serving.features import BY_NAME, GROUP_CODES
from pipeline.serving.moment_card import MomentCard
from pipeline.serving.risk import BANDS

GROUPS = tuple(GROUP_CODES)  # ("control", "treatment")
Group = Literal["control", "treatment"]
assert set(GROUPS) == {"control", "treatment"}, "the contract's groups changed: update Group"


def _describe(name: str, extra: str = "") -> str:
    f = BY_NAME[name]
    return f"{f.description.capitalize()}; {f.minimum:g} to {f.maximum:g}{extra}. null = missing."


def _whole_number(value: Any) -> Any:
    """3.0 -> 3: JSON Schema counts 3.0 as an integer; 3.5, strings and booleans stay refused."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _count(name: str, example: int) -> Any:
    f = BY_NAME[name]
    whole = Annotated[
        int, Field(ge=int(f.minimum), le=int(f.maximum)), BeforeValidator(_whole_number)
    ]
    return Annotated[
        whole | None,
        Field(
            description=_describe(name, ', a whole JSON number (3 or 3.0; not "3" or true)'),
            examples=[example],
        ),
    ]


TotalViews = _count("total_views", 3)
TotalCarts = _count("total_carts", 1)
SessionMinutes = Annotated[
    float | None,
    Field(
        ge=BY_NAME["session_duration_minutes"].minimum,
        le=BY_NAME["session_duration_minutes"].maximum,
        allow_inf_nan=False,
        description=_describe("session_duration_minutes", ", a finite JSON number"),
        examples=[12.5],
    ),
]
ExperimentGroup = Annotated[
    Group | None,
    Field(
        description="Checkout variant the user saw: 'control' or 'treatment'. null = missing.",
        examples=["treatment"],
    ),
]

SESSION_EXAMPLE = {
    "total_views": 3,
    "total_carts": 1,
    "session_duration_minutes": 12.5,
    "experiment_group": "treatment",
}


class SessionIn(BaseModel):
    """One cart session in the feature contract. All four fields are required; null = missing."""

    model_config = ConfigDict(
        strict=True, extra="forbid", json_schema_extra={"examples": [SESSION_EXAMPLE]}
    )

    total_views: TotalViews
    total_carts: TotalCarts
    session_duration_minutes: SessionMinutes
    experiment_group: ExperimentGroup


PassedThrough = str | int | float | bool | None


class BulkSessionIn(SessionIn):
    """A session of a bulk call: SessionIn's fields, plus any others (an id, a segment), which
    pass through and come back beside the scores. (Documentation: bulk rows are validated as
    api.bulk.BulkRow, a TypedDict with the same rules.)"""

    model_config = ConfigDict(
        strict=True,
        extra="allow",
        json_schema_extra={
            "examples": [{"session_id": "A-1", **SESSION_EXAMPLE}],
            "additionalProperties": {
                "anyOf": [
                    {"type": "string"},
                    {"type": "number"},
                    {"type": "boolean"},
                    {"type": "null"},
                ]
            },
        },
    )


# ----------------------------------------------------------------------------- responses


class RiskThresholds(BaseModel):
    medium: float = Field(description="P(abandoned) from which a session is 'medium' risk.")
    high: float = Field(description="P(abandoned) from which a session is 'high' risk.")


class ModelRef(BaseModel):
    model_id: str = Field(description="The version that scored: `ecom models list` shows it.")
    engine: str | None = Field(description="Who trained it: 'local' (xgboost) or 'bqml'.")
    trained_at: str | None = Field(description="When it was trained (ISO 8601, UTC).")


class Contribution(BaseModel):
    feature: str = Field(description="A feature of the contract.", examples=["total_views"])
    value: int | float | str | None = Field(
        description="The value as sent (null = missing).", examples=[3]
    )
    shap_value: float = Field(
        description="SHAP contribution on the log-odds scale: > 0 raises the abandonment risk.",
        examples=[-0.21],
    )


class ExplanationOut(BaseModel):
    scale: Literal["log-odds"] = Field(
        description="Contributions and base value are in log-odds of abandonment (the margin)."
    )
    base_value: float = Field(description="Expected margin over the training data (E[f(X)]).")
    base_probability: float = Field(description="sigmoid(base_value).")
    margin: float = Field(description="base_value + sum of contributions: this session's margin.")
    probability: float = Field(description="sigmoid(margin): what the contributions add up to.")
    contributions: list[Contribution] = Field(description="One per feature, contract order.")


class PredictionOut(BaseModel):
    abandonment_probability: float = Field(
        ge=0, le=1, description="P(the cart is abandoned).", examples=[0.83]
    )
    risk_band: Literal[BANDS] = Field(description="low / medium / high by risk_thresholds.")
    risk_thresholds: RiskThresholds
    explanation: ExplanationOut
    model: ModelRef
    waterfall_png: str | None = Field(
        description="The SHAP waterfall as a base-64 PNG; null with ?explain=false."
    )


class BulkPrediction(BaseModel):
    row: int = Field(ge=1, description="1-based position in the input (CSV header not counted).")
    abandonment_probability: float = Field(ge=0, le=1)
    risk_band: Literal[BANDS]
    passthrough: dict[str, PassedThrough] | None = Field(
        default=None,
        description="The row's other columns as sent (CSV: text), when the input had any.",
    )


class BulkOut(BaseModel):
    model: ModelRef
    count: int = Field(ge=0, description="Rows scored (= rows sent).")
    risk_thresholds: RiskThresholds
    predictions: list[BulkPrediction] = Field(description="In input order.")


class ErrorItem(BaseModel):
    row: int | None = Field(description="1-based input row, or null when not about a row.")
    field: str | None = Field(description="The field or column at fault, or null.")
    message: str


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer has this shape."""

    detail: str = Field(description="What went wrong and what to do about it.")
    errors: list[ErrorItem] = Field(description="Row- and field-level problems (may be empty).")


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    model_id: str = Field(description="The session model version that scores /predict.")
    models: dict[str, str | None] = Field(
        description="Every family's served version: session, and moment (/sessions/score; null "
        "while none is loaded)."
    )
    problems: dict[str, str] = Field(
        description="For each family without a model, why and what to run (else empty)."
    )


class ModelCardOut(ModelCard):
    """The model card (model_card.json) as written by training, plus the served model_id and
    the risk thresholds in use (and for the moment family its calibration and decision rule)."""

    model_id: str
    risk_thresholds: RiskThresholds  # type: ignore[assignment]
    family: Literal["moment"] | None = Field(None, description="Set for the moment family.")
    probability_calibration: dict[str, float | str] | None = Field(
        None,
        description="Moment: P = sigmoid(slope x margin + intercept), and on what it was fitted.",
    )
    decision_rule: dict[str, float | str] | None = Field(
        None, description="Moment: the rule behind /sessions/score's decision, and its source."
    )


class MomentCardOut(MomentCard):
    """The moment family's card (GET /model?family=moment): the moment trainer's card, plus the
    served model_id, the risk thresholds in use, its calibration and its decision rule."""

    model_id: str
    risk_thresholds: RiskThresholds  # type: ignore[assignment]
    family: Literal["moment"]
    probability_calibration: dict[str, float | str] = Field(
        description="P = sigmoid(slope x margin + intercept), and on what it was fitted."
    )
    decision_rule: dict[str, float | str] = Field(
        description="The rule behind /sessions/score's decision, and its source."
    )


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error codes, all with the ErrorOut body."""
    text = {
        400: "The body is empty or not parsable (invalid JSON, not UTF-8, broken CSV).",
        401: "ECOM_API_KEY is set and X-API-Key is missing or wrong.",
        413: "Over the row or byte limit (the message gives it).",
        415: "Unsupported Content-Type.",
        422: "Invalid session(s): the errors name the row and the field.",
        503: "No model loaded yet (see /ready), or bulk scoring at capacity: retry after "
        "Retry-After seconds.",
    }
    return {code: {"model": ErrorOut, "description": text[code]} for code in codes}
