"""Bulk Prediction: upload sessions as CSV (commas or semicolons, any extra columns), score them
through /bulk_predict in batches with a progress bar, download (UI only; data: .data.bulk)."""

from __future__ import annotations

import hashlib
import io

import polars as pl
import streamlit as st

from pipeline.serving.features import FEATURES
from pipeline.settings import Settings
from streamlit_app import resources
from streamlit_app.data.api_client import ApiError, ApiUnavailable
from streamlit_app.data.bulk import UploadCheck, check_upload, file_size, template_csv

PREVIEW_ROWS = 50
MB = 1024 * 1024
RESULT = "bulk_result"


def api_status(settings: Settings) -> bool:
    """Whether scoring can work now, said before anything is uploaded."""
    ready, status = resources.api_status(settings.api_url, settings.api_key)
    if ready:
        st.success(f"The scoring API is ready (model {status}).", icon=":material/cloud_done:")
    else:
        st.warning(
            f"Scoring is unavailable right now: {status} You can still check a file here.",
            icon=":material/cloud_off:",
        )
    return ready


def _score(settings: Settings, name: str, digest: str, check: UploadCheck) -> None:
    """Score every batch; the answer (or error) stays in the session for this file."""
    bar = st.progress(0.0, text=f"Scoring {check.rows:,} sessions…")

    def progress(done: int, total: int) -> None:
        bar.progress(done / total, text=f"Scored {done:,} of {total:,} sessions")

    from streamlit_app.data.bulk import score_in_batches

    api = resources.api(settings)
    try:
        scored = score_in_batches(
            check,
            lambda body: api.bulk_predict_csv(name, body),
            settings.bulk_max_rows,
            settings.bulk_max_bytes,
            progress,
        )
        st.session_state[RESULT] = {"digest": digest, "name": name, "csv": scored}
    except ApiUnavailable as err:
        st.session_state[RESULT] = {"digest": digest, "unavailable": str(err)}
    except ApiError as err:
        st.session_state[RESULT] = {
            "digest": digest,
            "status": err.status,
            "detail": err.detail,
            "errors": err.errors,
        }
    except ValueError as err:  # a single row over the API's byte limit
        st.session_state[RESULT] = {
            "digest": digest,
            "status": 413,
            "detail": str(err),
            "errors": [],
        }
    bar.empty()


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
            st.markdown("**Rows to fix** (row numbers count the file's sessions from 1)")
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
    scored = pl.read_csv(io.BytesIO(result["csv"]), infer_schema=False)
    counts = (
        dict(scored["risk_band"].value_counts().iter_rows())
        if "risk_band" in scored.columns
        else {}
    )
    cols = st.columns(4)
    cols[0].metric("Sessions scored", f"{scored.height:,}")
    for i, band in enumerate(("low", "medium", "high"), start=1):
        cols[i].metric(f"{band.capitalize()} risk", f"{counts.get(band, 0):,}")
    st.download_button(
        "Download scored CSV",
        result["csv"],
        file_name=result["name"].rsplit(".", 1)[0] + "_scored.csv",
        mime="text/csv",
        key="dl_scored",
        type="primary",
        icon=":material/download:",
    )
    st.markdown(f"**Preview** (first {min(PREVIEW_ROWS, scored.height)} of {scored.height:,})")
    st.dataframe(scored.head(PREVIEW_ROWS).to_pandas(), hide_index=True, width="stretch")


def render(settings: Settings) -> None:
    st.subheader("Bulk Prediction: score a file of cart sessions")
    api_status(settings)
    st.caption(
        f"A CSV with the columns {', '.join(FEATURES)} (one session a row; an empty cell is a "
        "missing value), separated by commas or semicolons. Other columns, such as an id, "
        f"come back beside the scores. Files up to {settings.app_upload_max_mb} MB; large ones "
        f"are scored in batches of up to {settings.bulk_max_rows:,} sessions."
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
        # No max_upload_size: the browser's own limit is Streamlit's (200 MB), above this
        # page's, so a file over the page's limit arrives, replaces the previous one and is
        # told why not here (a file the browser refuses keeps the previous one on the page).
        help=f"At most {settings.app_upload_max_mb} MB: split a larger file and upload the "
        "parts one by one.",
    )
    if upload is None:
        st.session_state.pop(RESULT, None)  # no file: no message of an earlier one
        return
    content = upload.getvalue()
    digest = hashlib.sha256(content).hexdigest()
    result = st.session_state.get(RESULT)
    if result and result["digest"] != digest:
        st.session_state.pop(RESULT)  # another file: the last one's answer goes
        result = None
    if len(content) > settings.app_upload_max_mb * MB:
        st.error(
            f"The file is {file_size(len(content))}; this page takes at most "
            f"{settings.app_upload_max_mb} MB. Split it and upload the parts one by one.",
            icon=":material/block:",
        )
        return
    check = check_upload(content)
    if not check.ok:
        st.error(check.message, icon=":material/block:")
        return
    st.caption(f"{upload.name}: {check.message}")
    if st.button("Score the file", type="primary", key="bulk_score", icon=":material/bolt:"):
        _score(settings, upload.name, digest, check)
        result = st.session_state.get(RESULT)
    if result:
        show_result(result)
