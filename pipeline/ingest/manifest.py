"""One JSON manifest per ingested month: what went in, what came out, and that they add up.

`Manifest` is a pydantic model, so its JSON Schema (`Manifest.model_json_schema()`) is the
published contract of `<data>/manifests/<month>.json`; the file on disk is the model's JSON.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pipeline.errors import DataContractError
from pipeline.experiment import LEGACY
from pipeline.files import atomic_write


class Manifest(BaseModel):
    """What one ingestion of one month read, wrote, quarantined, injected and loaded."""

    # Frozen: a manifest is a record; fields this version does not know (written by a newer
    # one) are ignored when read.
    model_config = ConfigDict(frozen=True, extra="ignore")

    month: str = Field(description="The raw file's stem, e.g. 2019-Oct.")
    month_key: str = Field(description="The lake partition value, e.g. 2019-10.")
    source_file: str = Field(description="The raw file's name, e.g. 2019-Oct.csv.")
    source_path: str = Field(description="Where the raw file was read from.")
    input_bytes: int = Field(description="Size of the bytes parsed.")
    input_sha256: str = Field(description="SHA-256 of exactly the bytes parsed.")
    rows_read: int = Field(description="Data lines in the file (the header excluded).")
    rows_written: int = Field(description="Rows written to the lake partition.")
    rows_quarantined: int = Field(description="Lines written to the quarantine file.")
    quarantined_by_reason: dict[str, int] = Field(description="Quarantined lines per reason.")
    rows_injected: int = Field(description="Treatment carts turned into purchases.")
    duplicate_rows: int = Field(description="Rows that exactly repeat an earlier row (kept).")
    rows_by_group: dict[str, int] = Field(description="Rows written per experiment group.")
    injected_by_group: dict[str, int] = Field(description="Injections per experiment group.")
    rows_loaded: int | None = Field(
        description="Rows of this file in the warehouse's bronze.events after the load "
        "(null when the warehouse was not loaded)."
    )
    quarantine_loaded: int | None = Field(
        description="Rows of this file in bronze.quarantine after the load."
    )
    parts: list[str] = Field(description="The lake partition's Parquet files.")
    quarantine_path: str = Field(description="The month's quarantine Parquet file.")
    batch_size: int | None = Field(description="Lines per streaming batch and part file.")
    ingested_at: str = Field(description="When the run started (ISO 8601, UTC).")
    timings_seconds: dict[str, float] = Field(
        default_factory=dict, description="Seconds per step, and the total."
    )
    # Manifests written before the field existed were all ingested with the seed's settings.
    experiment: dict[str, Any] = Field(
        default_factory=LEGACY.to_dict,
        description="The experiment settings the month was injected with.",
    )
    # Fields added later have defaults, so older manifests stay readable.
    run_id: str = Field(
        default="", description="The commit protocol's run id (journal and staging folders)."
    )
    forced: bool = Field(
        default=False,
        description="Replaced a live month despite the refusal rule (`--force`).",
    )
    first_event_at: str | None = Field(
        default=None,
        description="The earliest event_time written (ISO 8601, UTC); null when no row was "
        "written or the manifest predates the field. With last_event_at, the time range the "
        "warehouse rebuilds when this month changes (pipeline/warehouse/incremental.py).",
    )
    last_event_at: str | None = Field(
        default=None, description="The latest event_time written (ISO 8601, UTC)."
    )

    def accounting_problems(self) -> list[str]:
        """read = written + quarantined, and the per-reason and per-group breakdowns agree.

        Checked on the staged output, before anything is published."""
        problems = []
        if self.rows_read != self.rows_written + self.rows_quarantined:
            problems.append(
                f"rows read {self.rows_read} != written {self.rows_written}"
                f" + quarantined {self.rows_quarantined}"
            )
        if sum(self.quarantined_by_reason.values()) != self.rows_quarantined:
            problems.append(f"quarantine reasons sum to {sum(self.quarantined_by_reason.values())}")
        if sum(self.rows_by_group.values()) != self.rows_written:
            problems.append(f"experiment groups sum to {sum(self.rows_by_group.values())}")
        return problems

    def load_problems(self) -> list[str]:
        """The warehouse holds exactly the written and quarantined rows of the file."""
        problems = []
        if self.rows_loaded is not None and self.rows_loaded != self.rows_written:
            problems.append(
                f"bronze.events holds {self.rows_loaded} rows of {self.source_file},"
                f" {self.rows_written} were written"
            )
        if self.quarantine_loaded is not None and self.quarantine_loaded != self.rows_quarantined:
            problems.append(
                f"bronze.quarantine holds {self.quarantine_loaded} rows,"
                f" {self.rows_quarantined} were quarantined"
            )
        return problems

    def check(self) -> None:
        """Every row is accounted for (both checks above), e.g. for a manifest read back."""
        problems = self.accounting_problems() + self.load_problems()
        if problems:
            raise DataContractError(
                f"Row accounting failed for {self.source_file}: {'; '.join(problems)}. "
                "Nothing was lost silently; re-run `ecom ingest --month "
                f"{self.month}` and report the manifest if it persists."
            )

    def with_loaded(self, events: int, quarantined: int) -> Manifest:
        """This manifest with what bronze now holds of the month."""
        return self.model_copy(update={"rows_loaded": events, "quarantine_loaded": quarantined})

    def write_to(self, path: Path) -> Path:
        """Atomically and durably; the same JSON as `json.dumps` of the fields, indented."""
        return atomic_write(path, json.dumps(self.model_dump(mode="json"), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """A manifest file; a broken one raises a ValueError (pydantic's ValidationError)."""
        return cls.model_validate_json(path.read_text())


# The outputs this package publishes a JSON Schema for (the documentation's reference pages).
OUTPUT_MODELS: tuple[type[BaseModel], ...] = (Manifest,)
