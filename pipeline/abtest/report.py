"""Writers: readout.json for machines (the document's pydantic models) and readout.md for
people (a Jinja2 template beside this module, rendered from the same document).

The Markdown opens with the decision (what to do, by which rule, about which experiment), then
the evidence, and ends with a glossary.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import jinja2

from pipeline.abtest.document import ReadoutDocument
from pipeline.abtest.families import ERROR_RATE_WORDS
from pipeline.abtest.readout import PRIMARY_LABEL, Readout
from pipeline.markdown import template
from pipeline.stats.multiple import CORRECTION_NAMES


def document(readout: Readout) -> ReadoutDocument:
    """The readout as readout.json's model (derived values and texts included)."""
    return ReadoutDocument.model_validate(readout)


def write_json(readout: Readout, path: Path) -> Path:
    text = json.dumps(document(readout).model_dump(mode="json"), indent=2, allow_nan=False)
    path.write_text(text + "\n")
    return path


# ---- the Markdown's number formats (a value that is not a finite number reads "n/a")


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if not _finite(x) else f"{x * 100:.{digits}f}%"


def signed_pct(x: float | None, digits: int = 2) -> str:
    return "n/a" if not _finite(x) else f"{x * 100:+.{digits}f}%"


def pp(x: float | None) -> str:
    """Percentage points: the difference of two shares."""
    return "n/a" if not _finite(x) else f"{x * 100:+.2f} pp"


def ci(interval, scale: float = 100, unit: str = " pp") -> str:
    if interval is None or not (_finite(interval.lower) and _finite(interval.upper)):
        return "n/a"
    return f"[{interval.lower * scale:+.2f}, {interval.upper * scale:+.2f}]{unit}"


def p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def num(x: float | None, digits: int = 4) -> str:
    return "n/a" if not _finite(x) else f"{x:,.{digits}f}"


def fmt(value: float | None, spec: str, scale: float = 1) -> str:
    """`format(value * scale, spec)`, or "n/a" for a missing value."""
    if value is None:
        return "n/a"
    return format(value if scale == 1 else value * scale, spec)


FILTERS = {"pct": pct, "signed_pct": signed_pct, "pp": pp, "ci": ci, "p": p, "num": num, "fmt": fmt}


@cache
def _template() -> jinja2.Template:
    return template("pipeline.abtest", "readout.md.j2", **FILTERS)


def markdown(readout: Readout) -> str:
    r = document(readout)
    return _template().render(
        r=r,
        level=round((1 - r.config.alpha) * 100),
        primary_label=PRIMARY_LABEL,
        correction_names=CORRECTION_NAMES,
        error_rate_words=ERROR_RATE_WORDS,
    )


def write_markdown(readout: Readout, path: Path) -> Path:
    path.write_text(markdown(readout))
    return path
