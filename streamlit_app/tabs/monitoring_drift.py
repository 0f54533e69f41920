"""Monitoring, part two: drift. The latest real check in words (each drifted feature: what
moved and what to do), the trend over months from every kept run, the runs themselves, the
newest `--shift` demonstration apart, and Evidently's report at the page's full width (UI only;
data: streamlit_app.data.monitoring and drift_history)."""

from __future__ import annotations

import pandas as pd
import streamlit as st
import streamlit.components.v1 as components

from pipeline.errors import EcomError
from streamlit_app import monitoring_charts as charts
from streamlit_app.data import formats as fmt
from streamlit_app.data.drift_history import FEATURE_NAMES, explain, read_runs, runs_frame, trend
from streamlit_app.data.monitoring import DriftSummary, read_drift, read_shift

MAX_INLINE_HTML = 30 * 1024 * 1024
REPORT_HEIGHT = 1100
# Wider than any screen: the dialog then takes the viewport's whole width (Evidently's report
# needs more than the page's main column beside the sidebar).
FULL_WIDTH = 10_000


@st.dialog("Evidently's drift report", width=FULL_WIDTH)
def _full_report(html: str) -> None:
    components.html(html, height=REPORT_HEIGHT, scrolling=True)


def _columns_table(drift: DriftSummary) -> pd.DataFrame:
    rows = []
    for s in drift.slices:
        for c in s.columns:
            rows.append(
                {
                    "Month": fmt.month_label(s.month or s.label),
                    "Feature": FEATURE_NAMES.get(c.column, c.column),
                    "Test": c.method.replace("_", " "),
                    "Threshold": fmt.DASH if c.threshold is None else f"{c.threshold:g}",
                    "Score": fmt.DASH if c.score is None else f"{c.score:.3g}",
                    "Drifted": "yes" if c.drifted else "no",
                }
            )
    return pd.DataFrame(rows)


def _latest(drift: DriftSummary, model_id: str | None) -> None:
    drifted = drift.drifted_anywhere
    when = (drift.generated_at or "?").replace("T", " ").removesuffix("+00:00")
    months = ", ".join(fmt.month_label(s.month or s.label) for s in drift.slices)
    summary = (
        f"Checked {when} UTC for model {drift.model_id or '?'}: {months} against "
        f"{fmt.count(drift.reference_rows)} sessions the model trained on."
    )
    if drifted:
        names = ", ".join(FEATURE_NAMES.get(c, c) for c in drifted)
        st.warning(f"Drift in {names}. {summary}", icon=":material/trending_up:")
    else:
        st.success(f"No feature drifted. {summary}", icon=":material/check_circle:")
    if model_id and drift.model_id and drift.model_id != model_id:
        st.caption(
            f":warning: This check was made for {drift.model_id}; the model in use is "
            f"{model_id}. Check drift again (`ecom drift`)."
        )
    for s in drift.slices:
        for c in s.columns:
            if c.drifted:
                st.markdown(
                    f"- **{FEATURE_NAMES.get(c.column, c.column)}** — {explain(c, s.month or s.label)}"
                )
    with st.expander("Every feature's test in this check"):
        st.dataframe(_columns_table(drift), hide_index=True, width="stretch")
        st.caption(
            "Per feature, the test or distance Evidently chose for this size: p-values drift "
            "below the threshold, distances at or above it."
        )


def _history(settings) -> None:
    runs, problems = read_runs(settings.drift_dir)
    months = trend(runs)
    if months.height:
        st.vega_lite_chart(*charts.drift_trend(months), width="stretch")
        st.caption(
            "Every run of the drift check is kept; each month shows its newest check. Compare "
            "months the model trained on (its own data, expected stable) with later ones."
        )
    with st.expander(f"Every drift run ({len(runs)})"):
        frame = runs_frame(runs).to_pandas()
        frame.columns = ["Run", "Checked at", "Model", "Kind", "Months", "Drifted"]
        st.dataframe(frame, hide_index=True, width="stretch")
        for problem in problems:
            st.caption(f":warning: unreadable run {problem}")


def _shift(settings) -> None:
    try:
        shift = read_shift(settings.drift_dir)
    except EcomError as err:
        st.caption(f":warning: {err}")
        return
    if shift is None:
        return
    with st.expander("What drift looks like: the latest demonstration (`ecom drift --shift`)"):
        st.markdown(
            "A copy of a month with views and session length made 50% larger on purpose, to "
            "show what the check flags. It never replaces the real check above. Flagged: "
            + (", ".join(FEATURE_NAMES.get(c, c) for c in shift.drifted_anywhere) or "nothing")
            + "."
        )


def _report(drift: DriftSummary) -> None:
    reports = {
        fmt.month_label(s.month or s.label): s.html_path
        for s in drift.slices
        if s.html_path is not None
    }
    if not reports and drift.html_path is not None:
        reports = {"latest": drift.html_path}
    if not reports:
        st.caption("The full Evidently report is not there (its HTML file is missing).")
        return
    left, right = st.columns([2, 1], vertical_alignment="bottom")
    label = left.selectbox(
        "Evidently report", list(reports), index=len(reports) - 1, key="drift_slice"
    )
    path = reports[label]
    html = path.read_bytes()
    right.download_button(
        "Download the Evidently report (HTML)",
        html,
        file_name=path.name,
        mime="text/html",
        key="dl_drift_html",
    )
    if len(html) > MAX_INLINE_HTML:
        st.caption("The report is too large to show here: download it.")
    elif st.button(
        "Open the full Evidently report", key="show_drift_html", icon=":material/open_in_full:"
    ):
        _full_report(html.decode("utf-8", errors="replace"))


def drift_section(settings, model_id: str | None) -> None:
    st.markdown("#### Drift: do recent sessions look like the ones the model learned from?")
    try:
        drift = read_drift(settings.drift_dir)
    except EcomError as err:
        st.error(str(err), icon=":material/error:")
        return
    if drift is None:
        st.info(
            "No drift check yet: whoever runs the pipeline can run `ecom drift` to compare "
            "recent sessions with the model's training data.",
            icon=":material/query_stats:",
        )
    else:
        _latest(drift, model_id)
    _history(settings)
    _shift(settings)
    if drift is not None:
        _report(drift)
