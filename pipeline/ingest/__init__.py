"""Ingestion: raw monthly CSVs -> Parquet lake, quarantine and manifests -> bronze.events.

One month flows one way through the modules: sources (month names, file checks, the one open
input) -> transforms (parse, quarantine, bucket, inject) -> writer (one streaming pass, one
part per batch) -> stage (the new files beside the live ones, checked: a `StagedMonth`) ->
commit (one state machine: journal, swaps, bronze, recovery, roll-back). layout says where a
run's files go; manifest is the month's record (a pydantic model); run takes the lock and
runs the months in turn.
"""

from pipeline.errors import Interrupted
from pipeline.ingest.manifest import OUTPUT_MODELS, Manifest
from pipeline.ingest.run import ingest, ingest_month
from pipeline.ingest.transforms import REASONS

__all__ = ["OUTPUT_MODELS", "REASONS", "Interrupted", "Manifest", "ingest", "ingest_month"]
