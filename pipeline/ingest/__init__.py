"""Ingestion: raw monthly CSVs -> Parquet lake, quarantine and manifests -> bronze.events.

sources (month names, file checks, the one open input), transforms (parse, quarantine, bucket,
inject), manifest (row accounting), commit (lock, journal, swaps, recovery), storage (file
system failures as messages), run (the per-month orchestration).
"""

from pipeline.ingest.manifest import Manifest
from pipeline.ingest.run import ingest, ingest_month
from pipeline.ingest.transforms import REASONS

__all__ = ["REASONS", "Manifest", "ingest", "ingest_month"]
