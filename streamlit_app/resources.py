"""The app's cached resources: settings, the warehouse, the API client and query results.

Streamlit reruns the script on every interaction, so anything slow sits behind a cache:
clients in `st.cache_resource` (one per process), the dashboard's query results (per filter
setting) and API answers in `st.cache_data` with a ttl. Cache keys carry the settings as JSON, so two configurations
(tests, or a changed environment) never share an entry.
"""

from __future__ import annotations

import json
from time import perf_counter

import polars as pl
import streamlit as st
from streamlit.logger import get_logger

from pipeline.abtest.readout import ReadoutConfig
from pipeline.settings import Settings, get_settings
from pipeline.warehouse import Warehouse, connect
from streamlit_app.data import api_client, experiments, live, metrics, prepared, queries
from streamlit_app.data.filters import Filters
from streamlit_app.data.realized import Realized, load_realized

LOG = get_logger(__name__)  # the server's log: how long each page's queries took (benchmarks)
QUERY_TTL_SECONDS = 600  # gold changes when `ecom warehouse` runs; the refresh button clears
STATUS_TTL_SECONDS = 5
PREDICTION_TTL_SECONDS = 300


def settings() -> Settings:
    """Read from the environment on every run (cheap), so a changed env is seen at once."""
    return get_settings()


def settings_key(s: Settings) -> str:
    return s.model_dump_json()


@st.cache_resource(show_spinner=False)
def _warehouse(key: str) -> Warehouse:
    return connect(Settings.model_validate_json(key))


def warehouse(s: Settings) -> Warehouse:
    return _warehouse(settings_key(s))


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=16)
def experiment_choices(key: str) -> list[experiments.Choice]:
    """The selector's experiments with their latest decisions (gold.experiment_results)."""
    return experiments.choices(Settings.model_validate_json(key), _warehouse(key))


def _selected(key: str, experiment: str) -> experiments.Selected:
    """The experiment as `ecom abtest` reads it (what the ingest manifests recorded)."""
    return experiments.selected(Settings.model_validate_json(key), experiment)


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=16)
def _bounds_and_default_page(
    key: str, experiment: str
) -> tuple[metrics.Bounds, metrics.Dashboard | None]:
    """A first visit needs the filters' range and the unfiltered page: one pool of queries
    for both, instead of the range's query alone before the page's."""
    ready = prepared.take(
        key, experiment
    )  # computed while the server started (streamlit_app.launch)
    if ready is not None:
        LOG.info("dashboard queries: the default page, prepared at start-up, in 0.000 s")
        return ready
    wh = _warehouse(key)
    try:
        chosen = _selected(key, experiment)
    except Exception:  # reported by the page's own load; the range does not need it
        return metrics.bounds_from_frame(wh.query(queries.bounds_sql(wh, experiment))), None
    started = perf_counter()
    found = metrics.load_bounds_and_dashboard(wh, ReadoutConfig(), chosen)
    LOG.info("dashboard queries: bounds and the default page in %.3f s", perf_counter() - started)
    return found


def bounds(key: str, experiment: str) -> metrics.Bounds:
    return _bounds_and_default_page(key, experiment)[0]


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=128)
def _dashboard(key: str, experiment: str, filters: Filters) -> metrics.Dashboard:
    # Every page query carries the filters, so caching them one by one would save nothing:
    # the page is the unit (its queries run in parallel, uncached).
    started = perf_counter()
    page = metrics.load_dashboard(
        _warehouse(key), filters, ReadoutConfig(), _selected(key, experiment)
    )
    LOG.info("dashboard queries: a filtered page in %.3f s", perf_counter() - started)
    return page


def dashboard(key: str, experiment: str, filters: Filters) -> metrics.Dashboard:
    """The whole page for one experiment and filter setting (the unfiltered one comes with
    the bounds)."""
    if filters == Filters():
        page = _bounds_and_default_page(key, experiment)[1]
        if page is not None:
            return page
    return _dashboard(key, experiment, filters)


def refresh_data() -> None:
    """The refresh button: the next run queries the warehouse again."""
    experiment_choices.clear()
    _bounds_and_default_page.clear()
    _dashboard.clear()
    realized.clear()


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=8)
def realized(key: str, model_id: str, through: str | None, medium: float, high: float) -> Realized:
    """How one model's warehouse scores did against the sessions' outcomes."""
    return load_realized(_warehouse(key), model_id, through, {"medium": medium, "high": high})


@st.cache_resource(show_spinner=False)
def _api(url: str, api_key: str | None) -> api_client.ApiClient:
    return api_client.ApiClient(url, api_key)


def api(s: Settings) -> api_client.ApiClient:
    return _api(s.api_url, s.api_key)


@st.cache_data(ttl=STATUS_TTL_SECONDS, show_spinner=False)
def api_status(url: str, api_key: str | None) -> tuple[bool, str]:
    """(ready, model id or what is wrong), probed at most every few seconds."""
    try:
        ready = _api(url, api_key).ready()
    except api_client.ApiUnavailable as err:
        return False, str(err)
    except api_client.ApiError as err:
        if err.status == 503:
            return False, (
                f"The scoring API at {url} is up but has no model loaded ({err.detail}). "
                "Train one with `ecom train`."
            )
        return False, f"The scoring API at {url} answered /ready with {err}."
    return True, str(ready.get("model_id") or "")


@st.cache_data(ttl=PREDICTION_TTL_SECONDS, show_spinner=False, max_entries=1024)
def predict(url: str, api_key: str | None, model_id: str, session: tuple) -> dict:
    """A prediction per (served model, session): moving a slider back is instant."""
    del model_id  # part of the cache key only: a promoted model is a new entry
    return _api(url, api_key).predict(dict(session), explain=True)


# ----------------------------------------------------------------------------- live mode


@st.cache_data(ttl=STATUS_TTL_SECONDS, show_spinner=False)
def moment_status(url: str, api_key: str | None) -> tuple[bool, str]:
    """(a moment model is served, its id or why not), from /ready."""
    try:
        ready = _api(url, api_key).ready()
    except (api_client.ApiUnavailable, api_client.ApiError) as err:
        return False, str(err)
    moment = (ready.get("models") or {}).get("moment")
    if moment:
        return True, str(moment)
    why = (ready.get("problems") or {}).get("moment") or "the API serves no moment model"
    return False, f"The live-session model is not served yet: {why}"


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=4)
def live_sessions(key: str) -> pl.DataFrame:
    """Recent sessions of both outcomes to replay (sql/app/live_sessions.sql)."""
    wh = _warehouse(key)
    return wh.query(live.sessions_sql(wh))


@st.cache_data(ttl=QUERY_TTL_SECONDS, show_spinner=False, max_entries=64)
def session_events(key: str, user_id: int, session_number: int) -> pl.DataFrame:
    wh = _warehouse(key)
    return wh.query(live.events_sql(wh, user_id, session_number))


@st.cache_data(ttl=PREDICTION_TTL_SECONDS, show_spinner=False, max_entries=4096)
def score_session(url: str, api_key: str | None, model_id: str, body: str) -> dict:
    """A score per (served moment model, session so far): a replay asks each step once."""
    del model_id  # part of the cache key only
    return _api(url, api_key).score_session(json.loads(body))
