"""Ingestion: raw monthly CSVs -> Parquet lake, quarantine and manifests -> bronze.events.

sources (find, check and scan raw files), transforms (parse, quarantine, bucket, inject),
manifest (row accounting), run (the per-month orchestration).
"""

from pipeline.ingest.manifest import Manifest
from pipeline.ingest.run import ingest, ingest_month
from pipeline.ingest.transforms import REASONS

__all__ = ["REASONS", "Manifest", "ingest", "ingest_month"]
