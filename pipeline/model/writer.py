"""Write a model folder in the one layout (pipeline.serving.artifact reads it): the booster,
BigQuery ML's metadata layout, model_card.json with its Markdown, and the reference sample.

Training's half of the folder: the API image reads model folders and never writes one.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb
from pydantic import BaseModel

from pipeline.model.card import render_markdown
from pipeline.serving import features as contract
from pipeline.serving.artifact import (
    BOOSTER_FILE,
    CARD_FILE,
    CARD_MARKDOWN_FILE,
    METADATA_FILE,
    REFERENCE_FILE,
)
from pipeline.serving.card import ModelCard


def contract_metadata(
    stats: Mapping[str, Mapping[str, float]],
    features: Sequence[str] = contract.FEATURES,
    label: str = contract.LABEL,
) -> dict[str, Any]:
    """Metadata for a locally trained model: a contract's features (the session model's by
    default), all numeric.

    No `mean` is written: the local booster routes missing values down its default branches,
    and a mean would make the loader impute instead.
    """
    return {
        "model_type": "boosted_tree_classifier",
        "label_col": label,
        "class_names": ["0", "1"],
        "feature_names": list(features),
        "features": {name: dict(stats.get(name, {})) for name in features},
    }


def write_model(
    folder: Path,
    booster: xgb.Booster,
    metadata: Mapping[str, Any],
    card: BaseModel | Mapping[str, Any],
    reference: Mapping[str, np.ndarray],
    assets_from: Path | None = None,
    *,
    render: Callable[[Mapping[str, Any]], str] = render_markdown,
    extras: Callable[[Path], Any] | None = None,
) -> Path:
    """Write the model folder atomically: a failed run never leaves a half-written model.

    `assets_from` copies vocabularies from an imported export. A card of another family is any
    pydantic card with `to_dict`, rendered by its own `render`; `extras(folder)` writes that
    family's own files (the moment model's calibration.json and decision.json).
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the API container must read it
    try:
        (staging / "assets").mkdir()
        if assets_from is not None:
            for item in assets_from.glob("*.txt"):
                shutil.copy2(item, staging / "assets" / item.name)
        booster.save_model(str(staging / BOOSTER_FILE))  # UBJSON for non-.json names
        (staging / METADATA_FILE).write_text(json.dumps(metadata, indent=2) + "\n")
        if not isinstance(card, BaseModel):
            card = ModelCard.model_validate(card)
        card_json = json.dumps(card.to_dict(), indent=2, default=_json_default, allow_nan=False)
        (staging / CARD_FILE).write_text(card_json + "\n")
        (staging / CARD_MARKDOWN_FILE).write_text(render(json.loads(card_json)))
        write_reference(staging / REFERENCE_FILE, reference)
        if extras is not None:
            extras(staging)
        if folder.exists():
            backup = folder.with_name(folder.name + ".previous")
            shutil.rmtree(backup, ignore_errors=True)
            os.replace(folder, backup)
            os.replace(staging, folder)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def write_reference(path: Path, columns: Mapping[str, np.ndarray]) -> None:
    """The reference sample as CSV (empty cell = missing): readable by anything, no pickle."""
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names)
        for i in range(n):
            writer.writerow(_csv_cell(columns[name][i]) for name in names)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    if math.isnan(number):
        return ""
    return repr(int(number)) if number.is_integer() else repr(number)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
