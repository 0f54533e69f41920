"""Drift monitoring with Evidently: has the data moved since the model was trained?

data.py reads what is compared, evidently_report.py runs Evidently (imported lazily: it is
slow to import), verdict.py decides drifted or not, run.py writes the reports. Part of the
batch stack: the API never imports it.
"""

from pipeline.drift.run import DriftRun, run_drift

__all__ = ["DriftRun", "run_drift"]
