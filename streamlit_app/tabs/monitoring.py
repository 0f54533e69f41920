"""Monitoring: the model in use, how it actually did (realized outcomes), drift over months
(Evidently) and data freshness (UI only)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from pipeline.errors import EcomError
from pipeline.settings import Settings
from pipeline.warehouse.build import dbt_paths
from streamlit_app import resources
from streamlit_app.data import formats as fmt
from streamlit_app.data.freshness import last_dbt_run, read_freshness
from streamlit_app.data.monitoring import ModelSummary, current_model, versions_frame
from streamlit_app.tabs.monitoring_drift import drift_section
from streamlit_app.tabs.monitoring_outcomes import outcomes_section

SPLITS = {"random_split": "Random split", "time_split": "Later months (time split)"}
SCORERS = {
    "model": "This model",
    "majority_class": "Always 'abandoned'",
    "logistic_regression": "Logistic regression",
}
METRIC_HEADERS = {
    "split": "Evaluation",
    "scorer": "Scorer",
    "rows": "Sessions",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "accuracy": "Accuracy",
    "log_loss": "Log loss",
    "brier": "Brier score",
    "roc_auc_ci": "ROC-AUC 95% CI",
}


def _metrics_table(model: ModelSummary) -> pl.DataFrame:
    frame = model.metrics.with_columns(
        pl.col("split").replace(SPLITS),
        pl.col("scorer").replace(SCORERS),
        *(pl.col(m).round(3) for m in ("roc_auc", "pr_auc", "accuracy", "log_loss", "brier")),
    )
    return frame.rename({k: v for k, v in METRIC_HEADERS.items() if k in frame.columns})


def model_section(settings: Settings) -> ModelSummary | None:
    st.markdown("#### Model in use")
    try:
        model = current_model(settings.models_dir, settings.model_id)
    except EcomError as err:
        st.warning(str(err), icon=":material/model_training:")
        return None
    months = model.data_window.get("months") or []
    trained = (model.trained_at or "?").replace("T", " ").removesuffix("+00:00")[:16]
    window = f"{fmt.month_label(months[0])} to {fmt.month_label(months[-1])}" if months else "?"
    st.markdown(
        f"**{model.model_id}**, trained {trained} UTC on {fmt.count(model.rows.get('total', 0))} "
        f"cart sessions from {window}. Risk bands: medium from "
        f"{model.risk_thresholds['medium']:.0%}, high from {model.risk_thresholds['high']:.0%} "
        "predicted abandonment."
    )
    ready, status = resources.api_status(settings.api_url, settings.api_key)
    if ready and status and status != model.model_id:
        st.warning(
            f"The scoring API serves {status}, not {model.model_id}: whoever runs it should "
            "restart it to load the current model.",
            icon=":material/sync_problem:",
        )
    elif ready:
        st.caption("The scoring API serves this model.")
    else:
        st.caption(status)
    with st.expander("How it was evaluated at training, and every version"):
        if model.metrics.height:
            st.dataframe(_metrics_table(model).to_pandas(), hide_index=True, width="stretch")
        st.dataframe(versions_frame(model.versions).to_pandas(), hide_index=True, width="stretch")
        st.caption(f"Engine: {model.engine or '?'}; folder: {model.path}")
    return model


def freshness_section(settings: Settings) -> None:
    st.markdown("#### Data freshness")
    fresh = read_freshness(settings.manifest_dir)
    built = last_dbt_run(dbt_paths(settings)[0])
    st.markdown(fresh.stamp() + (f" · gold last built {built:%Y-%m-%d %H:%M} UTC" if built else ""))
    for problem in fresh.unreadable:
        st.caption(f":warning: unreadable manifest {problem}")
    if not fresh.is_empty:
        frame = fresh.frame()
        counts = ("rows_read", "rows_written", "rows_quarantined", "rows_injected")
        shown = frame.with_columns(
            pl.col(c).map_elements(fmt.count, return_dtype=pl.String) for c in counts
        ).rename(
            {
                "month": "Month",
                "source_file": "File",
                "rows_read": "Rows read",
                "rows_written": "Rows kept",
                "rows_quarantined": "Rows set aside",
                "rows_injected": "Purchases injected",
                "ingested_at": "Loaded at (UTC)",
            }
        )
        st.dataframe(shown.to_pandas(), hide_index=True, width="stretch")


def render(settings: Settings) -> None:
    st.subheader("Monitoring: how the model does, drift and data freshness")
    model = model_section(settings)
    if model is not None:
        st.divider()
        outcomes_section(settings, model)
    st.divider()
    drift_section(settings, None if model is None else model.model_id)
    st.divider()
    freshness_section(settings)
