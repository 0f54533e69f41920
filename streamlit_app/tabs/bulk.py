"""Bulk Prediction: upload sessions as CSV, score them through /bulk_predict, download."""

from __future__ import annotations

import hashlib
import io
import math

import polars as pl
import streamlit as st

from pipeline.serving.features import FEATURES
from pipeline.settings import Settings
from streamlit_app import resources
from streamlit_app.data.api_client import ApiError, ApiUnavailable
from streamlit_app.data.bulk import check_upload, template_csv

PREVIEW_ROWS = 50
MB = 1024 * 1024


def _score(settings: Settings, name: str, content: bytes) -> None:
    """Call the API once per file; the answer (or error) stays in the session."""
    digest = hashlib.sha256(content).hexdigest()
    try:
        scored = resources.api(settings).bulk_predict_csv(name, content)
        st.session_state["bulk_result"] = {"digest": digest, "name": name, "csv": scored}
    except ApiUnavailable as err:
        st.session_state["bulk_result"] = {"digest": digest, "unavailable": str(err)}
    except ApiError as err:
        st.session_state["bulk_result"] = {
            "digest": digest,
            "status": err.status,
            "detail": err.detail,
            "errors": err.errors,
        }


def show_result(result: dict) -> None:
    if "unavailable" in result:
        st.warning(f"Scoring is unavailable: {result['unavailable']}", icon=":material/cloud_off:")
        return
    if "detail" in result:
        st.error(
            f"The API rejected the file ({result['status']}): {result['detail']}",
            icon=":material/error:",
        )
        if result["errors"]:
            st.markdown("**Rows to fix**")
            st.dataframe(
                pl.DataFrame(
                    result["errors"],
                    strict=False,
                    schema={"row": pl.Int64, "field": pl.String, "message": pl.String},
                ).to_pandas(),
                hide_index=True,
                width="stretch",
            )
        return
    scored = pl.read_csv(io.BytesIO(result["csv"]), infer_schema_length=10000)
    bands = (
        scored["risk_band"].value_counts().sort("risk_band")
        if "risk_band" in scored.columns
        else pl.DataFrame()
    )
    cols = st.columns(4)
    cols[0].metric("Sessions scored", f"{scored.height:,}")
    for i, band in enumerate(("low", "medium", "high"), start=1):
        n = int(bands.filter(pl.col("risk_band") == band)["count"].sum()) if bands.height else 0
        cols[i].metric(f"{band.capitalize()} risk", f"{n:,}")
    st.download_button(
        "Download scored CSV",
        result["csv"],
        file_name=result["name"].removesuffix(".csv") + "_scored.csv",
        mime="text/csv",
        key="dl_scored",
        type="primary",
        icon=":material/download:",
    )
    st.markdown(f"**Preview** (first {min(PREVIEW_ROWS, scored.height)} of {scored.height:,})")
    st.dataframe(scored.head(PREVIEW_ROWS).to_pandas(), hide_index=True, width="stretch")


def render(settings: Settings) -> None:
    st.subheader("Bulk Prediction: score a file of cart sessions")
    st.caption(
        f"A CSV with the columns {', '.join(FEATURES)} (one session a row; an empty cell is "
        f"a missing value), at most {settings.bulk_max_rows:,} rows and "
        f"{settings.bulk_max_bytes / MB:.0f} MB. Scored by `POST /bulk_predict` at "
        f"{settings.api_url}."
    )
    st.download_button(
        "Download a template CSV",
        template_csv(),
        file_name="sessions.csv",
        mime="text/csv",
        key="dl_template",
        icon=":material/description:",
    )
    upload = st.file_uploader(
        "Sessions CSV",
        type=["csv"],
        key="bulk_file",
        max_upload_size=max(1, math.ceil(settings.bulk_max_bytes / MB)),
    )
    if upload is None:
        st.session_state.pop("bulk_result", None)
        return
    content = upload.getvalue()
    check = check_upload(
        content, max_bytes=settings.bulk_max_bytes, max_rows=settings.bulk_max_rows
    )
    if not check.ok:
        st.error(check.message, icon=":material/block:")
        return
    st.caption(f"{upload.name}: {check.message}")
    if st.button("Score the file", type="primary", key="bulk_score", icon=":material/bolt:"):
        with st.spinner(f"Scoring {check.rows:,} sessions…"):
            _score(settings, upload.name, content)
    result = st.session_state.get("bulk_result")
    if result and result["digest"] == hashlib.sha256(content).hexdigest():
        show_result(result)
