"""A/B Test Dashboard: sidebar filters, KPI tiles per group, verdict, funnel, lift, segments."""

from __future__ import annotations

import polars as pl
import streamlit as st

from pipeline.errors import EcomError
from pipeline.experiment import CONTROL, TREATMENT
from pipeline.settings import Settings
from streamlit_app import charts, resources
from streamlit_app.data.filters import (
    PRICE_BANDS,
    USER_TYPE_LABELS,
    USER_TYPES,
    Filters,
)
from streamlit_app.data.metrics import Bounds, Dashboard
from streamlit_app.tabs import experiment_picker

BAND_LABELS = {b.key: b.label for b in PRICE_BANDS}

DEFINITIONS = {
    "users": "Users in the experiment (a session in its period) who match the filters.",
    "exposed": "Of those, users with at least one cart event (counted before the injection): "
    "the primary analysis's population, since the redesign acts at checkout.",
    "conversion": "The primary metric: share of the users who reached the cart who bought.",
    "revenue_per_user": "Purchase revenue divided by all users (buyers or not).",
    "revenue_per_purchase": "Purchase revenue divided by orders (sessions with a purchase); the "
    "interval treats users as units (delta method).",
}
OUTCOME_STYLE = {
    "ship": st.success,
    "do_not_ship": st.error,
    "keep_running": st.warning,
    "investigate": st.error,
}
OUTCOME_ICON = {
    "ship": ":material/rocket_launch:",
    "do_not_ship": ":material/block:",
    "keep_running": ":material/hourglass_top:",
    "investigate": ":material/troubleshoot:",
}


def _csv_button(frame: pl.DataFrame, name: str, key: str) -> None:
    st.download_button(
        "Download CSV",
        frame.write_csv().encode(),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=key,
        help="The data behind this view, with the current filters.",
        icon=":material/download:",
    )


def _reset_filters(bounds: Bounds) -> None:
    """Set every filter widget back to its default (popping the keys would leave the browser
    showing the old choices while the page computes the default)."""
    st.session_state["f_dates"] = (bounds.first_day, bounds.last_day)
    st.session_state["f_months"] = []
    st.session_state["f_user_type"] = "all"
    st.session_state["f_bands"] = []


def sidebar_filters(bounds: Bounds) -> Filters:
    """The global filters, in the sidebar; they persist while another tab is open."""
    with st.sidebar:
        st.header("Dashboard filters")
        dates = st.date_input(
            "Entered the experiment (UTC days)",
            value=(bounds.first_day, bounds.last_day),
            min_value=bounds.first_day,
            max_value=bounds.last_day,
            key="f_dates",
            persist_state="session",
        )
        months = st.multiselect(
            "Entry month",
            list(bounds.months),
            key="f_months",
            placeholder="All months",
            persist_state="session",
        )
        user_type = st.radio(
            "Users",
            list(USER_TYPES),
            format_func=lambda t: USER_TYPE_LABELS[t],
            key="f_user_type",
            persist_state="session",
            help="Returning: seen before the experiment started (needs a pre-period, "
            "ECOM_EXPERIMENT_START); new: first seen in it."
            + ("" if bounds.returning_users else " This data has no pre-period: nobody returns."),
        )
        bands = st.multiselect(
            "Price band of the first cart",
            [b.key for b in PRICE_BANDS],
            format_func=BAND_LABELS.get,
            key="f_bands",
            placeholder="All sessions",
            persist_state="session",
            help="Mean price of the items a user's first cart session carted (known when "
            "they first reach the cart). 'No cart': users who never carted.",
        )
        left, right = st.columns(2)
        left.button("Reset filters", on_click=_reset_filters, args=(bounds,), width="stretch")
        if right.button(
            "Refresh data",
            width="stretch",
            help="Query the warehouse again (results are cached for 10 minutes).",
        ):
            resources.refresh_data()
    picked = [d for d in (dates if isinstance(dates, tuple | list) else (dates,)) if d]
    # Between the picker's two clicks the range has one day: treat it as that day.
    start, end = (picked[0], picked[-1]) if picked else (None, None)
    # The full range is no filter: the same cache entry as the default page.
    if start == bounds.first_day:
        start = None
    if end == bounds.last_day:
        end = None
    return Filters(start, end, tuple(months), user_type, tuple(bands))


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def _money(x: float | None) -> str:
    return "–" if x is None else f"${x:,.2f}"


