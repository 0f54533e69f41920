"""The moment model's card: what model_card.json of a `moment` version holds, as pydantic models.

Training builds a `MomentCard` (pipeline.model.moment.train) and renders model_card.md from it
(pipeline.model.moment.card); the API serves the JSON. Like the session card, every section
accepts unknown keys and `to_dict` dumps only what was set. The numbers are measured on the test
month by scorers fitted on the training months and calibrated on the calibration month; each
section's description says what its numbers mean. Pydantic only: the API image imports it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.serving.card import CalibrationBin, FeatureImportance, IntendedUse, Limitation


class Section(BaseModel):
    """A section, as the session card's: unknown keys kept (newer cards), JSON field names."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class MomentWindow(Section):
    """The time split, by month ('YYYY-MM')."""

    train_months: list[str] = []
    calibration_month: str | None = None
    test_month: str | None = None


class PartRows(Section):
    """Prediction points (rows) and sessions in one part of the split."""

    rows: int
    sessions: int
    abandoned_share: float
    by_point: dict[str, int] = {}


class ScorerMetrics(Section):
    """One scorer on one set of test rows (pipeline.model.moment.metrics)."""

    rows: int | None = None
    positive_rate: float | None = None
    roc_auc: float | None = Field(
        None, description="P(an abandoned cart scores above a purchased one)."
    )
    roc_auc_ci: list[float | None] | None = Field(
        None, description="95% bootstrap interval, resampling sessions."
    )
    pr_auc: float | None = Field(None, description="Average precision for abandoned carts.")
    pr_auc_ci: list[float | None] | None = None
    brier: float | None = None
    brier_skill: float | None = Field(
        None, description="1 - Brier / Brier of the prior rate; 0 = no better than the base rate."
    )
    expected_calibration_error: float | None = None
    mean_predicted: float | None = None
    reliability: list[CalibrationBin] = []


class Label24h(Section):
    """The 24-hour same-user label beside `abandoned`."""

    abandoned_bought_within_24h_share: float | None = None
    lost_share: float | None = Field(
        None, description="Rows abandoned and not bought by the user within 24 h of the point."
    )
    model_roc_auc_for_lost: float | None = None


class RowsEvaluation(Section):
    """Every scorer on one set of test rows (pooled, or one prediction point)."""

    rows: int
    sessions: int
    abandoned_share: float
    scorers: dict[str, ScorerMetrics]
    model_uncalibrated: ScorerMetrics | None = Field(
        None, description="The shipped booster before calibration (calibration metrics only)."
    )
    label_24h: Label24h | None = None


class MomentEvaluation(Section):
    pooled: RowsEvaluation
    per_point: dict[str, RowsEvaluation]


class Calibration(Section):
    """Platt scaling of the booster's margin, fitted on the calibration month."""

    method: str = "platt"
    slope: float
    intercept: float
    fitted_on: str
    test_ece_before: float | None = None
    test_ece_after: float | None = None
    test_brier_before: float | None = None
    test_brier_after: float | None = None


class PolicyResult(Section):
    """One policy on one month's carts: how many it acts on and the profit, in price units."""

    intervened: int
    share: float | None = None
    profit: float
    expected_profit: float
    profit_per_1000_carts: float | None = None


class CurvePoint(PolicyResult):
    threshold: float


class Decision(Section):
    """The decision rule's assumptions, the profit curve and the chosen threshold."""

    rule: dict[str, float]
    assumptions: str
    point: str = Field(description="The prediction point whose carts the decisions are about.")
    threshold: float = Field(description="Chosen on the calibration month (highest profit).")
    chosen_on: str
    calibration_curve: list[CurvePoint] = []
    test_curve: list[CurvePoint] = []
    test: dict[str, PolicyResult] = {}
    recovery_note: str


class PoolingChoice(Section):
    """Pooled points or first carts only: what was chosen, why, and what was measured."""

    chosen: str
    why: str
    measured: dict[str, dict[str, ScorerMetrics]] = {}


class MomentCard(Section):
    """model_card.json of a moment model version."""

    model: str | None = Field(None, description="The family: moment.")
    model_id: str | None = None
    engine: str | None = None
    trained_at: str | None = None
    features: list[str] = []
    label: str | None = None
    prediction_points: list[str] = []
    parameters: dict[str, Any] | None = None
    data_window: MomentWindow | None = None
    rows: dict[str, PartRows] = {}
    training_data_fingerprint: str | None = None
    library_versions: dict[str, str] | None = None
    calibration: Calibration | None = None
    evaluation: MomentEvaluation | None = None
    pooling: PoolingChoice | None = None
    decision: Decision | None = None
    intended_use: IntendedUse | None = None
    limitations: list[Limitation] = []
    reading_guide: dict[str, str] = Field(
        {}, description="What each number of the card means and what it does not."
    )
    risk_thresholds: dict[str, float] | None = None
    risk_thresholds_note: str | None = None
    feature_importance: FeatureImportance | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_unset=True)


OUTPUT_MODELS: tuple[type[BaseModel], ...] = (MomentCard,)
