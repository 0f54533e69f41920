"""One JSON manifest per ingested month: what went in, what came out, and that they add up."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from pipeline.errors import DataContractError
from pipeline.experiment import DEFAULT_EXPERIMENT


@dataclass(frozen=True)
class Manifest:
    month: str
    month_key: str
    source_file: str
    source_path: str
    input_bytes: int
    input_sha256: str
    rows_read: int
    rows_written: int
    rows_quarantined: int
    quarantined_by_reason: dict[str, int]
    rows_injected: int
    duplicate_rows: int
    rows_by_group: dict[str, int]
    injected_by_group: dict[str, int]
    rows_loaded: int | None  # rows of this file in the warehouse's bronze.events after the load
    quarantine_loaded: int | None  # and in bronze.quarantine
    parts: list[str]
    quarantine_path: str
    batch_size: int | None
    ingested_at: str
    timings_seconds: dict[str, float] = field(default_factory=dict)
    # The experiment settings the month was injected with (pipeline.experiment.Experiment as a
    # dict). Manifests written before the field existed were all ingested with the seed's.
    experiment: dict[str, object] = field(default_factory=DEFAULT_EXPERIMENT.to_dict)
    # Fields added later have defaults, so older manifests stay readable.
    run_id: str = ""  # the commit protocol's run id (the journal's and staging folders' name)
    forced: bool = False  # replaced a live month despite the refusal rule (`--force`)

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

    def write_to(self, path: Path) -> Path:
        """Atomically (temp file + rename in the same folder)."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: Path) -> Manifest:
        """Fields this version does not know (written by a newer one) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in json.loads(path.read_text()).items() if k in known})
