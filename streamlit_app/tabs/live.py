"""The Predictor's live mode: a session event by event, scored by the moment model after each
one (POST /sessions/score), against the point where intervening pays; and why, in words."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import polars as pl
import streamlit as st

from pipeline.experiment import CONTROL, TREATMENT
from pipeline.settings import Settings
from streamlit_app import resources
from streamlit_app.data import live, reasons
from streamlit_app.data.api_client import ApiError, ApiUnavailable
from streamlit_app.tabs import live_charts

SOURCES = {"warehouse": "A real session from the warehouse", "build": "Build one, click by click"}
GROUPS = {CONTROL: "Current checkout", TREATMENT: "Redesigned checkout"}
PROBABILITY = "Chance this cart is abandoned"
BUILT = "live_built"
UNAVAILABLE = ":material/cloud_off:"
WATERFALL = "live_waterfall_shown"


def render(settings: Settings) -> None:
    ready, status = resources.moment_status(settings.api_url, settings.api_key)
    if not ready:
        st.warning(f"Live scoring is unavailable. {status}", icon=UNAVAILABLE)
        return
    source = st.radio(
        "Session to score",
        list(SOURCES),
        format_func=SOURCES.get,
        key="live_source",
        horizontal=True,
    )
    steps, identity = warehouse_session(settings) if source == "warehouse" else built_session()
    if not steps:
        st.info(
            "No score yet: the live model scores a session from its first add-to-cart.",
            icon=":material/shopping_cart:",
        )
        return
    try:
        with st.spinner("Scoring each event…"):
            answers = [
                resources.score_session(settings.api_url, settings.api_key, status, s.key)
                for s in steps
            ]
    except ApiUnavailable as err:
        resources.moment_status.clear()
        st.warning(f"Live scoring is unavailable: {err}", icon=UNAVAILABLE)
        return
    except ApiError as err:
        st.error(f"The API refused this session: {err.detail}", icon=":material/error:")
        return
    frame = live.trajectory(steps, answers)
    numbers = [s.number for s in steps]
    chosen = st.select_slider(
        "Explain the score after event",
        options=numbers,
        value=numbers[-1],
        key=f"live_step_{identity}_{len(numbers)}",
    )
    description = live.describe_trajectory(frame)
    data, spec = live_charts.trajectory(frame, chosen, description)
    st.vega_lite_chart(data, spec, width="stretch")
    st.caption(description)
    explain(answers[numbers.index(chosen)], chosen)


def warehouse_session(settings: Settings) -> tuple[tuple[live.Step, ...], str]:
    key = resources.settings_key(settings)
    try:
        choices = resources.live_sessions(key)
    except Exception as err:  # a warehouse without the moment tables: say what to run
        st.warning(f"No sessions to replay: {err}. Build the warehouse with `ecom warehouse`.")
        return (), ""
    if choices.is_empty():
        st.info("The warehouse holds no session with an add-to-cart yet: run `ecom warehouse`.")
        return (), ""
    rows = choices.to_dicts()
    index = st.selectbox(
        "Session",
        range(len(rows)),
        format_func=lambda i: live.session_label(rows[i]),
        key="live_session",
        help="The most recent sessions with an add-to-cart, half of them abandoned.",
    )
    row = rows[index]
    events = resources.session_events(key, row["user_id"], row["session_number"])
    replay = live.replay(row, events)
    outcome = (
        f"The shopper bought at event {replay.bought_at}: the replay ends there."
        if replay.bought_at
        else "The shopper left without buying."
        if replay.abandoned
        else "The shopper bought later in the session."
    )
    with st.expander(f"The session's {events.height} events · {outcome}"):
        st.dataframe(
            events.select(
                (pl.col("position_in_session") + 1).alias("#"),
                pl.from_epoch("event_time_us", time_unit="us").alias("time (UTC)"),
                pl.col("original_event_type")
                .replace_strict(live.EVENT_LABELS, default=pl.col("original_event_type"))
                .alias("event"),
                "product_id",
                "price",
            ).to_pandas(),
            hide_index=True,
            width="stretch",
        )
    return replay.steps, str(row["session_id"])


def _start() -> datetime:
    """Built sessions start yesterday at 14:00 UTC: in the past, whatever the clicks add."""
    return datetime.combine(datetime.now(UTC).date() - timedelta(days=1), time(14), tzinfo=UTC)


def _built() -> live.Built:
    if BUILT not in st.session_state:
        st.session_state[BUILT] = live.Built(start=_start())
    return st.session_state[BUILT]


def _click(kind: str) -> None:
    try:
        st.session_state[BUILT] = _built().add(
            kind, st.session_state["live_price"], st.session_state["live_gap"]
        )
    except ValueError as err:
        st.session_state["live_refused"] = str(err)


def _remember_waterfall() -> None:
    st.session_state[WATERFALL] = st.session_state["live_waterfall"]


def _undo() -> None:
    st.session_state[BUILT] = _built().undo()


def _reset() -> None:
    st.session_state[BUILT] = live.Built(start=_start())


def built_session() -> tuple[tuple[live.Step, ...], str]:
    left, right = st.columns(2)
    with left:
        st.number_input("Price of the next product ($)", 0.5, 500.0, 12.0, 0.5, key="live_price")
        st.slider("Seconds since the previous click", 1, 1800, 45, key="live_gap")
    with right:
        group = st.radio(
            "Checkout", list(GROUPS), format_func=GROUPS.get, key="live_group", horizontal=True
        )
        history = history_inputs()
    buttons = st.columns(5)
    buttons[0].button("View a product", key="live_view", on_click=_click, args=("view",))
    buttons[1].button("Add to cart", key="live_cart", on_click=_click, args=("cart",))
    buttons[2].button(
        "Remove from cart", key="live_remove", on_click=_click, args=("remove_from_cart",)
    )
    buttons[3].button("Undo", key="live_undo", on_click=_undo)
    buttons[4].button("Start over", key="live_reset", on_click=_reset)
    refused = st.session_state.pop("live_refused", None)
    if refused:
        st.warning(f"Not added: {refused}.", icon=":material/block:")
    built = _built()
    st.session_state[BUILT] = built = live.Built(built.start, group, history, built.events)
    if built.events:
        clicks = " → ".join(live.EVENT_LABELS[e["event_type"]] for e in built.events)
        st.caption(f"Session so far (started {built.start:%A %H:%M} UTC): {clicks}")
    return built.steps(), "built"


def history_inputs() -> dict | None:
    known = st.checkbox("I know this shopper's history", key="live_known")
    if not known:
        st.caption("Without history the model scores it as missing (a new or anonymous shopper).")
        return None
    a, b = st.columns(2)
    sessions = a.number_input("Earlier visits", 0, 10_000, 3, key="live_prior_sessions")
    bought = b.number_input("…with a purchase", 0, 10_000, 1, key="live_prior_bought")
    left = a.slider("Share of earlier carts left", 0.0, 1.0, 0.5, key="live_prior_left")
    days = b.number_input("Days since the last visit", 0.0, 3650.0, 7.0, key="live_prior_days")
    spent = a.number_input("Spent before ($)", 0.0, 1e6, 40.0, key="live_prior_spent")
    return {
        "prior_sessions": int(sessions),
        "prior_purchasing_sessions": int(min(bought, sessions)),
        "prior_abandonment_rate": float(left),
        "days_since_previous_session": float(days),
        "prior_revenue": float(spent),
    }


def explain(answer: dict, event: int) -> None:
    p = float(answer["abandonment_probability"])
    decision = answer["decision"]
    base, bars = reasons.explained(answer["explanation"])
    left, right = st.columns([1, 2])
    with left:
        st.metric(
            PROBABILITY,
            f"{p:.1%}",
            help="The moment model's calibrated probability that the session ends without a "
            f"purchase, as known after event {event}.",
        )
        st.caption(f"{answer['risk_band'].capitalize()} risk · the average cart: {base:.0%}")
    with right:
        verdict(decision, p)
    st.markdown("**Why**")
    st.markdown("\n".join(f"- {r}" for r in reasons.top_reasons(bars)) or "- No feature moves it.")
    # The choice outlives the widget (which is not drawn while there is no score to explain).
    if st.toggle(
        "Show the waterfall (probability scale)",
        value=st.session_state.get(WATERFALL, False),
        key="live_waterfall",
        on_change=_remember_waterfall,
    ):
        text = reasons.describe_waterfall(base, bars, p)
        data, spec = live_charts.waterfall(base, reasons.shown_bars(bars), text)
        st.vega_lite_chart(data, spec, width="stretch")
        st.caption(text)
    with st.expander("Every feature the API built from the events"):
        st.dataframe(
            pl.DataFrame(
                [
                    {
                        "feature": b.name,
                        "value": b.value,
                        "effect (points)": round(100 * b.change, 2),
                        "SHAP (margin)": b.shap,
                    }
                    for b in bars
                ]
            ).to_pandas(),
            hide_index=True,
            width="stretch",
        )
    model = answer["model"]
    st.caption(
        f"Model {model['model_id']} ({model.get('engine') or '?'}), trained "
        f"{model.get('trained_at') or '?'}. SHAP values are on the model's margin before "
        "calibration; the waterfall and the points replay them on the probability scale."
    )


def verdict(decision: dict, p: float) -> None:
    price = decision["cart_price"]
    value = decision["expected_value"]
    breakeven = decision["break_even_probability"]
    if breakeven is None:
        st.info(
            f"**Don't intervene**: no probability makes an intervention pay for a ${price:,.2f} "
            f"cart (it costs ${decision['intervention_cost']:,.2f}; expected value "
            f"{_money(value)}).",
            icon=":material/do_not_disturb_on:",
        )
    elif decision["intervene"]:
        st.error(
            f"**Intervene**: {p:.0%} is above the {breakeven:.0%} at which acting pays for a "
            f"${price:,.2f} cart; expected value {_money(value)}.",
            icon=":material/campaign:",
        )
    else:
        st.success(
            f"**Don't intervene**: {p:.0%} is below the {breakeven:.0%} at which acting pays "
            f"for a ${price:,.2f} cart; expected value {_money(value)}.",
            icon=":material/check_circle:",
        )
    st.caption(
        f"Assumptions ({decision['rule_source']}): {decision['gross_margin_rate']:.0%} gross "
        f"margin; an intervention saves {decision['recovery_share']:.0%} of the carts that "
        "would be lost (an assumption until a holdout experiment measures it) and costs "
        f"${decision['intervention_cost']:,.2f}."
    )


def _money(value: float) -> str:
    """+$0.13, -$0.08."""
    return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"
