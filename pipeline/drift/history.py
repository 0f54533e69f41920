"""Every drift run kept: `runs/<run>/` under the drift folder holds the run's summary.json and
a copy of its reports, so the months' drift reads as a trend and an older check can be opened
again after later runs replaced drift_<label>.* and latest.json.

A run's folder is named by when it ran (UTC, to the second) and, for a `--shift`
demonstration, "-shift" (`20200301T120000Z`, `20200301T120500Z-shift`); two runs in the same
second get "-2", "-3". The folder is filled under a temporary name and renamed when complete,
so a reader never meets half a run.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from pipeline.files import atomic_write, fsync_dir

RUNS = "runs"
SUMMARY = "summary.json"
SHIFT_SUFFIX = "-shift"


def run_name(generated_at: str, shift: bool) -> str:
    stamp = datetime.fromisoformat(generated_at).strftime("%Y%m%dT%H%M%SZ")
    return stamp + (SHIFT_SUFFIX if shift else "")


def keep(
    out_dir: Path,
    summary_json: str,
    reports: Sequence[tuple[Path, Path]],
    generated_at: str,
    shift: bool,
) -> Path:
    """Copy one finished run (its summary and each slice's html and json) to runs/<run>/."""
    runs = out_dir / RUNS
    runs.mkdir(parents=True, exist_ok=True)
    name = run_name(generated_at, shift)
    target, n = runs / name, 1
    while target.exists():
        n += 1
        target = runs / f"{name}-{n}"
    staging = runs / f".{target.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        for html, json_path in reports:
            shutil.copy2(html, staging / html.name)
            shutil.copy2(json_path, staging / json_path.name)
        atomic_write(staging / SUMMARY, summary_json)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    fsync_dir(runs)
    return target
