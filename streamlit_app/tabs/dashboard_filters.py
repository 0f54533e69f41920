"""The dashboard's filters and experiment: the sidebar widgets, kept in the URL so a filtered
view can be shared, survives a reload and steps back with the browser's Back button.

The URL is written from Python (`st.query_params`), which adds a browser history entry per
change (a widget bound to the URL would replace the entry instead, and Back would leave the
page). Each run first looks at the URL: when it differs from what the page last wrote there
(a shared link, a reload, Back), the URL wins and sets the widgets; otherwise the widgets win
and the URL follows them.
"""

from __future__ import annotations

from urllib.parse import urlencode

import streamlit as st

from streamlit_app import resources
from streamlit_app.data.filters import (
    PRICE_BANDS,
    QUERY_KEYS,
    USER_TYPE_LABELS,
    USER_TYPES,
    Filters,
    from_query,
)
from streamlit_app.data.metrics import Bounds

BAND_LABELS = {b.key: b.label for b in PRICE_BANDS}
IN_URL = "_filters_in_url"  # the filters' query string the page last wrote or accepted
APPLIED_DATES = "_applied_dates"  # the last complete date range (a half-picked one waits)
URL_PROBLEMS = "_url_problems"


def _url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in QUERY_KEYS}


def _as_text(params: dict[str, list[str]]) -> str:
    return urlencode(sorted((k, v) for k, values in params.items() for v in values if v))


def set_widgets(filters: Filters, bounds: Bounds) -> None:
    """Every filter widget to `filters` (before the widgets are drawn, or in a callback)."""
    st.session_state["f_dates"] = (
        filters.start or bounds.first_day,
        filters.end or bounds.last_day,
    )
    st.session_state["f_months"] = [m for m in filters.months if m in bounds.months]
    st.session_state["f_user_type"] = filters.user_type
    st.session_state["f_bands"] = list(filters.price_bands)
    st.session_state[APPLIED_DATES] = st.session_state["f_dates"]


def _follow_the_url(bounds: Bounds) -> None:
    """A URL the page did not write itself (a shared link, a reload, Back) sets the widgets."""
    params = _url_params()
    text = _as_text(params)
    if st.session_state.get(IN_URL) == text:
        return
    filters, problems = from_query(params, bounds.first_day, bounds.last_day)
    unknown = [m for m in filters.months if m not in bounds.months]
    problems += [f"month={m} has no users" for m in unknown]
    set_widgets(filters, bounds)
    st.session_state[IN_URL] = text
    st.session_state[URL_PROBLEMS] = problems


def _write_the_url(filters: Filters) -> None:
    params = filters.to_query()
    text = _as_text(params)
    if text != _as_text(_url_params()):
        st.query_params.update(params)  # one message, so one history entry
    st.session_state[IN_URL] = text


EXPERIMENT_IN_URL = "_experiment_in_url"  # the experiment the page last wrote or accepted
EXPERIMENT_PROBLEM = "_experiment_problem"


def follow_the_url_experiment(keys: list[str]) -> None:
    """Before the selector is drawn: a link's `experiment` (absent: the first one) selects it,
    when the page did not write it itself (a shared link, a reload, Back)."""
    found = st.query_params.get("experiment") or ""
    if st.session_state.get(EXPERIMENT_IN_URL, "") == found:
        return
    st.session_state[EXPERIMENT_IN_URL] = found
    known = not found or found in keys
    st.session_state["f_experiment"] = found if found and known else keys[0]
    st.session_state[EXPERIMENT_PROBLEM] = (
        None if known else f"experiment={found} is not one of experiments.yml's"
    )


def write_the_url_experiment(chosen: str, keys: list[str]) -> None:
    """The chosen experiment into the URL (the first one is the default: no parameter)."""
    wanted = "" if chosen == keys[0] else chosen
    if (st.query_params.get("experiment") or "") != wanted:
        if wanted:
            st.query_params["experiment"] = wanted
        else:
            del st.query_params["experiment"]
    st.session_state[EXPERIMENT_IN_URL] = wanted
    problem = st.session_state.get(EXPERIMENT_PROBLEM)
    if problem:
        st.sidebar.caption(f"Ignored in the link: {problem}.")


def _reset_filters(bounds: Bounds) -> None:
    set_widgets(Filters(), bounds)


def drill_down(bounds: Bounds, current: Filters, dimension: str, segment: str) -> None:
    """Filter the page to one segment (a clicked row of the segment table)."""
    if dimension == "entry_month":
        target = Filters(
            current.start, current.end, (segment,), current.user_type, current.price_bands
        )
    elif dimension == "user_type":
        target = Filters(current.start, current.end, current.months, segment, current.price_bands)  # type: ignore[arg-type]
    elif dimension == "price_band":
        target = Filters(current.start, current.end, current.months, current.user_type, (segment,))
    else:
        return
    set_widgets(target, bounds)


def _dates(bounds: Bounds) -> tuple:
    """The chosen range; while only its first day is picked, the last complete range stays."""
    value = st.session_state.get("f_dates")
    picked = [d for d in (value if isinstance(value, tuple | list) else (value,)) if d]
    if len(picked) >= 2:
        st.session_state[APPLIED_DATES] = (picked[0], picked[-1])
    return st.session_state.get(APPLIED_DATES) or (bounds.first_day, bounds.last_day)


def sidebar_filters(bounds: Bounds) -> Filters:
    """The global filters, in the sidebar; they persist while another tab is open."""
    _follow_the_url(bounds)
    with st.sidebar:
        st.header("Dashboard filters")
        st.date_input(
            "Entered the experiment (UTC days)",
            value=(bounds.first_day, bounds.last_day),
            min_value=bounds.first_day,
            max_value=bounds.last_day,
            key="f_dates",
            help="Pick the first day, then the last: the range applies once both are chosen.",
        )
        months = st.multiselect(
            "Entry month",
            list(bounds.months),
            key="f_months",
            placeholder="All months",
        )
        user_type = st.radio(
            "Users",
            list(USER_TYPES),
            format_func=lambda t: USER_TYPE_LABELS[t],
            key="f_user_type",
            help="Returning: seen before the experiment started (needs a pre-period); new: first "
            "seen in it."
            + ("" if bounds.returning_users else " This data has no pre-period: nobody returns."),
        )
        bands = st.multiselect(
            "Price band of the first cart",
            [b.key for b in PRICE_BANDS],
            format_func=BAND_LABELS.get,
            key="f_bands",
            placeholder="All users",
            help="Mean price of the items a user's first cart session carted (known when they "
            "first reach the cart). 'No cart': users who never reached the cart.",
        )
        left, right = st.columns(2)
        left.button("Reset filters", on_click=_reset_filters, args=(bounds,), width="stretch")
        if right.button(
            "Refresh data",
            width="stretch",
            help="Query the warehouse again (results are kept for 10 minutes).",
        ):
            resources.refresh_data()
        for problem in st.session_state.get(URL_PROBLEMS, []):
            st.caption(f"Ignored in the link: {problem}.")
    start, end = _dates(bounds)
    # The full range is no filter: the same cache entry as the default page.
    filters = Filters(
        None if start == bounds.first_day else start,
        None if end == bounds.last_day else end,
        tuple(months),
        user_type,
        tuple(bands),
    )
    _write_the_url(filters)
    return filters
