"""The Bulk Prediction tab through AppTest: upload, score through /bulk_predict, download; bad
files get specific messages; row errors come back as a table; the API down is reported."""

from __future__ import annotations

import httpx
import polars as pl
import pytest

from streamlit_app.data.bulk import template_csv
from tests.app.apptest import Downloads, metric, no_exception, open_app, texts
from tests.app.conftest import KEY_HEADER, Pipeline

BULK = "Bulk Prediction"
HEADER = "total_views,total_carts,session_duration_minutes,experiment_group"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


def sessions_csv(n: int = 40) -> bytes:
    rows = [
        f"{i % 9},{1 + i % 4},{(i * 7) % 90 + 0.5},{'treatment' if i % 2 else 'control'}"
        for i in range(n)
    ]
    rows[3] = "5,2,,control"  # a missing duration is allowed
    return ("\ufeff" + HEADER + "\r\n" + "\r\n".join(rows) + "\r\n").encode()


def upload(at, name: str, content: bytes):
    at.get("file_uploader")[0].set_value((name, content, "text/csv"))
    return at.run()


def test_upload_score_and_download_equals_the_apis_answer(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    downloads = Downloads(monkeypatch)
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=BULK)
    no_exception(at)
    assert downloads.of(at.download_button(key="dl_template")).data == template_csv()
    content = sessions_csv()
    at = upload(at, "sessions.csv", content)
    no_exception(at)
    assert any("40 sessions" in c for c in texts(at, "caption"))
    at.button(key="bulk_score").click().run()
    no_exception(at)
    assert metric(at, "Sessions scored") == "40"
    direct = httpx.post(
        f"{api_server.url}/bulk_predict",
        files={"file": ("sessions.csv", content, "text/csv")},
        headers={"Accept": "text/csv", **KEY_HEADER},
        timeout=60,
    )
    direct.raise_for_status()
    got = downloads.of(at.download_button(key="dl_scored"))
    assert got.file_name == "sessions_scored.csv"
    assert got.data == direct.content
    lines = got.data.decode().splitlines()
    assert lines[0].endswith("abandonment_probability,risk_band,model_id")
    assert len(lines) == 41
    bands = [line.split(",")[-2] for line in lines[1:]]
    for band in ("low", "medium", "high"):
        assert metric(at, f"{band.capitalize()} risk") == str(bands.count(band))
    preview = at.dataframe[0].value
    assert len(preview) == 40


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (PNG, "This is not a CSV file"),
        (b"views,carts\n1,2\n", "The header lacks total_views, total_carts"),
        (b"", "The file is empty"),
        ((HEADER + "\n").encode(), "has a header but no sessions"),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "not UTF-8 text"),
    ],
    ids=["binary", "wrong-columns", "empty", "header-only", "utf16"],
)
def test_bad_files_get_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str, content, message
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url, tab=BULK)
    at = upload(at, "upload.csv", content)
    no_exception(at)
    assert any(message in e for e in texts(at, "error")), texts(at, "error")
    assert not [b for b in at.button if b.key == "bulk_score"]


