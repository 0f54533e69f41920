"""Real-Time Predictor: a live session scored event by event by the moment model (tabs/live.py),
or a finished session described by its totals and scored by the session model (the seed's
sliders); each with its SHAP explanation in words."""

from __future__ import annotations

import base64

import polars as pl
import streamlit as st

from pipeline.experiment import CONTROL, TREATMENT
from pipeline.settings import Settings
from streamlit_app import resources
from streamlit_app.data import reasons
from streamlit_app.data.api_client import ApiError, ApiUnavailable
from streamlit_app.tabs import live

EXPERIENCES = {
    CONTROL: "Control: the current checkout",
    TREATMENT: "Treatment: the redesigned checkout",
}
MODES = {
    "live": "Live session (will this cart be abandoned?)",
    "finished": "Finished session (session model)",
}
BAND_STYLE = {"low": st.success, "medium": st.warning, "high": st.error}
BAND_ICON = {
    "low": ":material/check_circle:",
    "medium": ":material/warning:",
    "high": ":material/report:",
}


def inputs() -> dict:
    left, right = st.columns(2)
    with left:
        views = st.slider("Product views in the session", 0, 60, 3, key="p_views")
        carts = st.slider("Add-to-cart events", 1, 20, 1, key="p_carts")
    with right:
        minutes = st.slider(
            "Session duration (minutes)", 0.0, 120.0, 12.5, step=0.5, key="p_minutes"
        )
        group = st.radio(
            "Checkout experience", list(EXPERIENCES), format_func=EXPERIENCES.get, key="p_group"
        )
    return {
        "total_views": int(views),
        "total_carts": int(carts),
        "session_duration_minutes": float(minutes),
        "experiment_group": group,
    }


def show(result: dict) -> None:
    p = float(result["abandonment_probability"])
    band = str(result["risk_band"])
    thresholds = result.get("risk_thresholds") or {}
    left, right = st.columns([1, 2])
    with left:
        st.metric(
            "Probability the cart is abandoned",
            f"{p:.1%}",
            help="P(abandoned) from the served XGBoost model, for a session with these "
            "whole-session totals.",
        )
        BAND_STYLE.get(band, st.info)(
            f"**{band.capitalize()} risk**"
            + (
                f" (medium from {thresholds['medium']:.0%}, high from {thresholds['high']:.0%})"
                if {"medium", "high"} <= set(thresholds)
                else ""
            ),
            icon=BAND_ICON.get(band),
        )
        model = result.get("model") or {}
        st.caption(
            f"Model {model.get('model_id', '?')} ({model.get('engine', '?')}), "
            f"trained {model.get('trained_at', '?')}"
        )
    with right:
        png = result.get("waterfall_png")
        if png:
            st.image(base64.b64decode(png), caption="SHAP waterfall (log-odds)", width="stretch")
        else:
            st.caption("The API sent no waterfall picture for this prediction.")
    explanation = result.get("explanation")
    if explanation:
        base, bars = reasons.explained(explanation)
        st.markdown(f"**Why** (from the average session's {base:.0%})")
        st.markdown("\n".join(f"- {r}" for r in reasons.top_reasons(bars, count=2)) or "- -")
        table = pl.DataFrame(
            [
                {
                    "feature": c.get("feature"),
                    "meaning": reasons.human_name(str(c.get("feature"))),
                    "value": "missing" if c.get("value") is None else str(c.get("value")),
                    "shap_value": c.get("shap_value"),
                }
                for c in explanation.get("contributions", [])
            ],
            schema={
                "feature": pl.String,
                "meaning": pl.String,
                "value": pl.String,
                "shap_value": pl.Float64,
            },
        )
        st.markdown(
            f"**Contributions** (log-odds; base value {explanation.get('base_value', 0):+.3f}"
            f" = {explanation.get('base_probability', 0):.1%}, this session "
            f"{explanation.get('margin', 0):+.3f} = {explanation.get('probability', p):.1%})"
        )
        st.dataframe(
            table.to_pandas(),
            hide_index=True,
            width="stretch",
            column_config={
                "shap_value": st.column_config.NumberColumn("SHAP value", format="%+.4f")
            },
        )


def render(settings: Settings) -> None:
    st.subheader("Real-Time Predictor: will this cart be abandoned?")
    mode = st.radio("Score", list(MODES), format_func=MODES.get, key="p_mode", horizontal=True)
    if mode == "live":
        st.caption(
            "The live model scores the session as it stands after each event (`POST "
            f"/sessions/score` at {settings.api_url}): only what is known at that moment, "
            "in time to act on the cart."
        )
        live.render(settings)
        return
    st.caption(
        "Move the sliders: each change asks the scoring API (`POST /predict`) at "
        f"{settings.api_url}. The features are whole-session totals, so the score describes "
        "a finished session (for follow-ups), not a live add-to-cart moment."
    )
    session = inputs()
    ready, status = resources.api_status(settings.api_url, settings.api_key)
    if not ready:
        st.warning(f"Predictions are unavailable: {status}", icon=":material/cloud_off:")
        return
    try:
        with st.spinner("Scoring…"):
            result = resources.predict(
                settings.api_url, settings.api_key, status, tuple(sorted(session.items()))
            )
    except ApiUnavailable as err:
        resources.api_status.clear()
        st.warning(f"Predictions are unavailable: {err}", icon=":material/cloud_off:")
        return
    except ApiError as err:
        st.error(f"The API refused this session: {err.detail}", icon=":material/error:")
        if err.errors:
            st.dataframe(pl.DataFrame(err.errors, strict=False).to_pandas(), hide_index=True)
        return
    show(result)
