"""ecom-growth's app: `streamlit run streamlit_app/app.py` (UI only; see streamlit_app/data).

Four tabs. Only the open tab runs (stateful tabs), so a slow or stopped API never delays the
dashboard, and the dashboard's queries never run while someone uses the predictor. Each tab's
module is imported when first opened: the dashboard's first render does not wait for the
model stack (xgboost) that only Monitoring needs.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import streamlit as st

from streamlit_app import resources
from streamlit_app.data.freshness import read_freshness

TABS = {
    "A/B Test Dashboard": "dashboard",
    "Real-Time Predictor": "predictor",
    "Bulk Prediction": "bulk",
    "Monitoring": "monitoring",
}

# The icon is a file served by the app itself: a Material icon name would make the browser fetch
# the favicon from Google's font servers (no request leaves the app's own host).
ICON = Path(__file__).with_name("favicon.png")

st.set_page_config(page_title="ecom-growth", page_icon=str(ICON), layout="wide")
settings = resources.settings()

with st.sidebar:
    st.title("ecom-growth")
    st.caption(read_freshness(settings.manifest_dir).stamp())

containers = st.tabs(list(TABS), key="tab", on_change="rerun", bind="query-params")
for container, module in zip(containers, TABS.values(), strict=True):
    if container.open:
        with container:
            importlib.import_module(f"streamlit_app.tabs.{module}").render(settings)