def test_a_file_over_the_api_limits_is_scored_in_batches_with_its_other_columns(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    """Semicolons, decimal commas, an id and a segment column, and ten times the API's row
    limit per call: scored in batches; the id and segment come back first, row by row, beside
    the very scores the API gives the whole file."""
    n = 100
    rows = [
        f"s-{i:03d};{i % 9};{1 + i % 4};{(i * 7) % 90},5;"
        f"{'treatment' if i % 2 else 'control'};seg {i % 3}"
        for i in range(n)
    ]
    header = "session_ref;" + HEADER.replace(",", ";") + ";segment"
    content = (header + "\n" + "\n".join(rows) + "\n").encode()
    downloads = Downloads(monkeypatch)
    at = open_app(
        monkeypatch, pipeline_run.data_dir, api_server.url, tab=BULK, ECOM_BULK_MAX_ROWS="10"
    )
    assert any("The scoring API is ready" in s for s in texts(at, "success"))
    at = upload(at, "sessions.csv", content)
    no_exception(at)
    assert any(
        f"{n} sessions, semicolon-separated; session_ref, segment will come back" in c
        for c in texts(at, "caption")
    )
    at.button(key="bulk_score").click().run()
    no_exception(at)
    assert metric(at, "Sessions scored") == f"{n}"
    got = downloads.of(at.download_button(key="dl_scored"))
    scored = pl.read_csv(got.data, infer_schema=False)
    assert scored.columns[:2] == ["session_ref", "segment"]
    assert scored["session_ref"].to_list() == [f"s-{i:03d}" for i in range(n)]
    assert scored["segment"].to_list() == [f"seg {i % 3}" for i in range(n)]
    plain = "\n".join(
        [HEADER]
        + [
            f"{i % 9},{1 + i % 4},{(i * 7) % 90}.5,{'treatment' if i % 2 else 'control'}"
            for i in range(n)
        ]
    )
    direct = httpx.post(
        f"{api_server.url}/bulk_predict",
        files={"file": ("plain.csv", plain.encode(), "text/csv")},
        headers={"Accept": "text/csv", **KEY_HEADER},
        timeout=60,
    )
    direct.raise_for_status()
    whole = pl.read_csv(direct.content, infer_schema=False)
    assert scored.drop("session_ref", "segment").equals(whole)


def test_the_last_files_message_goes_and_a_file_over_the_upload_limit_is_said(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    at = open_app(
        monkeypatch, pipeline_run.data_dir, api_server.url, tab=BULK, ECOM_APP_UPLOAD_MAX_MB="1"
    )
    at = upload(at, "sessions.csv", sessions_csv(12))
    at.button(key="bulk_score").click().run()
    assert metric(at, "Sessions scored") == "12"
    at = upload(at, "other.csv", sessions_csv(7))  # another file: the last answer goes
    no_exception(at)
    assert not at.metric and not texts(at, "error")
    assert any("7 sessions" in c for c in texts(at, "caption"))
    at = upload(at, "broken.csv", b"views,carts\n1,2\n")
    assert len(texts(at, "error")) == 1 and not any("7 sessions" in c for c in texts(at, "caption"))
    at = upload(at, "big.csv", b"x" * (1024 * 1024 + 1))
    (error,) = texts(at, "error")
    assert "at most 1 MB" in error and "Split it" in error


def test_invalid_rows_come_back_as_a_table(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, api_server
) -> None:
    content = (HEADER + "\n3,1,12.5,treatment\n2,0,5.0,control\n4,1,3.0,purple\n").encode()
    at = open_app(monkeypatch, pipeline_run.data_dir, api_server.url, tab=BULK)
    at = upload(at, "bad_rows.csv", content)
    at.button(key="bulk_score").click().run()
    no_exception(at)
    assert any("The API rejected the file (422)" in e for e in texts(at, "error"))
    table = at.dataframe[0].value
    assert sorted(table["row"].tolist()) == [2, 3]
    assert set(table["field"]) == {"total_carts", "experiment_group"}
    assert not [b for b in at.download_button if b.key == "dl_scored"]


def test_api_down_is_said_before_upload_and_while_scoring(
    monkeypatch: pytest.MonkeyPatch, pipeline_run: Pipeline, refused_url: str
) -> None:
    at = open_app(monkeypatch, pipeline_run.data_dir, refused_url, tab=BULK)
    (status,) = [
        w for w in texts(at, "warning") if w.startswith("Scoring is unavailable right now")
    ]
    assert "not reachable" in status and "Errno" not in status
    at = upload(at, "sessions.csv", sessions_csv(5))
    at.button(key="bulk_score").click().run()
    no_exception(at)
    assert any("Scoring is unavailable" in w and "not reachable" in w for w in texts(at, "warning"))
