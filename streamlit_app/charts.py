"""Plotly figures of the dashboard's frames (presentation only: the numbers come computed)."""

from __future__ import annotations

import plotly.graph_objects as go
import polars as pl
from plotly.subplots import make_subplots

from pipeline.abtest.plots import COLORS
from pipeline.experiment import GROUPS

STAGE_LABELS = {"viewed": "Viewed a product", "carted": "Added to cart", "purchased": "Purchased"}
BAND_FIXED = "rgba(255, 127, 14, 0.30)"
BAND_SEQUENTIAL = "rgba(31, 119, 180, 0.18)"
LAYOUT = {"margin": {"l": 10, "r": 10, "t": 40, "b": 10}, "height": 340}


def _title(text: str) -> dict:
    return {"text": text, "font": {"size": 15}}


def funnel(frame: pl.DataFrame, unit: str) -> go.Figure:
    fig = go.Figure()
    part = frame.filter(pl.col("unit") == unit)
    for group in GROUPS:
        rows = part.filter(pl.col("experiment_group") == group)
        fig.add_trace(
            go.Funnel(
                name=group.capitalize(),
                y=[STAGE_LABELS[s] for s in rows["stage"]],
                x=rows["count"].to_list(),
                textinfo="value+percent initial",
                marker={"color": COLORS[group]},
            )
        )
    fig.update_layout(title=_title(f"Funnel by group ({unit})"), **LAYOUT)
    return fig


def _band(fig: go.Figure, x, lower, upper, color: str, name: str, **where) -> None:
    fig.add_trace(
        go.Scatter(
            x=x, y=upper, mode="lines", line={"width": 0}, showlegend=False, hoverinfo="skip"
        ),
        **where,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=lower,
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor=color,
            name=name,
            hoverinfo="skip",
        ),
        **where,
    )


def cumulative_lift(frame: pl.DataFrame, alpha: float) -> go.Figure:
    """Cumulative absolute lift (pp) at each weekly look, with the fixed-horizon CI and the
    always-valid band."""
    data = frame.drop_nulls("lift")
    x = data["week_end"].to_list()
    level = round((1 - alpha) * 100)
    fig = go.Figure()
    _band(
        fig,
        x,
        [v * 100 for v in data["sequential_lower"]],
        [v * 100 for v in data["sequential_upper"]],
        BAND_SEQUENTIAL,
        f"always-valid {level}% band (safe to peek)",
    )
    _band(
        fig,
        x,
        [v * 100 for v in data["fixed_lower"]],
        [v * 100 for v in data["fixed_upper"]],
        BAND_FIXED,
        f"fixed-horizon {level}% CI (valid at one planned look)",
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[v * 100 for v in data["lift"]],
            mode="lines+markers",
            name="cumulative lift",
            line={"color": COLORS["treatment"], "width": 2},
        )
    )
    fig.add_hline(y=0, line={"color": "#444", "width": 1, "dash": "dot"})
    fig.update_layout(
        title=_title("Cumulative lift in conversion by week (Treatment − Control, pp)"),
        yaxis_title="percentage points",
        xaxis_title="end of the weekly look",
        legend={"orientation": "h", "y": -0.3},
        **LAYOUT,
    )
    return fig


def daily_effect(frame: pl.DataFrame) -> go.Figure:
    """Each day's conversion per group, and the day's lift with its interval."""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=[0.55, 0.45],
        subplot_titles=("Conversion of the day's active users, %", "Daily lift, pp (95% CI)"),
    )
    x = frame["day"].to_list()
    for group in GROUPS:
        fig.add_trace(
            go.Scatter(
                x=x,
                y=[None if v is None else v * 100 for v in frame[f"{group}_conversion"]],
                mode="lines",
                name=group.capitalize(),
                line={"color": COLORS[group]},
            ),
            row=1,
            col=1,
        )
    # The interval as one shaded band, not an error bar a day: a few SVG paths instead of
    # hundreds keeps the browser's redraw after a filter change short.
    _band(
        fig,
        x,
        [None if v is None else v * 100 for v in frame["lift_lower"]],
        [None if v is None else v * 100 for v in frame["lift_upper"]],
        BAND_FIXED,
        "daily lift, 95% CI",
        row=2,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=[None if v is None else v * 100 for v in frame["lift"]],
            mode="lines",
            name="daily lift",
            line={"color": COLORS["treatment"], "width": 1.5},
        ),
        row=2,
        col=1,
    )
    fig.add_hline(y=0, line={"color": "#444", "width": 1, "dash": "dot"}, row=2, col=1)
    fig.update_layout(legend={"orientation": "h", "y": -0.12}, **{**LAYOUT, "height": 440})
    return fig
