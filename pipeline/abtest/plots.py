"""Two plots, as PNG (matplotlib, for the Markdown report) and one HTML page (plotly, to
explore): conversion by group with intervals, and the cumulative lift with its sequential band.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go
from matplotlib.figure import Figure  # not pyplot: no global state, no display, thread-safe
from matplotlib.ticker import MaxNLocator
from scipy import special

from pipeline.abtest.readout import Readout
from pipeline.experiment import GROUPS

COLORS = {"control": "#7f7f7f", "treatment": "#1f77b4"}


def _group_bars(readout: Readout) -> list[tuple[str, float, float]]:
    """(group, rate, half-width of the per-group normal interval) in percent."""
    z = float(special.ndtri(1 - readout.config.alpha / 2))
    c = readout.primary.conversion
    return [
        (name, p.mean * 100, z * p.std_error * 100)
        for name, p in zip(GROUPS, (c.control, c.treatment), strict=True)
    ]


def _looks(readout: Readout):
    ok = [k for k in readout.sequential.looks if k.message == "ok"]
    weeks = [k.week + 1 for k in ok]
    est = [k.estimate * 100 for k in ok]
    fixed = [(k.fixed_ci.lower * 100, k.fixed_ci.upper * 100) for k in ok]
    seq = [(k.sequential_ci.lower * 100, k.sequential_ci.upper * 100) for k in ok]
    return weeks, est, fixed, seq


def conversion_png(readout: Readout, path: Path) -> Path:
    fig = Figure(figsize=(5, 4), dpi=110)
    ax = fig.subplots()
    bars = _group_bars(readout)
    names = [b[0] for b in bars]
    ax.bar(
        names,
        [b[1] for b in bars],
        yerr=[b[2] for b in bars],
        capsize=8,
        color=[COLORS[n] for n in names],
    )
    level = round((1 - readout.config.alpha) * 100)
    ax.set_ylabel(f"conversion, % (error bars: {level}% CI)")
    ax.set_title("Conversion of users who reached the cart")
    if readout.primary.conversion.message != "ok":
        ax.text(0.5, 0.5, "no comparison possible", transform=ax.transAxes, ha="center")
    fig.tight_layout()
    fig.savefig(path)
    return path


def lift_png(readout: Readout, path: Path) -> Path:
    fig = Figure(figsize=(7, 4), dpi=110)
    ax = fig.subplots()
    weeks, est, fixed, seq = _looks(readout)
    if weeks:
        ax.fill_between(
            weeks,
            [s[0] for s in seq],
            [s[1] for s in seq],
            alpha=0.25,
            color="#1f77b4",
            label="always-valid sequence",
        )
        ax.fill_between(
            weeks,
            [f[0] for f in fixed],
            [f[1] for f in fixed],
            alpha=0.35,
            color="#ff7f0e",
            label="fixed-horizon CI (unsafe to peek)",
        )
        ax.plot(weeks, est, marker="o", color="#1f77b4", label="cumulative lift")
    else:
        ax.text(0.5, 0.5, "no weekly looks available", transform=ax.transAxes, ha="center")
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("week")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("absolute lift in conversion, pp")
    ax.set_title(f"Cumulative lift (N* = {readout.sequential.tuning:,.0f})")
    if weeks:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


def html(readout: Readout, path: Path) -> Path:
    """One self-contained page (plotly.js embedded once: it must open offline)."""
    bars = _group_bars(readout)
    conversion = go.Figure(
        go.Bar(
            x=[b[0] for b in bars],
            y=[b[1] for b in bars],
            error_y={"type": "data", "array": [b[2] for b in bars]},
            marker_color=[COLORS[b[0]] for b in bars],
        )
    )
    conversion.update_layout(title="Conversion by group", yaxis_title="conversion, %")
    weeks, est, fixed, seq = _looks(readout)
    lift = go.Figure()
    for name, band, color in (
        ("always-valid sequence", seq, "rgba(31,119,180,0.25)"),
        ("fixed-horizon CI (unsafe to peek)", fixed, "rgba(255,127,14,0.35)"),
    ):
        lift.add_trace(
            go.Scatter(
                x=weeks,
                y=[b[1] for b in band],
                mode="lines",
                line_width=0,
                showlegend=False,
                hoverinfo="skip",
            )
        )
        lift.add_trace(
            go.Scatter(
                x=weeks,
                y=[b[0] for b in band],
                mode="lines",
                line_width=0,
                fill="tonexty",
                fillcolor=color,
                name=name,
            )
        )
    lift.add_trace(go.Scatter(x=weeks, y=est, mode="lines+markers", name="cumulative lift"))
    lift.add_hline(y=0, line_color="black", line_width=1)
    lift.update_layout(
        title=f"Cumulative lift (N* = {readout.sequential.tuning:,.0f})",
        xaxis_title="week",
        yaxis_title="absolute lift in conversion, pp",
    )
    body = "\n".join(
        [
            "<html><head><meta charset='utf-8'><title>Experiment readout</title></head><body>",
            f"<h1>Experiment readout</h1><p><b>{readout.verdict}</b></p>",
            conversion.to_html(full_html=False, include_plotlyjs=True),
            lift.to_html(full_html=False, include_plotlyjs=False),
            "</body></html>",
        ]
    )
    path.write_text(body)
    return path
