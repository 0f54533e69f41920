"""Which experiment settings the data was made with: the ingest manifests record them.

The readout describes the data as ingested, not the environment of the moment: changing
experiments.yml's injected experiment or ECOM_UPLIFT_RATE after ingesting does not change what
was injected.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Literal

from pipeline.experiment import Experiment

Source = Literal["manifests", "settings"]


def _describe(experiment: Experiment) -> str:
    start = experiment.start.isoformat() if experiment.start else "the data's first day"
    end = f", end {experiment.end.isoformat()}" if experiment.end else ""
    salt = f", salt {experiment.salt!r}" if experiment.salt else ""
    return (
        f"{experiment.key or 'no experiment'}: uplift rate {experiment.uplift_rate:g}, "
        f"start {start}{end}{salt}"
    )


def recorded_experiment(
    manifest_dir: Path, configured: Experiment
) -> tuple[Experiment, Source, list[str]]:
    """The experiment recorded in the manifests (the most common one if months disagree),
    or the configured one when there are no manifests; plus warnings for any mismatch."""
    counts: Counter[Experiment] = Counter()
    months: dict[Experiment, list[str]] = {}
    for path in sorted(manifest_dir.glob("*.json")) if manifest_dir.is_dir() else []:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(document, dict):
            continue
        experiment = Experiment.from_dict(document.get("experiment") or {})
        counts[experiment] += 1
        months.setdefault(experiment, []).append(str(document.get("month", path.stem)))
    if not counts:
        return configured, "settings", []
    recorded = counts.most_common(1)[0][0]
    warnings = []
    if len(counts) > 1:
        parts = "; ".join(f"{', '.join(m)}: {_describe(e)}" for e, m in months.items())
        warnings.append(
            f"Months were ingested with different experiment settings ({parts}). Re-ingest "
            "them all with the same experiments.yml, ECOM_UPLIFT_RATE and ECOM_EXPERIMENT_START."
        )
    if recorded != configured:
        warnings.append(
            f"The current settings ({_describe(configured)}) differ from those recorded at "
            f"ingestion ({_describe(recorded)}); this readout describes the data as ingested."
        )
    return recorded, "manifests", warnings


def start_mismatch(recorded: Experiment, built_start: date | None) -> list[str]:
    """The warehouse must split periods at the day ingestion started injecting."""
    if recorded.start is None or built_start is None or built_start == recorded.start:
        return []
    return [
        f"The warehouse was built with experiment start {built_start.isoformat()} but ingestion "
        f"injected from {recorded.start.isoformat()}: rebuild it with "
        f"ECOM_EXPERIMENT_START={recorded.start.isoformat()} `ecom warehouse`."
    ]
