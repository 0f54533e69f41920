"""Drift monitoring with Evidently: has the data moved since the model was trained?

data.py reads what is compared, evidently_report.py runs Evidently (imported lazily: it is
slow to import), verdict.py decides drifted or not, summary.py is the summary's shape (pydantic)
and Markdown, run.py writes the reports. Part of the batch stack: the API never imports it.
"""

from pipeline.drift.run import DriftRun, run_drift
from pipeline.drift.summary import OUTPUT_MODELS, DriftSummary

__all__ = ["OUTPUT_MODELS", "DriftRun", "DriftSummary", "run_drift"]
