"""Vega-Lite charts of the Monitoring tab (presentation only: the numbers come computed), in
the dashboard's style (streamlit_app.charts: text colour, month axes)."""

from __future__ import annotations

import polars as pl

from pipeline.abtest.plots import COLORS
from pipeline.experiment import TREATMENT
from streamlit_app.charts import MONTH_AXIS, TEXT, chart_spec, chart_title

WINDOW_COLORS = {"training window": "#7f7f7f", "after training": COLORS[TREATMENT]}
DRIFT_COLORS = {"stable": "#e3eef8", "drifted": "#d62728"}


def realized_by_week(weeks: pl.DataFrame) -> tuple[pl.DataFrame, list[dict]]:
    """Per week: the realized ROC-AUC (top) and the predicted against the observed abandonment
    rate (bottom), training weeks in grey."""
    data = weeks.select(
        "week",
        pl.when(pl.col("in_training"))
        .then(pl.lit("training window"))
        .otherwise(pl.lit("after training"))
        .alias("window"),
        "sessions",
        "roc_auc",
        "brier",
        (pl.col("mean_predicted") * 100).alias("Predicted"),
        (pl.col("observed_rate") * 100).alias("Observed"),
    )
    x = {"field": "week", "type": "temporal", "title": "week (Monday)", "axis": MONTH_AXIS}
    color = {
        "field": "window",
        "scale": {"domain": list(WINDOW_COLORS), "range": list(WINDOW_COLORS.values())},
        "legend": {"orient": "top", "title": None},
    }
    auc = chart_spec(
        title=chart_title("Realized ROC-AUC by week"),
        height=240,
        mark={"type": "line", "point": True, "strokeWidth": 1.5},
        encoding={
            "x": x,
            "y": {
                "field": "roc_auc",
                "type": "quantitative",
                "title": "ROC-AUC",
                "scale": {"zero": False},
            },
            "color": color,
            "tooltip": [
                {"field": "week", "type": "temporal"},
                {"field": "sessions", "format": ","},
                {"field": "roc_auc", "format": ".3f", "title": "ROC-AUC"},
                {"field": "brier", "format": ".3f", "title": "Brier score"},
            ],
        },
    )
    calibration = chart_spec(
        title=chart_title("Predicted and observed abandonment by week, %"),
        height=240,
        transform=[{"fold": ["Predicted", "Observed"], "as": ["rate", "percent"]}],
        mark={"type": "line", "strokeWidth": 1.5},
        encoding={
            "x": x,
            "y": {
                "field": "percent",
                "type": "quantitative",
                "title": "%",
                "scale": {"zero": False},
            },
            "strokeDash": {"field": "rate", "legend": {"orient": "top", "title": None}},
            "color": {"value": COLORS[TREATMENT]},
            "tooltip": [
                {"field": "week", "type": "temporal"},
                {"field": "rate"},
                {"field": "percent", "format": ".1f", "title": "%"},
            ],
        },
    )
    return data, [auc, calibration]


def calibration_curve(bins: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Observed against predicted abandonment per tenth of the prediction, on the diagonal
    when calibrated."""
    data = bins.select(
        (pl.col("mean_predicted") * 100).alias("predicted"),
        (pl.col("observed_rate") * 100).alias("observed"),
        "sessions",
    )
    axis = {"type": "quantitative", "scale": {"domain": [0, 100]}}
    spec = chart_spec(
        title=chart_title("Calibration after training: observed vs predicted, %"),
        height=300,
        layer=[
            {
                "data": {
                    "values": [{"predicted": 0, "observed": 0}, {"predicted": 100, "observed": 100}]
                },
                "mark": {"type": "line", "color": "#888", "strokeDash": [4, 4]},
                "encoding": {
                    "x": {"field": "predicted", **axis},
                    "y": {"field": "observed", **axis},
                },
            },
            {
                "mark": {"type": "circle", "color": COLORS[TREATMENT], "opacity": 0.8},
                "encoding": {
                    "x": {"field": "predicted", "title": "predicted abandonment, %", **axis},
                    "y": {"field": "observed", "title": "observed abandonment, %", **axis},
                    "size": {"field": "sessions", "type": "quantitative", "legend": None},
                    "tooltip": [
                        {"field": "predicted", "format": ".1f"},
                        {"field": "observed", "format": ".1f"},
                        {"field": "sessions", "format": ","},
                    ],
                },
            },
        ],
    )
    return data, spec


def drift_trend(trend: pl.DataFrame) -> tuple[pl.DataFrame, dict]:
    """Months across, features down: drifted or stable in the newest check of each month."""
    label = pl.col("month").str.strptime(pl.Date, "%Y-%m").dt.strftime("%b %Y")
    data = trend.sort("month").select(
        pl.when(pl.col("in_training"))
        .then(pl.format("{} (trained on)", label))
        .otherwise(label)
        .alias("month"),
        "feature",
        pl.when(pl.col("drifted"))
        .then(pl.lit("drifted"))
        .otherwise(pl.lit("stable"))
        .alias("state"),
        "method",
        "score",
    )
    months = data["month"].unique(maintain_order=True).to_list()
    spec = chart_spec(
        title=chart_title("Drift by month (the newest check of each month)"),
        height={"step": 34},
        encoding={
            "x": {
                "field": "month",
                "type": "ordinal",
                "sort": months,
                "title": None,
                "axis": {"orient": "top", "labelAngle": 0},
            },
            "y": {
                "field": "feature",
                "type": "nominal",
                "title": None,
                "axis": {"labelLimit": 320},
            },
        },
        layer=[
            {
                "mark": {"type": "rect", "stroke": "white", "strokeWidth": 2},
                "encoding": {
                    "color": {
                        "field": "state",
                        "scale": {
                            "domain": list(DRIFT_COLORS),
                            "range": list(DRIFT_COLORS.values()),
                        },
                        "legend": {"orient": "bottom", "title": None},
                    },
                    "tooltip": [
                        {"field": "month"},
                        {"field": "feature"},
                        {"field": "state"},
                        {"field": "method"},
                        {"field": "score", "format": ".3g"},
                    ],
                },
            },
            {
                "mark": {"type": "text", "fontSize": 12},
                "encoding": {
                    "text": {"field": "state"},
                    "color": {
                        "condition": {"test": "datum.state === 'drifted'", "value": "white"},
                        "value": TEXT,
                    },
                },
            },
        ],
    )
    return data, spec
