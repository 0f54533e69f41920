"""Vega-Lite charts of the dashboard's frames (presentation only: the numbers come computed).

Vega-Lite rather than Plotly: the browser fetches and parses about 0.8 MB of chart library
instead of 4.7 MB, a redraw after a filter change is a fraction of Plotly's, and a spec is a
dict built in microseconds (a Plotly figure took ~0.1 s each to validate on every rerun). Each
function returns (data, spec) for `st.vega_lite_chart`: the frame travels as Arrow, a few
hundred rows at most.
"""

from __future__ import annotations

import polars as pl

from pipeline.abtest.plots import COLORS
from pipeline.experiment import CONTROL, GROUPS, TREATMENT

STAGE_LABELS = {
    "users": "In the experiment",
    "reached_cart": "Reached the cart",
    "bought": "Bought (after reaching the cart)",
}
BAND_FIXED = "rgba(255, 127, 14, 0.30)"
BAND_SEQUENTIAL = "rgba(31, 119, 180, 0.18)"
HEIGHT = 360  # the whole chart (title, legend, axes included: Streamlit fits it)
GROUP_NAMES = [g.capitalize() for g in GROUPS]
GROUP_SCALE = {"domain": GROUP_NAMES, "range": [COLORS[g] for g in GROUPS]}
# Every chart's text in Streamlit's body colour: 12.6:1 on white, far above WCAG AA's 4.5:1
# (Streamlit's own chart theme draws axis labels in a lighter grey).
TEXT = "#31333F"
GRID = "#e6e6eb"
CONFIG = {
    "axis": {
        "labelColor": TEXT,
        "titleColor": TEXT,
        "labelFontSize": 12,
        "titleFontSize": 12,
        "gridColor": GRID,
        "labelFlush": True,  # the first and last labels stay inside the chart
    },
    "legend": {"labelColor": TEXT, "titleColor": TEXT, "labelFontSize": 12},
    "title": {"color": TEXT, "subtitleColor": TEXT},
    "text": {"color": TEXT},
}
# Month labels on time axes: a tick at each month's start, written "Nov 2019".
MONTH_AXIS = {"format": "%b %Y", "tickCount": {"interval": "month", "step": 1}, "labelAngle": 0}
# The funnel's x scale reaches this far past the longest bar, so its label is never clipped.
LABEL_ROOM = 1.55


def chart_title(text: str) -> dict:
    return {"text": text, "fontSize": 15, "anchor": "start", "color": TEXT}


def _zero_rule() -> dict:
    return {
        "mark": {"type": "rule", "color": "#444", "strokeDash": [2, 3]},
        "encoding": {"y": {"datum": 0}},
    }


# Room inside the chart's edge: a flush last axis label's glyphs can reach a pixel past it.
PADDING = {"left": 5, "top": 5, "right": 10, "bottom": 5}


def chart_spec(**spec) -> dict:
    return {"config": CONFIG, "padding": PADDING, **spec}


