"""POST /sessions/score: what callers send (a live session's events) and what they get back.

The moment model's inputs are not sent as features: the caller sends the session's events so
far, as its tracker recorded them, and the service builds the features with the one shared
definition (pipeline.serving.moment.features_at). The field rules below are the schema's; the
rules that need the whole session (a cart, no purchase, one session, nothing in the future)
are features_at's, answered as 422 with its message.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from api.schemas import ModelRef, RiskThresholds, _whole_number
from pipeline.serving import moment
from pipeline.serving.risk import BANDS
from pipeline.sessions import SESSION_TIMEOUT_MINUTES

EventType = Literal["view", "cart", "remove_from_cart", "purchase"]
assert set(EventType.__args__) == set(moment.EVENT_TYPES), "update EventType"  # type: ignore[attr-defined]
_PRICE = moment.BY_NAME["cart_price"]
STRICT = ConfigDict(strict=True, extra="forbid")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _since_1970(value: datetime) -> datetime:
    """A tracker's clock is after 1970: earlier times are a wrong clock (and would fall out of
    the range of the answer's UTC times)."""
    if value < EPOCH:
        raise ValueError("is before 1970: check the tracker's clock and time zone")
    return value


Instant = Annotated[AwareDatetime, AfterValidator(_since_1970)]


def _whole(low: int, high: int, description: str, example: int) -> Any:
    return Annotated[
        int,
        Field(ge=low, le=high, description=description, examples=[example]),
        BeforeValidator(_whole_number),
    ]


def _history(name: str, kind: type, example: float) -> Any:
    f = moment.BY_NAME[name]
    extra = ", a whole number" if kind is int else ""
    description = f"{f.description.capitalize()}; {f.minimum:g} to {f.maximum:g}{extra}."
    if kind is int:
        field: Any = Annotated[
            int, Field(ge=int(f.minimum), le=int(f.maximum)), BeforeValidator(_whole_number)
        ]
    else:
        field = Annotated[float, Field(ge=f.minimum, le=f.maximum, allow_inf_nan=False)]
    return Annotated[
        field | None, Field(description=description + " null = missing.", examples=[example])
    ]


class EventIn(BaseModel):
    """One tracked event of the session, with the type the shopper produced."""

    model_config = STRICT

    event_time: Instant = Field(
        description="When it happened: ISO 8601 with a zone (UTC advised); microseconds count.",
        examples=["2020-02-03T14:05:09.250000Z"],
    )
    event_type: EventType = Field(
        description="view, cart (add to cart), remove_from_cart or purchase.", examples=["cart"]
    )
    product_id: _whole(0, 2**63 - 1, "The product's id.", 5_809_910)  # type: ignore[valid-type]
    category_id: (
        _whole(0, 2**63 - 1, "The category's id; null if unknown.", 1_487_580_005_134_238_553)  # type: ignore[valid-type]
        | None
    ) = None
    brand: str | None = Field(
        None, max_length=200, description="The brand; null or empty if none.", examples=["runail"]
    )
    price: float = Field(
        ge=_PRICE.minimum,
        le=_PRICE.maximum,
        allow_inf_nan=False,
        description="The product's price (the shop's currency).",
        examples=[5.56],
    )


class HistoryIn(BaseModel):
    """The shopper's earlier sessions, summed up by the caller (every field may be null or left
    out: scored as missing, like a shopper without history)."""

    model_config = STRICT

    prior_sessions: _history("prior_sessions", int, 4) = None  # type: ignore[valid-type]
    prior_purchasing_sessions: _history("prior_purchasing_sessions", int, 1) = None  # type: ignore[valid-type]
    prior_abandonment_rate: _history("prior_abandonment_rate", float, 0.5) = None  # type: ignore[valid-type]
    days_since_previous_session: _history("days_since_previous_session", float, 2.5) = None  # type: ignore[valid-type]
    prior_revenue: _history("prior_revenue", float, 31.4) = None  # type: ignore[valid-type]


