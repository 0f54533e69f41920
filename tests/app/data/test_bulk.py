"""The Bulk tab's file handling without Streamlit, against the real API: batches within the
API's limits, progress after each one, the file's own row numbers in the API's errors, and the
file-level checks (semicolons, decimal commas, repeated or missing columns, broken quoting)."""

from __future__ import annotations

import polars as pl
import pytest

from streamlit_app.data.api_client import ApiClient, ApiError
from streamlit_app.data.bulk import batches, check_upload, score_in_batches
from tests.app.conftest import API_KEY

HEADER = "total_views,total_carts,session_duration_minutes,experiment_group"


def rows(n: int, bad: int | None = None) -> bytes:
    lines = [
        f"r{i},{i % 5},{1 + i % 3},{i % 40 + 0.5},{'control' if i % 2 else 'treatment'}"
        for i in range(1, n + 1)
    ]
    if bad is not None:
        lines[bad - 1] = f"r{bad},2,0,3.0,control"  # no cart: not a cart session
    return ("id," + HEADER + "\n" + "\n".join(lines) + "\n").encode()


def test_batches_report_progress_and_keep_the_files_order(api_server) -> None:
    check = check_upload(rows(23))
    seen: list[tuple[int, int]] = []
    client = ApiClient(api_server.url, API_KEY)
    scored = score_in_batches(
        check,
        lambda body: client.bulk_predict_csv("f.csv", body),
        10,
        10**6,
        lambda done, total: seen.append((done, total)),
    )
    assert seen == [(10, 23), (20, 23), (23, 23)]
    frame = pl.read_csv(scored, infer_schema=False)
    assert frame["id"].to_list() == [f"r{i}" for i in range(1, 24)]
    assert frame.columns[-3:] == ["abandonment_probability", "risk_band", "model_id"]


def test_an_error_in_a_later_batch_names_the_files_row(api_server) -> None:
    client = ApiClient(api_server.url, API_KEY)
    with pytest.raises(ApiError) as err:
        score_in_batches(
            check_upload(rows(30, bad=25)),
            lambda body: client.bulk_predict_csv("f.csv", body),
            10,
            10**6,
        )
    assert err.value.status == 422
    assert [e["row"] for e in err.value.errors] == [25]
    assert "batch from row 21" in err.value.detail


def test_batches_stay_under_the_byte_limit() -> None:
    check = check_upload(rows(200))
    cut = list(batches(check.frame, 1000, 600))
    assert sum(b.rows for b in cut) == 200
    assert all(len(b.csv) <= 600 for b in cut)
    assert [b.first_row for b in cut] == [1 + sum(c.rows for c in cut[:i]) for i in range(len(cut))]
    with pytest.raises(ValueError, match="row 1 alone"):
        list(batches(check.frame, 10, 20))


@pytest.mark.parametrize(
    ("content", "ok", "said"),
    [
        (
            b"id;total_views;total_carts;session_duration_minutes;experiment_group\n"
            b"a;1;1;2,5;control\n",
            True,
            "1 sessions, semicolon-separated",
        ),
        ((HEADER + ",total_views\n1,1,2,control,3\n").encode(), False, "repeats total_views"),
        (b"total_views;total_carts\n1;2\n", False, "lacks session_duration_minutes"),
        ((HEADER + '\n1,1,"2,control\n').encode(), False, "a quote never closes"),
        ((HEADER + "\n1,1,2,control,9\n").encode(), False, "more values than the header"),
        (("\ufeff" + HEADER + "\r\n1,1,,control\r\n\r\n").encode(), True, "1 sessions, comma"),
    ],
    ids=["semicolon", "repeated", "missing", "quote", "ragged", "bom-crlf-blank"],
)
def test_file_level_checks(content: bytes, ok: bool, said: str) -> None:
    check = check_upload(content)
    assert check.ok is ok and said in check.message, check.message
    if ok and b";" in content:
        (batch,) = batches(check.frame, 10, 10**6)
        assert batch.csv.decode().splitlines()[1] == "1,1,2.5,control"  # decimal comma read
