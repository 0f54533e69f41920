"""Calibrated probabilities, stored in the model version so every scorer returns one number.

A booster's raw probability is often miscalibrated on a later month (the moment model trains on
October-December and is used on the months after). Platt scaling maps the booster's margin m
(log-odds) to P = sigmoid(slope * m + intercept), fitted on a held-out month. Two numbers: the
API applies them in Python, the SQL scorer in one expression, and both therefore agree to float
rounding. (Isotonic regression fits more shapes, but its step function would have to be shipped
as a table to every scorer; two numbers are the honest minimum.)
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import ModelError
from pipeline.serving.trees import sigmoid

CALIBRATION_FILE = "calibration.json"
METHOD = "platt"


@dataclass(frozen=True)
class Platt:
    """P = sigmoid(slope * margin + intercept); identity is slope 1, intercept 0."""

    slope: float
    intercept: float
    fitted_on: str = ""  # which rows, in words (e.g. "2020-Jan, 20,934 prediction points")

    def margin(self, margin: float) -> float:
        """The calibrated margin (log-odds)."""
        return self.slope * margin + self.intercept

    def probability(self, margin: float) -> float:
        return sigmoid(self.margin(margin))

    def probabilities(self, margins: np.ndarray) -> np.ndarray:
        """Vectorized, with the scalar sigmoid's exact formula on each side of zero."""
        z = self.slope * np.asarray(margins, dtype=np.float64) + self.intercept
        e = np.exp(-np.abs(z))
        return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


IDENTITY = Platt(1.0, 0.0, "none (the booster's own probability)")


def write_calibration(folder: Path | str, platt: Platt) -> Path:
    path = Path(folder) / CALIBRATION_FILE
    path.write_text(json.dumps({"method": METHOD, **asdict(platt)}, indent=2) + "\n")
    return path


def read_calibration(folder: Path | str) -> Platt:
    """The version's calibration; a version without the file (the session family) has none."""
    path = Path(folder) / CALIBRATION_FILE
    if not path.exists():
        return IDENTITY
    try:
        data = json.loads(path.read_text())
        if data.get("method") != METHOD:
            raise ValueError(f"method {data.get('method')!r} is not {METHOD!r}")
        platt = Platt(
            float(data["slope"]), float(data["intercept"]), str(data.get("fitted_on", ""))
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelError(f"{path}: not a calibration this release can apply ({err}).") from err
    if not (math.isfinite(platt.slope) and math.isfinite(platt.intercept)):
        raise ModelError(f"{path}: the calibration's numbers must be finite.")
    return platt
