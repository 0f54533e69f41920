"""Vega-Lite charts of the Predictor's live mode (presentation only: the numbers come computed).

Each spec carries a `description`, which Vega-Lite puts on the chart as its ARIA label: the
chart's alt text, also shown as a caption under it.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from streamlit_app.data.reasons import Bar

RISK, SAFE, LINE, THRESHOLD = "#d81b60", "#1565c0", "#b71c1c", "#424242"
SERIES = {"probability": "Chance the cart is abandoned", "break_even": "Intervene above"}


def trajectory(frame: pl.DataFrame, selected: int, description: str) -> tuple[pl.DataFrame, dict]:
    """P(abandon) after each event, the break-even probability as a dashed step line (it moves
    with the carted item's price), and a rule at the event being explained."""
    data = frame.select("event", "event_type", "probability", "break_even", "intervene")
    x = {
        "field": "event",
        "type": "quantitative",
        "title": "Event in the session",
        "axis": {"tickMinStep": 1, "format": "d"},
    }
    y_axis = {"format": "%", "title": "Probability"}
    colour = {
        "scale": {"domain": list(SERIES.values()), "range": [LINE, THRESHOLD]},
        "legend": {"orient": "top", "title": None, "labelLimit": 400},
    }
    tooltip = [
        {"field": "event", "title": "Event"},
        {"field": "event_type", "title": "What happened"},
        {"field": "probability", "title": "Chance abandoned", "format": ".1%"},
        {"field": "break_even", "title": "Intervene above", "format": ".1%"},
    ]
    spec = {
        "description": description,
        "height": 300,
        "encoding": {"x": x},
        "layer": [
            {
                "mark": {"type": "line", "point": True},
                "encoding": {
                    "y": {
                        "field": "probability",
                        "type": "quantitative",
                        "scale": {"domain": [0, 1]},
                        "axis": y_axis,
                    },
                    "color": {"datum": SERIES["probability"], **colour},
                    "tooltip": tooltip,
                },
            },
            {
                "transform": [{"filter": "isValid(datum.break_even)"}],
                "mark": {"type": "line", "interpolate": "step-after", "strokeDash": [6, 4]},
                "encoding": {
                    "y": {"field": "break_even", "type": "quantitative"},
                    "color": {"datum": SERIES["break_even"], **colour},
                    "tooltip": tooltip,
                },
            },
            {
                "mark": {"type": "rule", "color": "#757575", "strokeDash": [2, 2]},
                "encoding": {"x": {"datum": selected, "type": "quantitative"}},
            },
        ],
    }
    return data, spec


def waterfall(base: float, bars: Sequence[Bar], description: str) -> tuple[pl.DataFrame, dict]:
    """One horizontal bar per feature from the probability before it to the one after it,
    largest effect on top; dashed rules at the average cart and at this cart."""
    rows = [
        {
            "label": f"{b.name}: {b.value}" if b.value else b.name,
            "start": b.start,
            "end": b.end,
            "points": 100 * b.change,
            "direction": "raises the risk" if b.change > 0 else "lowers the risk",
        }
        for b in bars
    ]
    data = pl.DataFrame(
        rows,
        schema={
            "label": pl.String,
            "start": pl.Float64,
            "end": pl.Float64,
            "points": pl.Float64,
            "direction": pl.String,
        },
    )
    final = bars[-1].end if bars else base
    order = [r["label"] for r in rows]
    percent_axis = {"format": "%", "title": "Chance the cart is abandoned"}
    spec = {
        "description": description,
        "height": {"step": 30},
        "layer": [
            {
                "mark": {"type": "bar"},
                "encoding": {
                    "y": {
                        "field": "label",
                        "type": "nominal",
                        "sort": order,
                        "title": None,
                        "axis": {"labelLimit": 360},
                    },
                    "x": {
                        "field": "start",
                        "type": "quantitative",
                        "axis": percent_axis,
                        "scale": {"zero": False},
                    },
                    "x2": {"field": "end"},
                    "color": {
                        "field": "direction",
                        "type": "nominal",
                        "title": None,
                        "scale": {
                            "domain": ["raises the risk", "lowers the risk"],
                            "range": [RISK, SAFE],
                        },
                        "legend": {"orient": "top", "labelLimit": 400},
                    },
                    "tooltip": [
                        {"field": "label", "title": "Feature"},
                        {"field": "points", "title": "Points", "format": "+.1f"},
                    ],
                },
            },
            {
                "data": {
                    "values": [
                        {"at": base, "what": "average cart"},
                        {"at": final, "what": "this cart"},
                    ]
                },
                "mark": {"type": "rule", "strokeDash": [4, 3], "color": THRESHOLD},
                "encoding": {
                    "x": {"field": "at", "type": "quantitative"},
                    "tooltip": [
                        {"field": "what", "title": "Reference"},
                        {"field": "at", "title": "Probability", "format": ".1%"},
                    ],
                },
            },
        ],
    }
    return data, spec
