"""The model card's data: what model_card.json holds, as pydantic models.

Training builds a `ModelCard` (pipeline.model.train, .bqml), writes it as model_card.json and
renders model_card.md from it (pipeline.model.card); the API serves the JSON (GET /model) and
documents its shape with these models; `ModelCard.model_json_schema()` is the published schema.

Every field is optional and every model accepts unknown keys: cards of older releases lack the
newer sections, and a card written by a newer release still loads. What a card does not carry
stays out of its JSON (`to_dict` dumps only the fields that were set), so a card read and
written again is the same JSON. Pydantic only: the API image imports this module.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """A section: unknown keys kept (newer cards), field names as written in the JSON."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())


class DataWindow(_Open):
    first_session_start: str | None = None
    last_session_start: str | None = None
    months: list[str] = []
    through: str | None = Field(None, description="The last training month asked for, if any.")


class Rows(_Open):
    """Cart sessions in the training window, by label and by split."""

    total: int | None = None
    abandoned: int | None = None
    purchased: int | None = None
    train: int | None = None
    eval: int | None = None


class CalibrationBin(_Open):
    bin_low: float
    bin_high: float
    rows: int
    mean_predicted: float
    observed_rate: float


class Metrics(_Open):
    """One scorer on one split's test rows (pipeline.model.evaluate)."""

    rows: int | None = None
    positive_rate: float | None = None
    roc_auc: float | None = None
    pr_auc: float | None = None
    accuracy: float | None = None
    log_loss: float | None = None
    brier: float | None = None
    roc_auc_ci: list[float | None] | None = Field(None, description="95% bootstrap interval.")
    pr_auc_ci: list[float | None] | None = Field(None, description="95% bootstrap interval.")
    calibration: list[CalibrationBin] = []
    classification_report: dict[str, Any] | None = None


class BandRow(_Open):
    """One risk band on a split's test rows."""

    band: str
    from_: float = Field(alias="from")
    to: float
    rows: int
    share: float | None = None
    mean_predicted: float | None = None
    observed_abandonment: float | None = None


class SplitReport(_Open):
    description: str | None = None
    booster: str | None = Field(None, description="Which booster these metrics score.")
    train_rows: int | None = None
    test_rows: int | None = None
    model: Metrics | None = None
    baselines: dict[str, Metrics] = {}
    risk_bands: list[BandRow] = []


class Evaluation(_Open):
    """Both splits' reports; a BigQuery ML card adds ML.EVALUATE's and ML.GLOBAL_EXPLAIN's rows."""

    random_split: SplitReport | None = None
    time_split: SplitReport | None = None
    ml_evaluate: list[dict[str, Any]] | None = None
    ml_global_explain: list[dict[str, Any]] | None = None


class IntendedUse(_Open):
    summary: str
    suitable_for: list[str] = []
    not_suitable_for: list[str] = []


class Limitation(_Open):
    topic: str
    text: str
    injected_purchases: dict[str, Any] | None = None


class SplitData(_Open):
    how: str | None = None
    train_rows: int | None = None
    test_rows: int | None = None
    booster: str | None = None


class EvaluationData(_Open):
    source: str
    window: DataWindow | None = None
    rows: int | None = None
    abandoned_share: float | None = None
    splits: dict[str, SplitData] = {}
    baselines: str


class CalibrationSummary(_Open):
    expected_calibration_error: float
    max_gap: float
    max_gap_bin: list[float]
    max_gap_bin_rows: int
    bins: int


class AtThreshold(_Open):
    precision_abandoned: float
    recall_abandoned: float
    accuracy: float
    flagged_share: float | None = None


class DecisionPolicy(_Open):
    threshold: float
    how_chosen: str
    at_threshold: dict[str, AtThreshold] = {}


class FeatureImportance(_Open):
    method: str
    values: dict[str, float]


class ModelCard(_Open):
    """model_card.json: what the model is, how it was trained and evaluated, what it is for."""

    model: str | None = Field(None, description="The model's name (abandonment).")
    model_id: str | None = Field(
        None, description="A hash of what determines the model, never of when it was trained."
    )
    engine: str | None = Field(None, description="local (xgboost) or bqml (BigQuery ML).")
    trained_at: str | None = None
    features: list[str] = []
    label: str | None = None
    parameters: dict[str, Any] | None = None
    data_window: DataWindow | None = None
    rows: Rows | None = None
    training_data_fingerprint: str | None = None
    library_versions: dict[str, str] | None = None
    evaluation: Evaluation | None = None
    booster_sha256: str | None = None
    intended_use: IntendedUse | None = None
    limitations: list[Limitation] = []
    evaluation_data: EvaluationData | None = None
    calibration: dict[str, CalibrationSummary | None] = {}
    decision_threshold: float | None = None
    decision_policy: DecisionPolicy | None = None
    risk_thresholds: dict[str, float] | None = Field(
        None, description="P(abandoned) from which a session is medium and high risk."
    )
    risk_thresholds_note: str | None = None
    feature_importance: FeatureImportance | None = None
    trainer: str | None = None
    objective: str | None = None
    feature_ranges: dict[str, dict[str, float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card's JSON object: the fields that were set, in field order, by their JSON
        names (values as given: the writer turns numpy numbers into JSON ones)."""
        return self.model_dump(by_alias=True, exclude_unset=True)


OUTPUT_MODELS: tuple[type[BaseModel], ...] = (ModelCard,)
