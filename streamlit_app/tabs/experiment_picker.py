"""The dashboard's experiment selector and its pre-period balance table (UI only; the data is
streamlit_app.data.experiments')."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from pipeline.errors import EcomError
from streamlit_app import resources
from streamlit_app.data.experiments import balance_frame, balance_rows
from streamlit_app.data.metrics import Dashboard
from streamlit_app.tabs.dashboard_filters import (
    follow_the_url_experiment,
    write_the_url_experiment,
)


def select_experiment(key: str) -> str | None:
    """The experiment the page reads out, chosen in the sidebar (experiments.yml's order; each
    with its latest decision from gold.experiment_results). None: nothing to choose from."""
    try:
        choices = resources.experiment_choices(key)
    except EcomError as err:
        st.error(f"The experiments cannot be listed: {err}", icon=":material/error:")
        return None
    labels = {c.key: c.label for c in choices}
    follow_the_url_experiment(list(labels))  # a shared link's experiment
    with st.sidebar:
        chosen = st.selectbox(
            "Experiment",
            list(labels),
            format_func=labels.get,
            key="f_experiment",
            help="The experiments of experiments.yml, each with its latest decision from "
            "`ecom abtest` (gold.experiment_results). The page reads the chosen one out again "
            "with the filters below.",
        )
    write_the_url_experiment(chosen, list(labels))
    return chosen


def balance_table(page: Dashboard) -> None:
    """Pre-experiment conversion and revenue per user by group, with the test and its family."""
    balance = page.readout.balance
    frame = balance_frame(page.readout)
    st.markdown("**Pre-period balance**: did the groups look alike before the experiment began?")
    if frame.is_empty():
        st.caption(
            "No pre-period to compare: this experiment starts on the data's first day. Give it "
            "a later `start` in experiments.yml to check balance (and to use CUPED)."
        )
        return
    # A static table, as the page's others: no data-grid library to load for a few rows.
    st.table(pd.DataFrame(balance_rows(frame)).set_index("Before the start"))
    st.caption(
        f"Welch's t-test per metric; family: these {len(balance.tests)} tests, Holm-adjusted, "
        f"flagged below {balance.alpha} (a failed check makes the decision INVESTIGATE)."
    )


def title(key: str, experiment: str) -> str:
    """The selected experiment's name, for the page's heading."""
    names = {c.key: c.name for c in resources.experiment_choices(key)}
    return names.get(experiment, experiment)
