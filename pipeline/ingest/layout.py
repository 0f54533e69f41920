"""Where one run of a month puts its files: staged beside what they replace, retired beside it.

A month is three live places on disk: the lake partition (local lake only), the quarantine
file and the manifest. A run writes each new version into a `.staging-<run>` folder in the
same directory (same file system, so going live is a rename) and the commit moves each old
version into `.retired-<run>` beside it until the month is committed. The leading dot hides
both from Hive-style readers (`month=*`) and from the manifest readers (`*.json`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from pipeline.errors import Interrupted
from pipeline.experiment import Experiment
from pipeline.experiment.config import load_experiments
from pipeline.files import remove, storage_errors
from pipeline.lake import Lake
from pipeline.settings import Settings, month_key

EVENTS_TABLE = "events"
STAGING_PREFIX = ".staging-"
RETIRED_PREFIX = ".retired-"


@dataclass(frozen=True)
class Place:
    """One live path of the month, where this run stages its replacement, and where the
    commit keeps the old one until the month is committed."""

    target: Path
    staged: Path
    retired: Path


@dataclass(frozen=True)
class Layout:
    """The staging and retired paths of one run (`run_id`) of one month."""

    settings: Settings
    month: str
    run_id: str

    @cached_property
    def key(self) -> str:
        return month_key(self.month)

    @cached_property
    def lake(self) -> Lake:
        return Lake(self.settings.lake)

    @cached_property
    def experiment(self) -> Experiment:
        """What ingestion applies: the injected experiment of experiments.yml (its salt
        assigns bronze's experiment_group), with the run's overrides."""
        return load_experiments(self.settings).ingestion

    @property
    def retry(self) -> str:
        return f"ecom ingest --month {self.month}"

    @property
    def untouched(self) -> str:
        return f"Nothing was published: the previous run of {self.month} (if any) is intact."

    @property
    def rolled_back(self) -> str:
        return (
            f"This run was rolled back: the previous run of {self.month} (if any) is live "
            "again in the lake, the quarantine, the manifest and bronze."
        )

    def interrupted(self, state: str, *, retry: bool = True) -> Interrupted:
        """Ctrl-C, told with what it left (`untouched`, `rolled_back`, or kept for later)."""
        again = f" Re-run `{self.retry}` to ingest it." if retry else ""
        return Interrupted(f"Interrupted (Ctrl-C) while ingesting {self.month}. {state}{again}")

    def folder(self, parent: Path, prefix: str = STAGING_PREFIX) -> Path:
        return parent / f"{prefix}{self.run_id}"

    @property
    def parts_dir(self) -> Path:
        """Local lake: beside the partition (same file system, so publishing is a rename);
        gs:// lake: a durable local copy under the ingestion state folder."""
        if self.lake.is_gcs:
            return self.folder(self.settings.ingest_state_dir)
        return self.folder(Path(self.lake.uri) / EVENTS_TABLE)

    @property
    def quarantine_dir(self) -> Path:
        return self.folder(self.settings.quarantine_dir)

    @property
    def manifest_dir(self) -> Path:
        return self.folder(self.settings.manifest_dir)

    @property
    def batches_dir(self) -> Path:
        """The quarantine's per-batch parts, merged into the month's one file when staged."""
        return self.quarantine_dir / "batches"

    @property
    def partition(self) -> str:
        """The live partition's address (a folder, or a gs:// prefix)."""
        return self.lake.partition(EVENTS_TABLE, self.key)

    def places(self) -> dict[str, Place]:
        """'partition' (local lake only), 'quarantine' and 'manifest', in commit order."""

        def file_place(parent: Path, name: str) -> Place:
            return Place(
                parent / name,
                self.folder(parent) / name,
                self.folder(parent, RETIRED_PREFIX) / name,
            )

        places = {}
        if not self.lake.is_gcs:
            target = Path(self.partition)
            places["partition"] = Place(
                target, self.parts_dir, self.folder(target.parent, RETIRED_PREFIX)
            )
        places["quarantine"] = file_place(self.settings.quarantine_dir, f"{self.month}.parquet")
        places["manifest"] = file_place(self.settings.manifest_dir, f"{self.month}.json")
        return places

    def folders(self) -> list[Path]:
        """Every folder this run creates, in creation order (all removed at the end)."""
        folders = [self.parts_dir, self.quarantine_dir, self.batches_dir, self.manifest_dir]
        for parent in (self.settings.quarantine_dir, self.settings.manifest_dir):
            folders.append(self.folder(parent, RETIRED_PREFIX))
        return folders

    def create_folders(self) -> None:
        """All of them up front: a read-only lake, quarantine or manifest folder fails here,
        before a month is parsed."""
        for folder in self.folders():
            with storage_errors(
                "create a staging folder in", folder.parent, intact=self.untouched, retry=self.retry
            ):
                folder.mkdir(parents=True)

    def remove_folders(self) -> None:
        for folder in reversed(self.folders()):
            remove(folder)
