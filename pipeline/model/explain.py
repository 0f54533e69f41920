"""`ecom explain`: SHAP explanations of the abandonment model, saved as PNGs.

The TreeExplainer is rebuilt from the booster every time a model is loaded (never pickled).
Its values are in margin (log-odds) space and equal Booster.predict(pred_contribs=True).
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display in batch jobs or the API container

import matplotlib.pyplot as plt
import numpy as np
import shap

from pipeline.serving.artifact import LoadedModel, load_model, read_reference

# pyplot keeps global state and is not thread-safe: one figure at a time per process.
_PLOT_LOCK = threading.Lock()


@dataclass
class Explanation:
    values: np.ndarray  # (rows, columns), margin space, for the positive class
    base_value: float
    data: np.ndarray
    feature_names: tuple[str, ...]

    def as_shap(self, row: int | None = None) -> shap.Explanation:
        if row is None:
            return shap.Explanation(
                self.values,
                np.full(len(self.values), self.base_value),
                self.data,
                feature_names=list(self.feature_names),
            )
        return shap.Explanation(
            self.values[row],
            self.base_value,
            self.data[row],
            feature_names=list(self.feature_names),
        )


def column_names(model: LoadedModel) -> tuple[str, ...]:
    names: list[str] = []
    for col in model.columns:
        names.extend(
            [f"{col.name}={w}" for w in col.vocabulary] if col.encode_type == "mhe" else [col.name]
        )
    return tuple(names)


def explainer_for(model: LoadedModel) -> shap.TreeExplainer:
    return shap.TreeExplainer(model.booster)


def explain_matrix(
    model: LoadedModel, matrix: np.ndarray, explainer: shap.TreeExplainer | None = None
) -> Explanation:
    """SHAP values of the positive class for an encoded matrix (missing values imputed first)."""
    explainer = explainer or explainer_for(model)
    data = model.impute(matrix)
    values = np.asarray(explainer.shap_values(data))
    base = np.asarray(explainer.expected_value, dtype=np.float64).reshape(-1)
    if values.ndim == 3:  # multi:softprob: (rows, columns, classes)
        values = values[:, :, model.positive_index]
        base_value = float(base[model.positive_index])
    else:
        base_value = float(base[0])
    return Explanation(values, base_value, data, column_names(model))


def _save(fig_fn, path: Path) -> Path:
    with _PLOT_LOCK:
        fig_fn()
        plt.gcf().set_size_inches(8, 5)
        plt.tight_layout()
        plt.savefig(path, dpi=110)
        plt.close("all")
    return path


def waterfall_png(explanation: Explanation, row: int, max_display: int = 10) -> bytes:
    """One session's waterfall as PNG bytes (what the API returns base-64 encoded)."""
    buffer = io.BytesIO()
    with _PLOT_LOCK:
        shap.plots.waterfall(explanation.as_shap(row), max_display=max_display, show=False)
        plt.gcf().set_size_inches(8, 5)
        plt.tight_layout()
        plt.savefig(buffer, format="png", dpi=110)
        plt.close("all")
    return buffer.getvalue()


def explain_model(model_dir: Path, out_dir: Path) -> dict[str, Path]:
    """Global beeswarm and mean-|SHAP| bar over the reference sample, plus the waterfall of its
    highest-risk session. Returns the PNG paths by name."""
    model = load_model(model_dir)
    reference = read_reference(model_dir)
    matrix = np.column_stack([reference[name] for name in model.feature_names])
    explanation = explain_matrix(model, matrix)
    out_dir.mkdir(parents=True, exist_ok=True)
    everything = explanation.as_shap()
    top = int(np.argmax(model.predict_matrix(matrix)))
    return {
        "beeswarm": _save(
            lambda: shap.plots.beeswarm(everything, show=False), out_dir / "shap_beeswarm.png"
        ),
        "bar": _save(lambda: shap.plots.bar(everything, show=False), out_dir / "shap_bar.png"),
        "waterfall": _save(
            lambda: shap.plots.waterfall(explanation.as_shap(top), show=False),
            out_dir / "shap_waterfall_highest_risk.png",
        ),
    }
