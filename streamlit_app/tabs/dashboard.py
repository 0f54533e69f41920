"""A/B Test Dashboard: filters (in the sidebar and the URL), the decision and its evidence,
KPI tiles per group, funnel, lift over time, segments (UI only; numbers: streamlit_app.data)."""

from __future__ import annotations

import streamlit as st

from pipeline.errors import EcomError
from pipeline.settings import Settings
from streamlit_app import resources
from streamlit_app.tabs import dashboard_sections as sections
from streamlit_app.tabs import experiment_picker
from streamlit_app.tabs.dashboard_filters import drill_down, sidebar_filters


def render(settings: Settings) -> None:
    key = resources.settings_key(settings)
    st.html(sections.RESPONSIVE_CSS)
    experiment = experiment_picker.select_experiment(key)
    if experiment is None:
        return
    st.subheader(f"A/B Test Dashboard: {experiment_picker.title(key, experiment)}")
    try:
        bounds = resources.bounds(key, experiment)
    except EcomError as err:
        st.warning(
            f"The experiment's data cannot be read yet: {err}", icon=":material/database_off:"
        )
        return
    if bounds.is_empty:
        st.info(
            "There are no experiment users yet. Whoever runs the data pipeline: load the data "
            "(`make demo`, or `ecom ingest` then `ecom warehouse`), then press Refresh data.",
            icon=":material/inbox:",
        )
        with st.sidebar:
            if st.button("Refresh data"):
                resources.refresh_data()
        return
    # The experiment (chosen above) decides what the page reads; the filters apply within it.
    filters = sidebar_filters(bounds)
    try:
        with st.spinner("Querying the warehouse…"):
            page = resources.dashboard(key, experiment, filters)
    except EcomError as err:
        st.error(
            f"The dashboard could not read the experiment's data: {err}", icon=":material/error:"
        )
        return
    through = bounds.last_day
    st.caption(f"Showing: {filters.describe()} · data through {through} (UTC)")
    if page.is_empty:
        st.info(
            "No users match these filters: widen them or press Reset filters.",
            icon=":material/filter_alt_off:",
        )
        return
    if page.has_primary:
        sections.verdict(page)
    else:
        sections.no_primary_metric(page)
    sections.kpi_tiles(page)
    sections.compact_kpis(page)
    sections.revenue_note(page)
    sections.download(page.kpi_frame(), "kpis", "KPIs by group", filters, through)
    experiment_picker.balance_table(page)
    if page.has_primary:
        sections.evidence_section(page)

    st.divider()
    sections.charts_section(page, filters, through)
    if page.has_primary:
        sections.segment_section(
            page,
            filters,
            through,
            lambda dimension, segment: drill_down(bounds, filters, dimension, segment),
        )