def funnel(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Per step, a bar per group with its count and its share of the step before."""
    data = frame.select(
        pl.col("experiment_group").str.to_titlecase().alias("group"),
        pl.col("stage").replace_strict(STAGE_LABELS).alias("stage"),
        "count",
        pl.col("share_of_previous").alias("share"),
    )
    data = data.with_columns(
        pl.struct("count", "share", "stage")
        .map_elements(
            lambda r: (
                f"{r['count']:,}"
                + (
                    ""  # the first step is everyone: no share to show
                    if r["share"] is None or r["stage"] == STAGE_LABELS["users"]
                    else f" · {r['share'] * 100:.2f}%"
                )
            ),
            return_dtype=pl.String,
        )
        .alias("label")
    )
    top = max(int(data["count"].max() or 0), 1)
    y = {"field": "stage", "type": "nominal", "sort": list(STAGE_LABELS.values()), "title": None}
    spec = chart_spec(
        title=chart_title("Funnel by group (users; % of the step before)"),
        height=HEIGHT,
        encoding={
            "y": {**y, "axis": {"labelLimit": 220}},
            "yOffset": {"field": "group", "sort": GROUP_NAMES},
            "x": {
                "field": "count",
                "type": "quantitative",
                "title": "users",
                "scale": {"domain": [0, top * LABEL_ROOM], "nice": True},
                "axis": {"format": ",d", "tickCount": 4},
            },
            "tooltip": [
                {"field": "group"},
                {"field": "stage"},
                {"field": "count", "format": ","},
                {"field": "share", "format": ".2%", "title": "share of the step before"},
            ],
        },
        layer=[
            {
                "mark": "bar",
                "encoding": {
                    "color": {
                        "field": "group",
                        "scale": GROUP_SCALE,
                        "legend": {"orient": "bottom", "title": None},
                    }
                },
            },
            {
                "mark": {"type": "text", "align": "left", "dx": 4, "fontSize": 12, "color": TEXT},
                "encoding": {"text": {"field": "label"}},
            },
        ],
    )
    return data, spec


def cumulative_lift(frame: pl.DataFrame, alpha: float) -> tuple[pl.DataFrame, dict]:
    """Cumulative absolute lift (pp) at each weekly look, with the fixed-horizon CI and the
    always-valid band."""
    level = round((1 - alpha) * 100)
    sequential = f"always-valid {level}% band (safe to peek)"
    fixed = f"fixed-horizon {level}% CI (valid at one planned look)"
    lift = "cumulative lift"
    columns = ("lift", "fixed_lower", "fixed_upper", "sequential_lower", "sequential_upper")
    data = frame.drop_nulls("lift").select("week", "week_end", *(pl.col(c) * 100 for c in columns))
    color = {
        "scale": {
            "domain": [sequential, fixed, lift],
            "range": [BAND_SEQUENTIAL, BAND_FIXED, COLORS[TREATMENT]],
        },
        "legend": {"orient": "bottom", "direction": "vertical", "title": None, "labelLimit": 400},
    }
    x = {
        "field": "week_end",
        "type": "temporal",
        "title": "end of the weekly look",
        "axis": MONTH_AXIS,
    }

    def band(lower: str, upper: str, name: str) -> dict:
        return {
            "mark": {"type": "area"},
            "encoding": {
                "y": {"field": lower, "type": "quantitative"},
                "y2": {"field": upper},
                "color": {"datum": name, **color},
            },
        }

    spec = {
        "config": CONFIG,
        "title": chart_title("Cumulative lift in conversion by week (Treatment − Control, pp)"),
        "height": HEIGHT,
        "encoding": {"x": x},
        "layer": [
            band("sequential_lower", "sequential_upper", sequential),
            band("fixed_lower", "fixed_upper", fixed),
            {
                "mark": {"type": "line", "point": True, "strokeWidth": 2},
                "encoding": {
                    "y": {"field": "lift", "type": "quantitative", "title": "percentage points"},
                    "color": {"datum": lift, **color},
                    "tooltip": [
                        {"field": "week", "title": "week"},
                        {"field": "week_end", "type": "temporal", "title": "end"},
                        {"field": "lift", "format": "+.2f", "title": "lift, pp"},
                        {"field": "fixed_lower", "format": "+.2f", "title": "fixed CI low"},
                        {"field": "fixed_upper", "format": "+.2f", "title": "fixed CI high"},
                        {"field": "sequential_lower", "format": "+.2f", "title": "band low"},
                        {"field": "sequential_upper", "format": "+.2f", "title": "band high"},
                    ],
                },
            },
            _zero_rule(),
        ],
    }
    return data, spec


def daily_effect(frame: pl.DataFrame, window_days: int) -> tuple[pl.DataFrame, list[dict]]:
    """Per day of first cart, each group's share who bought within `window_days` of it (top
    chart), and the day's lift with its interval (bottom chart), over the same days (two
    charts: each stretches to the page's width)."""
    pct = ("control_conversion", "treatment_conversion", "lift", "lift_lower", "lift_upper")
    data = frame.select("day", *(pl.col(c) * 100 for c in pct)).rename(
        {"control_conversion": CONTROL.capitalize(), "treatment_conversion": TREATMENT.capitalize()}
    )
    x = {"field": "day", "type": "temporal", "title": "day of the first cart", "axis": MONTH_AXIS}
    conversion = {
        "config": CONFIG,
        "title": chart_title(
            f"Bought within {window_days} days of the first cart, by day of first cart, %"
        ),
        "height": 280,
        "transform": [{"fold": GROUP_NAMES, "as": ["group", "conversion"]}],
        "mark": {"type": "line", "strokeWidth": 1.5},
        "encoding": {
            "x": x,
            "y": {"field": "conversion", "type": "quantitative", "title": "%"},
            "color": {
                "field": "group",
                "scale": GROUP_SCALE,
                "legend": {"orient": "top", "title": None},
            },
            "tooltip": [
                {"field": "day", "type": "temporal"},
                {"field": "group"},
                {
                    "field": "conversion",
                    "format": ".2f",
                    "title": f"bought within {window_days} days, %",
                },
            ],
        },
    }
    lift = {
        "config": CONFIG,
        "title": chart_title(f"Lift by day of first cart, pp (95% CI; {window_days}-day window)"),
        "height": 240,
        "encoding": {"x": x},
        "layer": [
            {
                "mark": {"type": "area", "color": BAND_FIXED},
                "encoding": {
                    "y": {"field": "lift_lower", "type": "quantitative", "title": "pp"},
                    "y2": {"field": "lift_upper"},
                },
            },
            {
                "mark": {"type": "line", "color": COLORS[TREATMENT], "strokeWidth": 1.5},
                "encoding": {
                    "y": {"field": "lift", "type": "quantitative"},
                    "tooltip": [
                        {"field": "day", "type": "temporal"},
                        {"field": "lift", "format": "+.2f", "title": "lift, pp"},
                        {"field": "lift_lower", "format": "+.2f", "title": "CI low"},
                        {"field": "lift_upper", "format": "+.2f", "title": "CI high"},
                    ],
                },
            },
            _zero_rule(),
        ],
    }
    return data, [conversion, lift]


