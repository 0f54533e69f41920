"""How fresh the data is, from the ingestion manifests (one JSON per ingested month).

The manifests are the ingestion's own record of what reached bronze, so "data as of" needs no
query: the last month ingested, the rows written, and when.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipeline.ingest.manifest import Manifest


@dataclass(frozen=True)
class Freshness:
    months: tuple[Manifest, ...]  # in month order
    unreadable: tuple[str, ...]  # manifest files that could not be read, with why

    @property
    def is_empty(self) -> bool:
        return not self.months

    @property
    def last_month(self) -> str | None:
        return self.months[-1].month if self.months else None

    @property
    def rows_written(self) -> int:
        return sum(m.rows_written for m in self.months)

    @property
    def rows_quarantined(self) -> int:
        return sum(m.rows_quarantined for m in self.months)

    @property
    def last_ingested_at(self) -> datetime | None:
        stamps = [parse_time(m.ingested_at) for m in self.months]
        known = [s for s in stamps if s is not None]
        return max(known) if known else None

    def stamp(self) -> str:
        """'Data as of 2020-Feb (20,688,702 rows, ingested 2026-12-01 09:15 UTC)'."""
        if self.is_empty:
            return "No data ingested yet: run `ecom ingest` (or `make demo`)."
        when = self.last_ingested_at
        at = f", ingested {when:%Y-%m-%d %H:%M} UTC" if when else ""
        return f"Data as of {self.last_month} ({self.rows_written:,} rows{at})"

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [
                {
                    "month": m.month,
                    "source_file": m.source_file,
                    "rows_read": m.rows_read,
                    "rows_written": m.rows_written,
                    "rows_quarantined": m.rows_quarantined,
                    "rows_injected": m.rows_injected,
                    "ingested_at": m.ingested_at,
                }
                for m in self.months
            ],
            schema={
                "month": pl.String,
                "source_file": pl.String,
                "rows_read": pl.Int64,
                "rows_written": pl.Int64,
                "rows_quarantined": pl.Int64,
                "rows_injected": pl.Int64,
                "ingested_at": pl.String,
            },
        )


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def read_freshness(manifest_dir: Path) -> Freshness:
    """Every `<month>.json` manifest, ordered by month; a broken one is listed, not raised."""
    found: list[Manifest] = []
    unreadable: list[str] = []
    if manifest_dir.is_dir():
        for path in sorted(manifest_dir.glob("*.json")):
            try:
                found.append(Manifest.read(path))
            except (OSError, ValueError, TypeError, json.JSONDecodeError) as err:
                unreadable.append(f"{path.name}: {err}")
    found.sort(key=lambda m: m.month_key)
    return Freshness(tuple(found), tuple(unreadable))


def last_dbt_run(target_path: Path) -> datetime | None:
    """When dbt last built models here (run_results.json's generated_at), or None."""
    path = target_path / "run_results.json"
    try:
        metadata = json.loads(path.read_text()).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return None
    return parse_time(metadata.get("generated_at") if isinstance(metadata, dict) else None)
