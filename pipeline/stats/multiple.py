"""Multiple-testing corrections for the segment table.

Hand-written (a dozen lines of numpy) rather than imported from statsmodels, whose import alone
takes seconds and pulls pandas into every readout; tests/stats checks both methods against
`statsmodels.stats.multitest.multipletests`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

Correction = Literal["holm", "bh"]

CORRECTION_NAMES: dict[Correction, str] = {
    "holm": "Holm (family-wise error rate)",
    "bh": "Benjamini-Hochberg (false discovery rate)",
}


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values: controls the family-wise error rate."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def benjamini_hochberg(p_values: Sequence[float]) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values: controls the false discovery rate."""
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p)
    scaled = p[order] * m / np.arange(1, m + 1)
    stepped = np.minimum.accumulate(scaled[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted


def adjust(p_values: Sequence[float], method: Correction) -> np.ndarray:
    return holm(p_values) if method == "holm" else benjamini_hochberg(p_values)
