"""The dashboard's sections, top to bottom: the decision, the evidence under it, the KPI tiles
(and their compact table on narrow screens), the charts and the segment table (UI only)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import polars as pl
import streamlit as st

from pipeline.experiment import CONTROL, GROUPS, TREATMENT
from streamlit_app import charts
from streamlit_app.data import evidence
from streamlit_app.data import formats as fmt
from streamlit_app.data.downloads import csv_bytes, file_name
from streamlit_app.data.filters import Filters
from streamlit_app.data.metrics import Dashboard
from streamlit_app.data.queries import FOLLOW_UP_DAYS
from streamlit_app.data.segments import family

DEFINITIONS = {
    "users": "Users in the experiment (a session in its period) who match the filters.",
    "exposed": "Of those, users with at least one cart event (counted before the injection): "
    "the primary analysis's population, since the redesign acts at checkout.",
    "conversion": "The primary metric: share of the users who reached the cart who bought.",
    "revenue_per_user": "Purchase revenue divided by all users (buyers or not).",
    "revenue_per_purchase": "Purchase revenue divided by orders (sessions with a purchase); the "
    "interval treats users as units (delta method).",
}
OUTCOME_STYLE = {"ship": st.success, "do_not_ship": st.error, "keep_running": st.warning}
OUTCOME_ICON = {
    "ship": ":material/rocket_launch:",
    "do_not_ship": ":material/block:",
    "keep_running": ":material/hourglass_top:",
}
# Narrow screens (phones) get the KPIs as one compact comparison table instead of two rows of
# tiles that stack five apart; wide screens get the tiles. Streamlit stacks columns below 640 px.
# The collapsed sidebar's toggle (an icon alone) says what it opens.
RESPONSIVE_CSS = """
<style>
[data-testid="stExpandSidebarButton"]::after { content: "Filters"; margin-left: 0.3rem; }
.st-key-kpi_compact { display: none; }
@media (max-width: 640px) {
  .st-key-kpi_compact { display: block; }
  .st-key-kpi_tiles { display: none; }
}
</style>
"""


def download(frame: pl.DataFrame, view: str, title: str, filters: Filters, through: date | None):
    st.download_button(
        "Download CSV",
        csv_bytes(frame, title, filters, through),
        file_name=file_name(view, filters, through),
        mime="text/csv",
        key=f"dl_{view}",
        help="The data behind this view; its first line says the filters and the data's end.",
        icon=":material/download:",
    )


# ---------------------------------------------------------------------------- decision


def no_primary_metric(page: Dashboard) -> None:
    st.info(
        "None of the users in this selection reached the cart, so the primary metric "
        "(conversion of users who reached the cart) is undefined here and the page makes no "
        "decision. Users without a cart never reached the checkout; choose other price "
        "bands to compare conversion.",
        icon=":material/remove_shopping_cart:",
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


def _table(rows: list[evidence.Row], first: str) -> pd.DataFrame:
    return pd.DataFrame([{first: r.label, **r.cells} for r in rows]).set_index(first)


def evidence_section(page: Dashboard) -> None:
    """Guardrails, sample ratio, chance to beat Control, power: on the page, not in "Why"."""
    r = page.readout
    with st.container(key="evidence"):
        st.markdown("**Guardrails** — metrics the redesign must not hurt")
        st.table(_table(evidence.guardrail_rows(r), "Guardrail"))
        left, middle, right = st.columns([5, 3, 4])
        with left:
            st.markdown("**Sample ratio check** — is the split the designed 50/50?")
            st.table(_table(evidence.srm_rows(r), "Population"))
        with middle:
            st.markdown(
                "**Chance to beat Control**",
                help="The posterior probability that Treatment is better (normal "
                "approximation, flat prior).",
            )
            chances = evidence.chance_to_beat(r)
            frame = pd.DataFrame({"Outcome": list(chances), "Chance": list(chances.values())})
            st.table(frame.set_index("Outcome"))
        with right:
            st.markdown("**Power and smallest detectable effect**")
            for line in evidence.power_lines(r):
                st.markdown(line)


# ---------------------------------------------------------------------------- KPIs


def _delta(effect, scale: float = 100, unit: str = "%") -> str | None:
    return None if effect is None else f"{effect.estimate * scale:+.1f}{unit} vs Control"


def _ci(effect, scale: float = 100, unit: str = "%") -> str:
    if effect is None:
        return ""
    return (
        f" Treatment vs Control: {effect.estimate * scale:+.2f}{unit} (95% CI "
        f"{fmt.interval(effect.ci.lower, effect.ci.upper, scale, unit)}, "
        f"p {fmt.p_value(effect.p_value)})."
    )


def kpi_tiles(page: Dashboard) -> None:
    r = page.readout
    control = page.kpis[CONTROL]
    with st.container(key="kpi_tiles"):
        for group in GROUPS:
            k = page.kpis[group]
            is_t = group == TREATMENT
            gets = r.experiment.treatment_gets if is_t else r.experiment.control_gets
            st.markdown(f"**{group.capitalize()}** — {gets}")
            cols = st.columns(5)
            cols[0].metric(
                "Users",
                fmt.count(k.users),
                delta=f"{(k.users / control.users - 1) * 100:+.1f}% vs Control"
                if is_t and control.users
                else None,
                delta_color="off",
                help=DEFINITIONS["users"],
            )
            cols[1].metric(
                "Reached the cart",
                fmt.count(k.exposed),
                delta=f"{(k.exposed / control.exposed - 1) * 100:+.1f}% vs Control"
                if is_t and control.exposed
                else None,
                delta_color="off",
                help=DEFINITIONS["exposed"],
            )
            defined = page.has_primary
            cols[2].metric(
                "Conversion",
                fmt.pct(k.conversion),
                delta=_delta(r.primary.conversion.absolute, 100, " pp")
                if is_t and defined
                else None,
                help=DEFINITIONS["conversion"]
                + (_ci(r.primary.conversion.absolute, 100, " pp") if is_t and defined else ""),
            )
            cols[3].metric(
                "Revenue per user",
                fmt.money(k.revenue_per_user),
                delta=_delta(r.revenue.relative) if is_t else None,
                help=DEFINITIONS["revenue_per_user"] + (_ci(r.revenue.relative) if is_t else ""),
            )
            cols[4].metric(
                "Revenue per purchase",
                fmt.money(k.revenue_per_purchase),
                delta=_delta(r.revenue_per_order.relative) if is_t else None,
                help=DEFINITIONS["revenue_per_purchase"]
                + (_ci(r.revenue_per_order.relative) if is_t else ""),
            )


def revenue_note(page: Dashboard) -> None:
    note = evidence.revenue_per_purchase_note(page.readout)
    if note:
        st.caption(note)


def compact_kpis(page: Dashboard) -> None:
    """The tiles as one table, Control and Treatment side by side (shown on narrow screens)."""
    c, t = page.kpis[CONTROL], page.kpis[TREATMENT]
    r = page.readout
    rows = [
        ("Users", fmt.count(c.users), fmt.count(t.users), fmt.DASH),
        ("Reached the cart", fmt.count(c.exposed), fmt.count(t.exposed), fmt.DASH),
        (
            "Conversion",
            fmt.pct(c.conversion),
            fmt.pct(t.conversion),
            fmt.pp(r.primary.conversion.absolute.estimate)
            if page.has_primary and r.primary.conversion.absolute
            else fmt.DASH,
        ),
        (
            "Revenue per user",
            fmt.money(c.revenue_per_user),
            fmt.money(t.revenue_per_user),
            fmt.signed_pct(r.revenue.relative.estimate) if r.revenue.relative else fmt.DASH,
        ),
        (
            "Revenue per purchase",
            fmt.money(c.revenue_per_purchase),
            fmt.money(t.revenue_per_purchase),
            fmt.signed_pct(r.revenue_per_order.relative.estimate)
            if r.revenue_per_order.relative
            else fmt.DASH,
        ),
    ]
    frame = pd.DataFrame(rows, columns=["Metric", "Control", "Treatment", "Difference"])
    with st.container(key="kpi_compact"):
        st.table(frame.set_index("Metric"))


# ---------------------------------------------------------------------------- charts and table


def charts_section(page: Dashboard, filters: Filters, through: date | None) -> None:
    left, right = st.columns(2)
    with left:
        st.vega_lite_chart(*charts.funnel(page.funnel), width="stretch")
        download(page.funnel, "funnel", "Funnel by group", filters, through)
    if not page.has_primary:
        return
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
        download(page.cumulative, "cumulative_lift", "Cumulative lift by week", filters, through)
    daily, daily_specs = charts.daily_effect(page.daily, FOLLOW_UP_DAYS)
    for spec in daily_specs:
        st.vega_lite_chart(daily, spec, width="stretch")
    st.caption(
        f"Each day's users who first reached the cart that day, counted as buyers when they "
        f"bought within {FOLLOW_UP_DAYS} days of that first cart: every day gets the same time "
        f"to buy. Days from the last {FOLLOW_UP_DAYS} days of the data are left out until they "
        "have had it."
    )
    download(page.daily, "daily_effect", "Lift by day of first cart", filters, through)


SHORT_DIMENSIONS = {"entry_month": "Month", "user_type": "User type", "price_band": "Price band"}


def _significant(row: dict) -> str:
    if not row["in_family"]:
        return "extra view"
    return fmt.DASH if row["significant"] is None else ("yes" if row["significant"] else "no")


def segment_frame(segments: pl.DataFrame) -> pd.DataFrame:
    """The segment table as people read it: names, thousands separators, '< 0.001'."""
    rows = []
    for row in segments.iter_rows(named=True):
        lift = fmt.DASH
        if row["lift"] is not None:
            lift = (
                f"{row['lift'] * 100:+.2f} ({fmt.interval(row['lift_lower'], row['lift_upper'])})"
            )
        rows.append(
            {
                "Dimension": SHORT_DIMENSIONS.get(row["dimension"], row["dimension"]),
                "Segment": row["label"],
                "Users (C / T)": f"{fmt.count(row['control_users'])} / "
                f"{fmt.count(row['treatment_users'])}",
                "Conversion (C → T)": f"{fmt.pct(row['control_conversion'])} → "
                f"{fmt.pct(row['treatment_conversion'])}",
                "Lift, pp (95% CI)": lift,
                "p": fmt.p_value(row["p_value"]),
                "p (Holm)": fmt.p_value(row["adjusted_p"]) if row["in_family"] else "not adjusted",
                "Significant": _significant(row),
            }
        )
    return pd.DataFrame(rows)


def segment_section(page: Dashboard, filters: Filters, through, on_pick) -> None:
    st.markdown(
        "**Segments** — the primary metric by entry month, new vs returning users and price "
        "band of the first cart. Click a segment's bar to filter the page to it."
    )
    st.caption(family(page.readout).sentence())
    segments = page.segments
    chart_key = f"segment_chart_{filters.slug()}"  # a new chart (no old click) per filter

    def picked() -> None:
        state = st.session_state.get(chart_key)
        chosen = state.selection.get(charts.SEGMENT_PICK) if state is not None else None
        if chosen:
            on_pick(chosen[0]["dimension"], chosen[0]["segment"])

    data, spec = charts.segment_lifts(segments)
    if data.height:
        st.vega_lite_chart(
            data,
            spec,
            width="stretch",
            key=chart_key,
            on_select=picked,
            selection_mode=charts.SEGMENT_PICK,
        )
    # A static table: no data-grid library to fetch before the page is drawn.
    st.table(segment_frame(segments), hide_index=True)
    download(segments, "segments", "Segments", filters, through)
