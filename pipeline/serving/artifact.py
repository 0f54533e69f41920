"""The model folder: one layout whoever trained it, one loader that predicts from it.

Layout (what BigQuery ML's EXPORT MODEL writes for a boosted-tree model, plus our two files):

    model.bst                    the XGBoost booster (legacy binary from BigQuery ML, UBJSON locally)
    assets/model_metadata.json   feature names in model order, their encodings, class names
    assets/<i>.txt, <i>_array.txt  vocabularies of categorical features (BigQuery ML only)
    model_card.json              metrics, parameters, data window, row counts, versions, fingerprint,
                                 intended use and limitations (pipeline.serving.card)
    model_card.md                the same card for people (what `ecom models show` prints)
    reference_sample.csv         1,000 training rows for SHAP backgrounds and drift reports

This module reads the folder; training writes it (pipeline/model/writer.py). Keep it importable
with numpy + xgboost + json only: the API image loads models with it. No pickle: a booster file
is data, and the SHAP explainer is rebuilt from it at load time.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from pipeline.errors import ModelError
from pipeline.serving import features as contract
from pipeline.serving.layout import (  # noqa: F401  (the folder's names, re-exported)
    BOOSTER_FILE,
    CARD_FILE,
    CARD_MARKDOWN_FILE,
    METADATA_FILE,
    MODEL_NAME,
    REFERENCE_FILE,
)

KNOWN_OBJECTIVES = ("binary:logistic", "multi:softprob")
# Names the positive class ("abandoned") can carry in class_names, whichever engine wrote them.
POSITIVE_CLASS_NAMES = ("1", "true")
NULL_FILLER = "_null_filler"


@dataclass(frozen=True)
class InputColumn:
    """How one metadata feature becomes booster columns (BigQuery ML's export encodings).

    numeric: one column, the value itself; missing -> `mean` when the metadata gives one.
    ohe: one column holding the value's line index in assets/<i>.txt; an unseen value is missing.
    mhe: one column per line of assets/<i>_array.txt, 1.0 where the array holds it, else missing.
    """

    name: str
    encode_type: str
    vocabulary: tuple[str, ...] = ()
    mean: float | None = None

    @property
    def width(self) -> int:
        return len(self.vocabulary) if self.encode_type == "mhe" else 1


@dataclass
class LoadedModel:
    """A booster plus everything needed to feed it and read its output."""

    path: Path
    booster: xgb.Booster
    objective: str
    class_names: tuple[str, ...]
    positive_index: int
    columns: tuple[InputColumn, ...]
    metadata: dict[str, Any]
    card: dict[str, Any] = field(default_factory=dict)
    # The version's id (pipeline.serving.registry): the card's, or for an export imported without
    # a card, "export-" + a hash of its booster file.
    model_id: str = ""

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def is_numeric_only(self) -> bool:
        return all(c.encode_type == "numeric" for c in self.columns)

    def encode(self, records: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Raw records -> the booster's input matrix, with the export's encodings applied."""
        rows = [self._encode_record(r) for r in records]
        width = sum(c.width for c in self.columns)
        return np.asarray(rows, dtype=np.float64).reshape(len(rows), width)

    def _encode_record(self, record: Mapping[str, Any]) -> list[float]:
        out: list[float] = []
        for col in self.columns:
            value = record.get(col.name)
            if col.encode_type == "ohe":
                out.append(_vocab_index(col.vocabulary, value))
            elif col.encode_type == "mhe":
                present = {str(v) for v in (value or [])}
                out.extend(1.0 if word in present else math.nan for word in col.vocabulary)
            elif col.name in contract.BY_NAME:
                out.append(contract.encode_value(col.name, value))
            else:
                out.append(_as_float(col.name, value))
        return out

    def impute(self, matrix: np.ndarray) -> np.ndarray:
        """Replace missing numeric inputs by their metadata mean (what BigQuery ML does)."""
        matrix = np.array(matrix, dtype=np.float64, copy=True)
        offset = 0
        for col in self.columns:
            if col.encode_type == "numeric" and col.mean is not None:
                column = matrix[:, offset]
                column[np.isnan(column)] = col.mean
            offset += col.width
        return matrix

    def predict_proba_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Encoded matrix -> class probabilities, one column per class in class_names order."""
        if matrix.ndim != 2 or matrix.shape[1] != self.booster.num_features():
            raise ModelError(
                f"expected a matrix with {self.booster.num_features()} columns, got {matrix.shape}"
            )
        raw = self.booster.inplace_predict(self.impute(matrix), missing=np.nan)
        if self.objective == "binary:logistic":
            positive = np.asarray(raw, dtype=np.float64).reshape(-1)
            proba = np.empty((positive.size, 2))
            proba[:, self.positive_index] = positive
            proba[:, 1 - self.positive_index] = 1.0 - positive
            return proba
        return np.asarray(raw, dtype=np.float64).reshape(matrix.shape[0], len(self.class_names))

    def predict_matrix(self, matrix: np.ndarray) -> np.ndarray:
        """Encoded matrix -> probability of the positive class (abandoned)."""
        return self.predict_proba_matrix(matrix)[:, self.positive_index]

    def predict_proba(self, records: Iterable[Mapping[str, Any]]) -> np.ndarray:
        return self.predict_proba_matrix(self.encode(records))

    def predict(self, records: Iterable[Mapping[str, Any]]) -> np.ndarray:
        """Raw records -> probability of the positive class (abandoned)."""
        return self.predict_matrix(self.encode(records))


def _vocab_index(vocabulary: Sequence[str], value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(vocabulary.index(str(value)))
    except ValueError:
        return math.nan  # an unseen category is missing, as in BigQuery ML's predictor


def _as_float(name: str, value: Any) -> float:
    if value is None or value == "":
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a number, got {value!r}") from err


# ----------------------------------------------------------------------------- loading


def load_model(path: Path | str, features: Sequence[str] | None = contract.FEATURES) -> LoadedModel:
    """Load a model folder written by BigQuery ML's EXPORT MODEL or by `ecom train`.

    `features` is the contract the metadata must match (names and order); pass None to load
    any export (the reference export in the tests has other features).
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no model folder here. Run `ecom train` first.")
    metadata = _read_metadata(folder / METADATA_FILE)
    names = list(metadata["feature_names"])
    if features is not None and names != list(features):
        raise ModelError(
            f"{folder / METADATA_FILE}: feature_names {names} do not match the feature contract "
            f"{list(features)} (names and order). Retrain with `ecom train`."
        )
    columns = tuple(_input_column(folder, metadata, i, name) for i, name in enumerate(names))
    booster = _read_booster(folder / BOOSTER_FILE)
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    if objective not in KNOWN_OBJECTIVES:
        raise ModelError(
            f"{folder / BOOSTER_FILE}: unknown objective {objective!r}; the loader serves "
            f"{' and '.join(KNOWN_OBJECTIVES)} classifiers only."
        )
    class_names = tuple(str(c) for c in metadata["class_names"])
    positive_index = _positive_index(folder / METADATA_FILE, class_names)
    _check_shapes(folder, booster, objective, class_names, columns)
    card = _read_card(folder / CARD_FILE)
    model_id = card.get("model_id")
    if not isinstance(model_id, str) or not model_id:
        digest = hashlib.sha256((folder / BOOSTER_FILE).read_bytes()).hexdigest()
        model_id = f"export-{digest[:12]}"
    return LoadedModel(
        path=folder,
        booster=booster,
        objective=objective,
        class_names=class_names,
        positive_index=positive_index,
        columns=columns,
        metadata=metadata,
        card=card,
        model_id=model_id,
    )


def _read_card(path: Path) -> dict[str, Any]:
    """The model card, or {} for an export that has none; a broken one names the fix."""
    if not path.exists():
        return {}
    try:
        card = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(
            f"{path}: the model card is not valid JSON ({err}). Restore it from the training "
            "run's output or retrain with `ecom train`."
        ) from err
    if not isinstance(card, dict):
        raise ModelError(
            f"{path}: the model card must be a JSON object, got {type(card).__name__}. "
            "Retrain with `ecom train`."
        )
    return card


def _read_metadata(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ModelError(f"{path}: model metadata is missing; the folder is not a model export.")
    try:
        metadata = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: model metadata is not valid JSON ({err}).") from err
    if not isinstance(metadata, dict):
        raise ModelError(
            f"{path}: model metadata must be a JSON object, got {type(metadata).__name__} "
            f"({str(metadata)[:40]}). Re-export the model or retrain with `ecom train`."
        )
    missing = [k for k in ("feature_names", "features", "class_names") if k not in metadata]
    if missing:
        raise ModelError(f"{path}: model metadata lacks {missing}; re-export the model.")
    if not isinstance(metadata["features"], dict) or not isinstance(
        metadata["feature_names"], list
    ):
        raise ModelError(
            f"{path}: 'features' must be an object and 'feature_names' a list; re-export the model."
        )
    return metadata


def _input_column(folder: Path, metadata: dict[str, Any], index: int, name: str) -> InputColumn:
    spec = metadata["features"].get(name)
    if not isinstance(spec, dict):
        raise ModelError(
            f"{folder / METADATA_FILE}: feature {name!r} has no object entry in 'features'; "
            "re-export the model."
        )
    encode_type = spec.get("encode_type", "numeric")
    if encode_type == "numeric":
        return InputColumn(name, "numeric", mean=_mean(folder / METADATA_FILE, name, spec))
    if encode_type not in ("ohe", "mhe"):
        raise ModelError(
            f"{folder / METADATA_FILE}: feature {name!r} has unknown encode_type {encode_type!r}."
        )
    vocab_path = (
        folder / "assets" / (f"{index}.txt" if encode_type == "ohe" else f"{index}_array.txt")
    )
    if not vocab_path.exists():
        raise ModelError(f"{vocab_path}: vocabulary of feature {name!r} is missing.")
    vocabulary = tuple(vocab_path.read_text().splitlines())
    return InputColumn(name, encode_type, vocabulary=vocabulary)


def _mean(path: Path, name: str, spec: Mapping[str, Any]) -> float | None:
    """The imputation mean of a numeric feature: a finite number, or absent."""
    mean = spec.get("mean")
    if mean is None:
        return None
    try:
        if isinstance(mean, bool):
            raise ValueError
        value = float(mean)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value):
        raise ModelError(
            f"{path}: feature {name!r} has a non-numeric or non-finite mean {mean!r}; "
            "re-export the model (BigQuery ML writes a number there)."
        )
    return value


def _read_booster(path: Path) -> xgb.Booster:
    if not path.exists():
        raise ModelError(f"{path}: booster file is missing. Run `ecom train` or re-export.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Loading model from XGBoost < 1.0.0": expected
            booster = xgb.Booster(model_file=str(path))
    except xgb.core.XGBoostError as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else "unreadable"
        raise ModelError(
            f"{path}: booster file is corrupt or in an unsupported format ({first_line}). "
            "Re-export or retrain the model."
        ) from err
    # shap honours best_iteration where predict does not; keep every tree for both.
    if booster.attr("best_iteration") is not None:
        booster.set_attr(best_iteration=None, best_score=None)
    return booster


def _positive_index(metadata_path: Path, class_names: tuple[str, ...]) -> int:
    matches = [i for i, c in enumerate(class_names) if c.lower() in POSITIVE_CLASS_NAMES]
    if len(class_names) < 2 or len(matches) != 1:
        raise ModelError(
            f"{metadata_path}: class_names {list(class_names)} must hold exactly one positive "
            f"class named one of {POSITIVE_CLASS_NAMES}."
        )
    return matches[0]


def _check_shapes(
    folder: Path,
    booster: xgb.Booster,
    objective: str,
    class_names: tuple[str, ...],
    columns: tuple[InputColumn, ...],
) -> None:
    width = sum(c.width for c in columns)
    if booster.num_features() != width:
        raise ModelError(
            f"{folder / METADATA_FILE}: the metadata describes {width} input columns but "
            f"{folder / BOOSTER_FILE} expects {booster.num_features()}."
        )
    config = json.loads(booster.save_config())["learner"]["learner_model_param"]
    n_class = int(config.get("num_class", "0"))
    if objective == "multi:softprob" and n_class != len(class_names):
        raise ModelError(
            f"{folder / METADATA_FILE}: {len(class_names)} class_names but the booster has "
            f"{n_class} classes."
        )
    if objective == "binary:logistic" and len(class_names) != 2:
        raise ModelError(f"{folder / METADATA_FILE}: a binary:logistic model needs two classes.")


# ----------------------------------------------------------------------------- the reference sample


def read_reference(folder: Path | str) -> dict[str, np.ndarray]:
    """The reference sample's columns as float arrays (NaN = missing)."""
    path = Path(folder) / REFERENCE_FILE
    if not path.exists():
        raise ModelError(f"{path}: reference sample is missing. Run `ecom train` again.")
    with path.open(newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    return {
        name: np.array([float(r[i]) if r[i] != "" else math.nan for r in body])
        for i, name in enumerate(header)
    }