def _delta(effect, scale: float = 100, unit: str = "%") -> str | None:
    return None if effect is None else f"{effect.estimate * scale:+.1f}{unit} vs Control"


def _ci(effect, scale: float = 100, unit: str = "%") -> str:
    if effect is None:
        return ""
    return (
        f" Treatment vs Control: {effect.estimate * scale:+.2f}{unit} "
        f"(95% CI {effect.ci.lower * scale:+.2f} to {effect.ci.upper * scale:+.2f}{unit}, "
        f"p = {effect.p_value:.3g})."
    )


def kpi_tiles(page: Dashboard) -> None:
    r = page.readout
    control = page.kpis[CONTROL]
    for group in (CONTROL, TREATMENT):
        k = page.kpis[group]
        is_t = group == TREATMENT
        gets = r.experiment.treatment_gets if is_t else r.experiment.control_gets
        st.markdown(f"**{group.capitalize()}** — {gets}")
        cols = st.columns(5)
        cols[0].metric(
            "Users",
            f"{k.users:,}",
            delta=f"{(k.users / control.users - 1) * 100:+.1f}% vs Control"
            if is_t and control.users
            else None,
            delta_color="off",
            help=DEFINITIONS["users"]
            + (f" Sample ratio check: p = {r.all_users.srm.p_value:.3g}." if is_t else ""),
        )
        cols[1].metric(
            "Reached the cart",
            f"{k.exposed:,}",
            delta=f"{(k.exposed / control.exposed - 1) * 100:+.1f}% vs Control"
            if is_t and control.exposed
            else None,
            delta_color="off",
            help=DEFINITIONS["exposed"]
            + (f" Sample ratio check: p = {r.primary.srm.p_value:.3g}." if is_t else ""),
        )
        cols[2].metric(
            "Conversion",
            _pct(k.conversion),
            delta=_delta(r.primary.conversion.absolute, 100, " pp") if is_t else None,
            help=DEFINITIONS["conversion"]
            + (_ci(r.primary.conversion.absolute, 100, " pp") if is_t else ""),
        )
        cols[3].metric(
            "Revenue per user",
            _money(k.revenue_per_user),
            delta=_delta(r.revenue.relative) if is_t else None,
            help=DEFINITIONS["revenue_per_user"] + (_ci(r.revenue.relative) if is_t else ""),
        )
        cols[4].metric(
            "Revenue per purchase",
            _money(k.revenue_per_purchase),
            delta=_delta(r.revenue_per_order.relative) if is_t else None,
            help=DEFINITIONS["revenue_per_purchase"]
            + (_ci(r.revenue_per_order.relative) if is_t else ""),
        )


def verdict(page: Dashboard) -> None:
    decision = page.readout.decision
    OUTCOME_STYLE[decision.outcome](
        f"**{decision.words}.** {decision.headline}", icon=OUTCOME_ICON[decision.outcome]
    )
    with st.expander("Why: the decision rule and its inputs"):
        for reason in decision.reasons:
            st.markdown(f"- {reason}")
        st.caption(decision.rule)
    for warning in page.readout.warnings:
        st.caption(f":warning: {warning}")


