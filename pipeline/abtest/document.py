"""Reading readout.json: its schema version says what a reader may rely on.

`schema_version` is "major.minor". Within a major version the document only grows: a minor
version adds fields and never removes, renames or re-types one, so a reader written for 2.0
reads 2.7 unchanged (it ignores what it does not know). A breaking change bumps the major,
which readers refuse with a clear message. `REQUIRED_V2` lists the paths a 2.x reader may use;
tests/abtest pins it, so a change that drops one of them fails there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.abtest.report import KIND
from pipeline.errors import InputError

SUPPORTED_MAJOR = 2

REQUIRED_V2: tuple[tuple[str, ...], ...] = (
    ("decision", "outcome"),
    ("decision", "headline"),
    ("decision", "rule"),
    ("experiment", "uplift_rate"),
    ("experiment", "start"),
    ("experiment", "end"),
    ("experiment", "hypothesis"),
    ("primary", "srm", "p_value"),
    ("primary", "conversion", "p_value"),
    ("primary", "conversion", "absolute"),
    ("all_users", "conversion", "p_value"),
    ("cuped", "adjusted"),
    ("guardrails",),
    ("bayesian", "conversion", "chance_to_win"),
    ("power", "mde_absolute"),
    ("sequential", "looks"),
    ("segments",),
    ("truth", "absolute"),
    ("warnings",),
)


def parse_version(text: str) -> tuple[int, int]:
    try:
        major, minor = (int(part) for part in str(text).split("."))
    except ValueError as err:
        raise InputError(f"readout schema_version {text!r} is not 'major.minor'") from err
    return major, minor


def read_readout(path: Path) -> dict[str, Any]:
    """The document, checked to be a readout of a major version this code reads."""
    try:
        document = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"Cannot read the readout {path}: {err}. Run `ecom abtest`.") from err
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise InputError(f"{path} is not an experiment readout (kind {KIND!r} expected).")
    major, _ = parse_version(document.get("schema_version", ""))
    if major != SUPPORTED_MAJOR:
        raise InputError(
            f"{path} has readout schema {document['schema_version']}; this code reads "
            f"{SUPPORTED_MAJOR}.x. Re-run `ecom abtest` with this version, or upgrade."
        )
    missing = [".".join(p) for p in REQUIRED_V2 if not _has(document, p)]
    if missing:
        raise InputError(f"{path} lacks fields of schema 2.x: {', '.join(missing)}.")
    return document


def _has(document: dict[str, Any], path: tuple[str, ...]) -> bool:
    node: Any = document
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True
