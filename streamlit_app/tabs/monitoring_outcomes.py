"""Monitoring, part one: how the model actually did, its warehouse scores against what the
sessions then did (UI only; numbers: streamlit_app.data.realized)."""

from __future__ import annotations

import pandas as pd
import polars as pl
import streamlit as st

from pipeline.errors import EcomError
from streamlit_app import monitoring_charts as charts
from streamlit_app import resources
from streamlit_app.data import formats as fmt
from streamlit_app.data.monitoring import ModelSummary
from streamlit_app.data.realized import Realized

BAND_NAMES = {"low": "Low risk", "medium": "Medium risk", "high": "High risk"}
GROUP_NAMES = {"control": "Control checkout", "treatment": "Treatment checkout"}


def _rows(frame: pl.DataFrame, label: str, names: dict[str, str] | None = None) -> pd.DataFrame:
    """A realized-metrics frame as people read it."""
    rows = []
    for r in frame.iter_rows(named=True):
        key = str(r["slice"])
        rows.append(
            {
                label: (names or {}).get(key, key),
                "Sessions": fmt.count(r["sessions"]),
                "Predicted abandonment": fmt.pct(r["mean_predicted"], 1),
                "Observed abandonment": fmt.pct(r["observed_rate"], 1),
                "Gap, pp": fmt.pp(
                    None
                    if r["mean_predicted"] is None or r["observed_rate"] is None
                    else r["mean_predicted"] - r["observed_rate"],
                    1,
                ),
                "ROC-AUC": fmt.DASH if r.get("roc_auc") is None else f"{r['roc_auc']:.3f}",
                "Brier score": fmt.DASH if r["brier"] is None else f"{r['brier']:.3f}",
            }
        )
    return pd.DataFrame(rows)


def _weeks_table(weeks: pl.DataFrame) -> pd.DataFrame:
    frame = weeks.with_columns(slice=pl.col("week").dt.strftime("%Y-%m-%d"))
    table = _rows(frame, "Week")
    table.insert(1, "Window", ["training" if t else "after" for t in weeks["in_training"]])
    return table


def _bins_table(bins: pl.DataFrame) -> pd.DataFrame:
    frame = bins.with_columns(
        slice=pl.format(
            "{}–{}%",
            (pl.col("predicted_from") * 100).round(0).cast(pl.Int64),
            (pl.col("predicted_to") * 100).round(0).cast(pl.Int64),
        ),
        roc_auc=pl.lit(None, dtype=pl.Float64),
    )
    table = _rows(frame, "Bin").drop(columns=["ROC-AUC"])
    return table.rename(
        columns={"Predicted abandonment": "Predicted", "Observed abandonment": "Observed"}
    )


def _trained_auc(model: ModelSummary) -> float | None:
    rows = model.metrics.filter((pl.col("split") == "time_split") & (pl.col("scorer") == "model"))
    return None if rows.height == 0 else rows["roc_auc"][0]


def outcomes_section(settings, model: ModelSummary) -> Realized | None:
    st.markdown("#### How the model did")
    st.caption(
        "Every cart session is scored in the warehouse and its outcome (abandoned or bought) "
        "is known once it ends, so these are measured, not estimated."
    )
    key = resources.settings_key(settings)
    through = model.data_window.get("through")
    try:
        realized = resources.realized(
            key,
            model.model_id,
            through,
            model.risk_thresholds["medium"],
            model.risk_thresholds["high"],
        )
    except EcomError as err:
        st.info(
            "No warehouse scores to compare with outcomes yet: whoever runs the pipeline can "
            f"score the sessions with `ecom score`. ({err})",
            icon=":material/query_stats:",
        )
        return None
    if realized.is_empty:
        st.info(
            f"The warehouse holds no scores from {model.model_id} yet: score the sessions with "
            "`ecom score` to see how it did.",
            icon=":material/query_stats:",
        )
        return None
    overall = realized.overall.row(0, named=True) if realized.overall.height else None
    if overall is None:
        st.caption(f"No sessions after the training window (through {through}) yet.")
    else:
        cols = st.columns(5)
        trained = _trained_auc(model)
        cols[0].metric(
            "Sessions after training",
            fmt.count(overall["sessions"]),
            help=f"Cart sessions after the training window (through {through}): the model "
            "never saw them.",
        )
        auc = overall["roc_auc"]
        change = None if trained is None or auc is None else auc - trained
        cols[1].metric(
            "Realized ROC-AUC",
            fmt.DASH if auc is None else f"{auc:.3f}",
            delta=None if change is None or abs(change) < 0.001 else f"{change:+.3f} vs training",
            help="The chance the model scores an abandoned cart above a bought one (0.5: no "
            "better than chance)."
            + (
                "" if trained is None else f" At training, on later months held out: {trained:.3f}."
            ),
        )
        cols[2].metric(
            "Brier score",
            f"{overall['brier']:.3f}",
            help="Mean squared gap between the predicted probability and the outcome (0 is "
            "perfect; lower is better).",
        )
        cols[3].metric(
            "Predicted abandonment",
            fmt.pct(overall["mean_predicted"], 1),
            help="The mean predicted probability over these sessions.",
        )
        cols[4].metric(
            "Observed abandonment",
            fmt.pct(overall["observed_rate"], 1),
            help="The share of these carts actually abandoned: calibrated when it is close to "
            "the predicted one.",
        )
    data, specs = charts.realized_by_week(realized.weeks)
    left, right = st.columns(2)
    left.vega_lite_chart(data, specs[0], width="stretch")
    right.vega_lite_chart(data, specs[1], width="stretch")
    with st.expander("Calibration by week"):
        st.dataframe(_weeks_table(realized.weeks), hide_index=True, width="stretch")
    st.markdown(f"**After training, by segment** (sessions after {fmt.month_label(through)})")
    st.dataframe(
        pd.concat(
            [
                _rows(realized.groups, "Segment", GROUP_NAMES),
                _rows(realized.bands, "Segment", BAND_NAMES),
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    left, right = st.columns([3, 2])
    with left:
        st.markdown("**Calibration table** (after training, by predicted probability)")
        st.dataframe(_bins_table(realized.calibration), hide_index=True, width="stretch")
    with right:
        st.vega_lite_chart(*charts.calibration_curve(realized.calibration), width="stretch")
    return realized