def segment_table(frame: pl.DataFrame) -> None:
    shown = frame.with_columns(
        (pl.col(c) * 100)
        for c in (
            "control_conversion",
            "treatment_conversion",
            "lift",
            "lift_lower",
            "lift_upper",
            "relative_lift",
        )
    )
    st.dataframe(
        shown.drop("segment").to_pandas(),
        hide_index=True,
        width="stretch",
        column_config={
            "dimension": "Dimension",
            "label": "Segment",
            "control_users": st.column_config.NumberColumn("Control users", format="%d"),
            "control_conversion": st.column_config.NumberColumn("Control conv. %", format="%.2f"),
            "treatment_users": st.column_config.NumberColumn("Treatment users", format="%d"),
            "treatment_conversion": st.column_config.NumberColumn(
                "Treatment conv. %", format="%.2f"
            ),
            "lift": st.column_config.NumberColumn("Lift, pp", format="%+.2f"),
            "lift_lower": st.column_config.NumberColumn("CI low", format="%+.2f"),
            "lift_upper": st.column_config.NumberColumn("CI high", format="%+.2f"),
            "relative_lift": st.column_config.NumberColumn("Lift, %", format="%+.1f"),
            "p_value": st.column_config.NumberColumn("p", format="%.2g"),
            "adjusted_p": st.column_config.NumberColumn(
                "p (Holm)", format="%.2g", help="Adjusted across every segment shown."
            ),
            "significant": st.column_config.CheckboxColumn("Significant (adjusted)"),
            "note": "Note",
        },
    )


def render(settings: Settings) -> None:
    key = resources.settings_key(settings)
    experiment = experiment_picker.select_experiment(key)
    if experiment is None:
        return
    st.subheader(f"A/B Test Dashboard: {experiment_picker.title(key, experiment)}")
    try:
        bounds = resources.bounds(key, experiment)
    except EcomError as err:
        st.warning(f"The warehouse is not ready: {err}", icon=":material/database_off:")
        return
    if bounds.is_empty:
        st.info(
            "The warehouse has no experiment users yet: run `ecom ingest` and `ecom warehouse` "
            "(or `make demo`), then press Refresh data.",
            icon=":material/inbox:",
        )
        with st.sidebar:
            if st.button("Refresh data"):
                resources.refresh_data()
        return
    filters = sidebar_filters(bounds)
    try:
        with st.spinner("Querying the warehouse…"):
            page = resources.dashboard(key, experiment, filters)
    except EcomError as err:
        st.error(f"The dashboard's queries failed: {err}", icon=":material/error:")
        return
    st.caption(
        f"Filtered to: {filters.describe()} · {settings.warehouse} warehouse · the readout of "
        "`ecom abtest` on these users (pipeline.stats)"
    )
    if page.is_empty:
        st.info(
            "No users match these filters: widen them or press Reset filters.",
            icon=":material/filter_alt_off:",
        )
        return
    verdict(page)
    kpi_tiles(page)
    _csv_button(page.kpi_frame(), "kpis", "dl_kpis")
    experiment_picker.balance_table(page)

    st.divider()
    left, right = st.columns(2)
    with left:
        unit = st.radio(
            "Funnel counts",
            ["users", "sessions"],
            horizontal=True,
            key="funnel_unit",
            format_func=str.capitalize,
        )
        st.vega_lite_chart(*charts.funnel(page.funnel, unit), width="stretch")
        _csv_button(page.funnel, "funnel", "dl_funnel")
    with right:
        sequential = page.readout.sequential
        st.vega_lite_chart(
            *charts.cumulative_lift(page.cumulative, sequential.alpha), width="stretch"
        )
        st.caption(
            "Users who reached the cart by each week's end. Peeking at the fixed-horizon "
            "interval every week inflates false positives; the always-valid band (a "
            f"normal-mixture confidence sequence, N* = {sequential.tuning:,.0f}) stays valid "
            "however often you look."
        )
        _csv_button(page.cumulative, "cumulative_lift", "dl_cumulative")

    daily, daily_specs = charts.daily_effect(page.daily)
    for spec in daily_specs:
        st.vega_lite_chart(daily, spec, width="stretch")
    _csv_button(page.daily, "daily_effect", "dl_daily")

    st.markdown(
        "**Segments** — the primary metric by entry month, new vs returning users and price "
        "band of the first cart"
    )
    segment_table(page.segments)
    _csv_button(page.segments, "segments", "dl_segments")