SEGMENT_PICK = "segment_pick"  # the segment chart's click selection (a drill-down)


def segment_lifts(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Each segment's lift (pp) with its 95% interval, one bar per segment, grouped by
    dimension; a click selects the bar's (dimension, segment)."""
    from streamlit_app.data.formats import dimension_label

    data = frame.drop_nulls("lift").select(
        "dimension",
        "segment",
        pl.col("dimension").map_elements(dimension_label, return_dtype=pl.String).alias("by"),
        "label",
        (pl.col("lift") * 100).alias("lift"),
        (pl.col("lift_lower") * 100).alias("low"),
        (pl.col("lift_upper") * 100).alias("high"),
        pl.when(pl.col("in_family"))
        .then(pl.lit("the readout's tests"))
        .otherwise(pl.lit("extra view (not adjusted)"))
        .alias("family"),
    )
    order = data["label"].to_list()
    y = {
        "field": "label",
        "type": "nominal",
        "sort": order,
        "title": None,
        "axis": {"labelLimit": 200},
    }
    spec = chart_spec(
        title=chart_title("Lift by segment, pp (95% CI) — click a bar to filter the page to it"),
        height={"step": 26},
        encoding={"y": y},
        layer=[
            {
                # In the bar layer, not at the top: a top-level selection would be made once
                # per layer (Vega's "duplicate signal").
                "params": [
                    {
                        "name": SEGMENT_PICK,
                        "select": {"type": "point", "fields": ["dimension", "segment"]},
                    }
                ],
                "mark": {"type": "bar", "cursor": "pointer", "height": {"band": 0.7}},
                "encoding": {
                    "x": {
                        "field": "lift",
                        "type": "quantitative",
                        "title": "lift, pp",
                        "axis": {"tickCount": 8},
                    },
                    "color": {
                        "field": "family",
                        "scale": {
                            "domain": ["the readout's tests", "extra view (not adjusted)"],
                            "range": [COLORS[TREATMENT], "#9ecae1"],
                        },
                        "legend": {"orient": "bottom", "title": None},
                    },
                    "opacity": {"condition": {"param": SEGMENT_PICK, "value": 1}, "value": 0.5},
                    "tooltip": [
                        {"field": "by", "title": "dimension"},
                        {"field": "label", "title": "segment"},
                        {"field": "lift", "format": "+.2f", "title": "lift, pp"},
                        {"field": "low", "format": "+.2f", "title": "CI low"},
                        {"field": "high", "format": "+.2f", "title": "CI high"},
                    ],
                },
            },
            {
                "mark": {"type": "rule", "color": TEXT},
                "encoding": {
                    "x": {"field": "low", "type": "quantitative"},
                    "x2": {"field": "high"},
                },
            },
            {
                "mark": {"type": "rule", "color": "#444", "strokeDash": [2, 3]},
                "encoding": {"x": {"datum": 0}},
            },
        ],
    )
    return data, spec
