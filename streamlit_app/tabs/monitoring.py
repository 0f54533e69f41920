"""Monitoring: the model in use, the latest drift check (Evidently) and data freshness."""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from pipeline.errors import EcomError
from pipeline.settings import Settings
from pipeline.warehouse.build import dbt_paths
from streamlit_app import resources
from streamlit_app.data.freshness import last_dbt_run, read_freshness
from streamlit_app.data.monitoring import current_model, read_drift, versions_frame

MAX_INLINE_HTML = 30 * 1024 * 1024


def model_section(settings: Settings) -> str | None:
    st.markdown("#### Model in use")
    try:
        model = current_model(settings.models_dir, settings.model_id)
    except EcomError as err:
        st.warning(str(err), icon=":material/model_training:")
        return None
    st.markdown(f"Model id `{model.model_id}`")
    cols = st.columns(3)
    cols[0].metric(
        "Trained (UTC)", (model.trained_at or "?").replace("T", " ").removesuffix("+00:00")[:16]
    )
    cols[1].metric("Engine", model.engine or "?")
    cols[2].metric("Training rows", f"{model.rows.get('total', 0):,}")
    months = model.data_window.get("months") or []
    st.caption(
        f"Folder {model.path} · data window {', '.join(months) or '?'} · risk bands: medium "
        f"from {model.risk_thresholds['medium']:.0%}, high from {model.risk_thresholds['high']:.0%}"
    )
    ready, status = resources.api_status(settings.api_url, settings.api_key)
    if ready and status and status != model.model_id:
        st.warning(
            f"The API at {settings.api_url} serves {status}, not {model.model_id}: "
            "restart it to load the current model.",
            icon=":material/sync_problem:",
        )
    elif ready:
        st.caption(f"The API at {settings.api_url} serves this model.")
    else:
        st.caption(f"API status: {status}")
    if model.metrics.height:
        st.dataframe(
            model.metrics.to_pandas(),
            hide_index=True,
            width="stretch",
            column_config={
                m: st.column_config.NumberColumn(format="%.3f")
                for m in ("roc_auc", "pr_auc", "accuracy", "log_loss", "brier")
            },
        )
    with st.expander(f"All versions ({len(model.versions)})"):
        st.dataframe(versions_frame(model.versions).to_pandas(), hide_index=True, width="stretch")
    return model.model_id


def drift_section(settings: Settings, model_id: str | None) -> None:
    st.markdown("#### Drift")
    try:
        drift = read_drift(settings.drift_dir)
    except EcomError as err:
        st.error(str(err), icon=":material/error:")
        return
    if drift is None:
        st.info(
            "No drift check yet: run `ecom drift` to compare recent sessions with the "
            "model's reference sample.",
            icon=":material/query_stats:",
        )
        return
    drifted = drift.drifted_anywhere
    summary = (
        f"Checked {drift.generated_at or '?'} for model {drift.model_id or '?'} "
        f"against {drift.reference_rows or '?'} reference rows."
    )
    if drifted:
        st.warning(f"Drift in {', '.join(drifted)}. {summary}", icon=":material/trending_up:")
    else:
        st.success(f"No feature drifted. {summary}", icon=":material/check_circle:")
    if model_id and drift.model_id and drift.model_id != model_id:
        st.caption(
            f":warning: This check was made for {drift.model_id}; the model in use is "
            f"{model_id}. Re-run `ecom drift`."
        )
    st.dataframe(drift.slices_frame().to_pandas(), hide_index=True, width="stretch")
    st.dataframe(
        drift.columns_frame().to_pandas(),
        hide_index=True,
        width="stretch",
        column_config={
            "score": st.column_config.NumberColumn(format="%.4g"),
            "threshold": st.column_config.NumberColumn(format="%.3g"),
            "drifted": st.column_config.CheckboxColumn("drifted"),
        },
    )
    st.caption(
        "Per column: the test or distance Evidently chose for this size (p-values "
        "drift below the threshold; distances at or above it)."
    )
    reports = {s.label: s.html_path for s in drift.slices if s.html_path is not None}
    if not reports and drift.html_path is not None:
        reports = {"latest": drift.html_path}
    if not reports:
        st.caption("The full Evidently report is not there (its HTML file is missing).")
        return
    label = st.selectbox(
        "Evidently report", list(reports), index=len(reports) - 1, key="drift_slice"
    )
    path = reports[label]
    html = path.read_bytes()
    st.download_button(
        "Download the Evidently report (HTML)",
        html,
        file_name=path.name,
        mime="text/html",
        key="dl_drift_html",
    )
    if st.toggle("Show the full Evidently report", key="show_drift_html"):
        if len(html) > MAX_INLINE_HTML:
            st.caption("The report is too large to show inline: download it.")
        else:
            components.html(html.decode("utf-8", errors="replace"), height=900, scrolling=True)


def freshness_section(settings: Settings) -> None:
    st.markdown("#### Data freshness")
    fresh = read_freshness(settings.manifest_dir)
    built = last_dbt_run(dbt_paths(settings)[0])
    st.markdown(fresh.stamp() + (f" · gold last built {built:%Y-%m-%d %H:%M} UTC" if built else ""))
    for problem in fresh.unreadable:
        st.caption(f":warning: unreadable manifest {problem}")
    if not fresh.is_empty:
        st.dataframe(fresh.frame().to_pandas(), hide_index=True, width="stretch")


def render(settings: Settings) -> None:
    st.subheader("Monitoring: model, drift and data freshness")
    model_id = model_section(settings)
    st.divider()
    drift_section(settings, model_id)
    st.divider()
    freshness_section(settings)
