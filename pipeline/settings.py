"""All configuration in one place (env prefix ECOM_); every path derives from here."""

from __future__ import annotations

import re
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
# The fixed queries outside dbt (Jinja2 templates, pipeline.warehouse.templates).
SQL_DIR = REPO_ROOT / "sql"
# The team's experiments (pipeline.experiment.config reads it).
EXPERIMENTS_FILE = REPO_ROOT / "experiments.yml"
BQML_SQL_DIR = SQL_DIR / "bqml"

# The months of the public data set, in order; file names are "<month>.csv".
MONTHS: tuple[str, ...] = ("2019-Oct", "2019-Nov", "2019-Dec", "2020-Jan", "2020-Feb")
_MONTH_KEY = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def month_key(text: str) -> str:
    """A month as gold's `session_month` spells it: '2020-Feb' or '2020-02' -> '2020-02'."""
    value = str(text).strip()
    if _MONTH_KEY.match(value):
        return value
    try:
        return datetime.strptime(value, "%Y-%b").strftime("%Y-%m")
    except ValueError:
        raise ValueError(f"{text!r} is not a month: write it as 2020-Feb or 2020-02") from None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ECOM_", env_file=".env", extra="ignore", populate_by_name=True
    )

    data_dir: Path = Field(default=Path("data"), description="Root for generated and derived data.")
    warehouse: Literal["duckdb", "bigquery"] = Field(
        default="duckdb", description="The warehouse engine: embedded DuckDB, or BigQuery."
    )
    lake_uri: str | None = Field(
        default=None, description="Parquet lake: a local folder or gs://bucket/prefix."
    )
    duckdb_path: Path | None = Field(
        default=None, description="DuckDB file; default data/warehouse.duckdb."
    )
    gcp_project: str | None = Field(
        default=None, description="Google Cloud project that holds the datasets and runs the jobs."
    )
    bq_location: str = Field(
        default="US", description="BigQuery location of the datasets (the bucket's too)."
    )
    bq_bronze_dataset: str = Field(
        default="cosmetics_bronze", description="BigQuery dataset of the bronze layer."
    )
    bq_silver_dataset: str = Field(
        default="cosmetics_silver", description="BigQuery dataset of the silver layer."
    )
    bq_gold_dataset: str = Field(
        default="cosmetics_gold", description="BigQuery dataset of the gold layer."
    )
    bq_api_endpoint: str | None = Field(
        default=None, description="BigQuery API endpoint override (an emulator on loopback)."
    )
    # BigQuery cost guards: every query (dbt's and the Python side's) fails instead of billing
    # more than this many bytes; the dry run prices bytes at the on-demand rate per TiB.
    bq_maximum_bytes_billed: int = Field(
        default=10 * 2**30, gt=0, description="Per-query cap on bytes billed (default 10 GiB)."
    )
    bq_price_per_tib: float = Field(
        default=6.25, ge=0, description="On-demand USD per TiB processed, for dry-run estimates."
    )
    gcs_bucket: str | None = Field(
        default=None, description="Cloud Storage bucket for BigQuery ML's model exports."
    )
    models_dir: Path = Field(
        default=None,  # filled from data_dir below; ECOM_MODELS_DIR moves it (a mounted volume)
        description="Model versions and the `current` pointer; default <data_dir>/models.",
    )
    model_id: str | None = Field(
        default=None, description="Serve or score this model version instead of the current one."
    )
    moment_model_id: str | None = Field(
        default=None,
        description="Serve this moment-model version instead of the moment family's current one.",
    )
    train_through: str | None = Field(
        default=None,
        description="Train on cart sessions of months up to and including this one (2020-Jan "
        "or 2020-01); later months stay unseen, for `ecom drift`. Default: every month.",
    )
    # The service (api/): the key, who may call it from a browser, and the bulk limits.
    api_key: str | None = Field(
        default=None, description="When set, scoring endpoints require it in X-API-Key."
    )
    api_cors_origins: str = Field(
        default="http://localhost:8501,http://127.0.0.1:8501",
        description="Comma-separated browser origins allowed to call the API (the app's).",
    )
    api_insecure: bool = Field(
        default=False,
        description="Serve without ECOM_API_KEY on an address other than loopback (the service "
        "refuses to otherwise); every endpoint is then open to whoever reaches it.",
    )
    api_docs: Literal["key", "open", "off"] = Field(
        default="key",
        description="/docs, /redoc and /openapi.json: 'key' needs the API key when one is set, "
        "'open' serves them to anyone, 'off' not at all.",
    )
    api_reload_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How often the service checks the registry's current versions and switches "
        "every worker to new ones together (0: only on SIGHUP).",
    )
    api_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's headers (from its first byte, or "
        "from connecting); then 408 and the connection is closed.",
    )
    api_body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a client has to send a request's body once its headers are in; "
        "then 408 and the connection is closed.",
    )
    bulk_max_rows: int = Field(default=100_000, gt=0, description="Rows per /bulk_predict call.")
    bulk_max_bytes: int = Field(
        default=20 * 1024 * 1024, gt=0, description="Bytes per /bulk_predict body or upload."
    )
    bulk_concurrency: int = Field(
        default=1,
        ge=1,
        description="/bulk_predict calls a worker scores at once, each in its own low-priority "
        "process.",
    )
    bulk_queue: int = Field(
        default=2,
        ge=0,
        description="/bulk_predict calls a worker lets wait beyond those; more get 503 with "
        "Retry-After.",
    )
    # The app reaches the API only through this address (not ECOM_-prefixed: the compose file
    # and Cloud Run set API_URL).
    api_url: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("API_URL", "api_url"),
        description="Base URL of the scoring API, as the app calls it.",
    )
    app_upload_max_mb: int = Field(
        default=100,
        gt=0,
        description="Largest file the app's Bulk Prediction tab takes (MB); it scores it in "
        "batches within ECOM_BULK_MAX_ROWS and ECOM_BULK_MAX_BYTES. Below Streamlit's own "
        "server.maxUploadSize (200 MB), so a larger file still arrives and is told why not.",
    )
    seed: int = Field(
        default=42, description="Seed of every random choice (data, splits, training)."
    )
    # The moment model's time split (pipeline.model.moment): train on the months before the
    # calibration month, fit the calibration and choose the threshold on it, test on the last.
    moment_calibration_month: str = Field(
        default="2020-01",
        description="The moment model's calibration month (Platt scaling, the decision "
        "threshold); it trains on the months before it.",
    )
    moment_test_month: str = Field(
        default="2020-02",
        description="The moment model's test month: every figure of its card is measured there.",
    )
    # The decision rule's assumptions (pipeline.serving.decision.DecisionRule, whose defaults
    # these equal: tests/serving checks it): intervene on a cart when P(abandon) x price x
    # margin rate x recovery share exceeds the cost. Assumptions until a holdout experiment
    # measures the recovery share.
    decision_gross_margin_rate: float = Field(
        default=0.4,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Assumed share of a cart's price that is margin.",
    )
    decision_recovery_share: float = Field(
        default=0.15,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Assumed share of would-be-abandoned carts an intervention saves "
        "(unmeasured until a holdout experiment).",
    )
    decision_intervention_cost: float = Field(
        default=0.10,
        ge=0,
        allow_inf_nan=False,
        description="Assumed cost of one intervention, in the prices' currency.",
    )

    # The experiments (pipeline.experiment.config): the file, and two overrides of the injected
    # experiment for a run (recorded in every ingest manifest).
    experiments_file: Path = Field(
        default=EXPERIMENTS_FILE,
        description="The experiments file (experiments.yml): keys, salts, windows, metrics.",
    )
    uplift_rate: float | None = Field(
        default=None,
        ge=0,
        le=1,
        allow_inf_nan=False,
        description="Override the injected experiment's share of Treatment cart events injected "
        "as purchases; 0 = an A/A test. Default: its `injection.rate` in experiments.yml.",
    )
    experiment_start: date | None = Field(
        default=None,
        description="Override the injected experiment's first UTC day (YYYY-MM-DD); earlier "
        "events are the pre-period (no injection, CUPED covariates). Default: its `start`.",
    )

    max_quarantine_share: float = Field(
        default=0.05,
        ge=0.0,
        le=1.0,
        description="Ingestion refuses to replace a live month when the new run quarantines more "
        "than this share of its lines (or writes none), unless --force.",
    )

    @model_validator(mode="before")
    @classmethod
    def _default_models_dir(cls, values: Any) -> Any:
        """models_dir follows data_dir unless set (ECOM_MODELS_DIR or an override)."""
        if isinstance(values, dict) and values.get("models_dir") in (None, ""):
            data_dir = values.get("data_dir") or cls.model_fields["data_dir"].default
            values = {**values, "models_dir": Path(data_dir) / "models"}
        return values

    @field_validator("train_through")
    @classmethod
    def _month(cls, value: str | None) -> str | None:
        return None if value in (None, "") else month_key(value)

    @field_validator("moment_calibration_month", "moment_test_month")
    @classmethod
    def _split_month(cls, value: str) -> str:
        return month_key(value)

    @model_validator(mode="after")
    def _moment_split_order(self) -> Settings:
        if self.moment_calibration_month >= self.moment_test_month:
            raise ValueError(
                f"moment_calibration_month ({self.moment_calibration_month}) must come before "
                f"moment_test_month ({self.moment_test_month})"
            )
        return self

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.api_cors_origins.split(",") if o.strip()]

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def lake(self) -> str:
        """Where bronze Parquet lives: ECOM_LAKE_URI, or data/lake."""
        return self.lake_uri or str(self.data_dir / "lake")

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def manifest_dir(self) -> Path:
        return self.data_dir / "manifests"

    @property
    def ingest_state_dir(self) -> Path:
        """The ingestion lock and the journals of months being committed."""
        return self.data_dir / ".ingest"

    @property
    def warehouse_path(self) -> Path:
        return self.duckdb_path or self.data_dir / "warehouse.duckdb"

    @property
    def warehouse_build_path(self) -> Path:
        """The last warehouse build's record: which ingested months it built from."""
        return self.data_dir / "warehouse_build.json"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def drift_dir(self) -> Path:
        return self.reports_dir / "drift"

    @cached_property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.resolve()


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment, with explicit overrides (CLI options) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