LIVE_EXAMPLE = {
    "events": [
        {
            "event_time": "2020-02-03T14:01:00Z",
            "event_type": "view",
            "product_id": 5_809_910,
            "category_id": 1_487_580_005_134_238_553,
            "brand": "runail",
            "price": 5.56,
        },
        {
            "event_time": "2020-02-03T14:03:30Z",
            "event_type": "cart",
            "product_id": 5_809_910,
            "category_id": 1_487_580_005_134_238_553,
            "brand": "runail",
            "price": 5.56,
        },
    ],
    "history": {"prior_sessions": 4, "prior_purchasing_sessions": 1},
    "experiment_group": "treatment",
}


class LiveSessionIn(BaseModel):
    """The session so far (and, if known, the shopper's history): scored at its last event, or
    at `as_of`."""

    model_config = ConfigDict(
        strict=True, extra="forbid", json_schema_extra={"examples": [LIVE_EXAMPLE]}
    )

    events: list[EventIn] = Field(
        min_length=1,
        max_length=moment.MAX_EVENTS,
        description="The session's events so far, in any order: they are sorted by time (equal "
        "times keep the order sent). One session only (no gap over "
        f"{SESSION_TIMEOUT_MINUTES} minutes), with an add-to-cart, no purchase "
        f"yet, nothing in the future; at most {moment.MAX_EVENTS:,}.",
    )
    history: HistoryIn | None = Field(
        None, description="The shopper's earlier sessions; null or absent = no history known."
    )
    experiment_group: Literal["control", "treatment"] | None = Field(
        None,
        description="The checkout variant the shopper sees. Absent: derived from user_id by the "
        "experiment's assignment rule. One of the two is required; if both, they must agree.",
    )
    user_id: _whole(0, 2**63 - 1, "The shopper's id (for the group).", 512_475_445) | None = None  # type: ignore[valid-type]
    as_of: Instant | None = Field(
        None,
        description="Score at this instant (after the last event, within the session timeout) "
        "instead of at the last event: the idle time counts.",
    )


# ----------------------------------------------------------------------------- responses


class InterventionDecision(BaseModel):
    intervene: bool = Field(description="Act on this cart: expected_value > 0.")
    expected_value: float = Field(
        description="P x cart_price x gross_margin_rate x recovery_share - intervention_cost."
    )
    break_even_probability: float | None = Field(
        description="The P above which acting pays for this cart (null: no P up to 1 does)."
    )
    cart_price: float
    gross_margin_rate: float
    recovery_share: float = Field(
        description="An ASSUMPTION until a holdout experiment measures it."
    )
    intervention_cost: float
    rule_source: str = Field(description="The model version's decision.json, or the defaults.")


class MomentContribution(BaseModel):
    feature: str = Field(examples=["seconds_since_session_start"])
    value: float | None = Field(description="The feature's value (null = missing).")
    shap_value: float = Field(
        description="SHAP contribution to the booster's margin (log-odds before calibration)."
    )


class PlattCalibration(BaseModel):
    slope: float
    intercept: float
    fitted_on: str


class MomentExplanation(BaseModel):
    scale: Literal["margin"] = Field(
        description="Contributions and base value are on the booster's margin (log-odds "
        "BEFORE calibration): base_value + sum(contributions) = margin, and the answered "
        "probability is sigmoid(calibration.slope x margin + calibration.intercept)."
    )
    base_value: float = Field(description="Expected margin over the training data.")
    margin: float
    calibration: PlattCalibration
    contributions: list[MomentContribution] = Field(description="Contract order.")


class PredictionPoint(BaseModel):
    at: str = Field(description="The prediction point (ISO 8601, UTC).")
    kind: Literal["last_event", "as_of"]
    events: int = Field(description="Events known at the point (all that were sent).")


class MomentModelRef(ModelRef):
    family: Literal["moment"]


class SessionScoreOut(BaseModel):
    abandonment_probability: float = Field(
        ge=0, le=1, description="CALIBRATED P(no purchase in the rest of the session)."
    )
    risk_band: Literal[BANDS]
    risk_thresholds: RiskThresholds
    decision: InterventionDecision
    explanation: MomentExplanation
    features: dict[str, float | None] = Field(
        description="The 18 features the service built from the events (null = missing)."
    )
    point: PredictionPoint
    model: MomentModelRef
