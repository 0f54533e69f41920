"""Month frame -> CSV in the raw files' exact format, malformed lines spliced in, plus a sidecar.

Polars writes the well-formed rows (multithreaded); the few malformed lines are written between
slices, so the file never has to be held as text in memory.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.generate.dirt import MALFORMED_KINDS, malformed_lines
from pipeline.schema import RAW_COLUMNS, RAW_TIME_FORMAT

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_DASHES = (8, 13, 18, 23)
_HEX_POS = np.array([i for i in range(36) if i not in _DASHES])


def uuid_strings(raw: np.ndarray) -> pl.Series:
    """UUID text (8-4-4-4-12 hex) for each 16-byte row, built without a Python loop."""
    text = np.empty((len(raw), 36), dtype=np.uint8)
    text[:, list(_DASHES)] = ord("-")
    hexes = np.empty((len(raw), 32), dtype=np.uint8)
    hexes[:, 0::2] = _HEX[raw >> 4]
    hexes[:, 1::2] = _HEX[raw & 15]
    text[:, _HEX_POS] = hexes
    return pl.Series(np.ascontiguousarray(text).view("S36").ravel()).cast(pl.String)


def _csv(frame: pl.DataFrame, *, header: bool = False) -> str:
    return frame.write_csv(
        include_header=header, datetime_format=RAW_TIME_FORMAT, float_precision=2
    )


def write_month(
    frame: pl.DataFrame, path: Path, malformed: dict[str, np.ndarray]
) -> dict[str, dict[str, object]]:
    """Write `frame` to `path`, replacing the rows listed in `malformed` by broken lines.

    Returns, per kind, the count and the 1-based line numbers (the header is line 1).
    """
    assert frame.columns == list(RAW_COLUMNS)
    rows = np.concatenate([malformed[k] for k in MALFORMED_KINDS]).astype(np.int64)
    kinds = np.repeat(np.array(MALFORMED_KINDS), [len(malformed[k]) for k in MALFORMED_KINDS])
    order = np.argsort(rows)
    rows, kinds = rows[order], kinds[order]
    bad = pl.Series(dtype=pl.String)
    if len(rows):
        good = _csv(frame[rows.tolist()]).splitlines()
        bad = malformed_lines(pl.Series(good), pl.Series(kinds.tolist()))
    tmp = path.with_suffix(".csv.partial")
    with tmp.open("wb") as fh:
        fh.write((",".join(RAW_COLUMNS) + "\n").encode())
        prev = 0
        for row, line in zip(rows.tolist(), bad.to_list(), strict=True):  # per malformed line
            if row > prev:
                frame.slice(prev, row - prev).write_csv(
                    fh, include_header=False, datetime_format=RAW_TIME_FORMAT, float_precision=2
                )
            fh.write((line + "\n").encode())
            prev = row + 1
        if prev < frame.height:
            frame.slice(prev).write_csv(
                fh, include_header=False, datetime_format=RAW_TIME_FORMAT, float_precision=2
            )
    tmp.replace(path)
    return {
        k: {"count": int((kinds == k).sum()), "lines": (rows[kinds == k] + 2).tolist()}
        for k in MALFORMED_KINDS
    }


def write_sidecar(path: Path, content: dict[str, object]) -> Path:
    sidecar = path.with_name(path.stem + ".truth.json")
    sidecar.write_text(json.dumps(content, indent=1) + "\n")
    return sidecar
