"""POST /bulk_predict in-process: JSON and CSV give the loader's scores in input order; bad
input is refused with the row and the field; limits answer 413 with the limit."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from pipeline.serving.features import FEATURES
from pipeline.serving.risk import DEFAULT_THRESHOLDS, risk_band
from tests.api.conftest import ready_client
from tests.api.test_predict import SESSIONS, encoded

HEADER = ",".join(FEATURES)


def csv_text(sessions, newline="\n", bom=False) -> str:
    def cell(v):
        return "" if v is None else str(v)

    lines = [HEADER] + [",".join(cell(s[f]) for f in FEATURES) for s in sessions]
    return ("\ufeff" if bom else "") + newline.join(lines) + newline


def rows(n: int, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        out.append(
            {
                "total_views": None if i % 17 == 0 else int(rng.integers(0, 60)),
                "total_carts": int(rng.integers(1, 8)),
                "session_duration_minutes": None
                if i % 13 == 0
                else float(np.round(rng.exponential(15), 2)),
                "experiment_group": ["control", "treatment", None][i % 3],
            }
        )
    return out


@pytest.fixture(scope="module")
def batch():
    return rows(500) + SESSIONS


def expected(model, sessions):
    return model.predict_matrix(np.array([encoded(s) for s in sessions]))


def check(body, model, sessions):
    assert body["count"] == len(sessions)
    assert body["model"]["model_id"] == model.model_id
    assert body["risk_thresholds"] == DEFAULT_THRESHOLDS
    want = expected(model, sessions)
    assert [p["row"] for p in body["predictions"]] == list(range(1, len(sessions) + 1))
    got = np.array([p["abandonment_probability"] for p in body["predictions"]])
    np.testing.assert_allclose(got, want, atol=1e-6)
    assert [p["risk_band"] for p in body["predictions"]] == [risk_band(p) for p in got]


def test_json_array(client, trained_api_model, batch):
    response = client.post("/bulk_predict", json=batch)
    assert response.status_code == 200, response.text
    check(response.json(), trained_api_model.model, batch)


@pytest.mark.parametrize(("newline", "bom"), [("\n", False), ("\r\n", True), ("\r\n", False)])
def test_csv_upload_with_bom_and_crlf(client, trained_api_model, batch, newline, bom):
    text = csv_text(batch, newline, bom)
    response = client.post(
        "/bulk_predict", files={"file": ("sessions.csv", text.encode(), "text/csv")}
    )
    assert response.status_code == 200, response.text
    check(response.json(), trained_api_model.model, batch)


def test_raw_csv_body_and_csv_answer(client, trained_api_model, batch):
    response = client.post(
        "/bulk_predict",
        content=csv_text(batch).encode(),
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert list(table[0]) == [*FEATURES, "abandonment_probability", "risk_band", "model_id"]
    want = expected(trained_api_model.model, batch)
    for i, (row, session) in enumerate(zip(table, batch, strict=True)):
        assert float(row["abandonment_probability"]) == pytest.approx(want[i], abs=1e-6)
        assert row["risk_band"] == risk_band(float(row["abandonment_probability"]))
        assert row["model_id"] == trained_api_model.model.model_id
        for f in FEATURES:  # the input, echoed (empty = missing)
            value = session[f]
            if value is None:
                assert row[f] == ""
            elif isinstance(value, str):
                assert row[f] == value
            else:
                assert float(row[f]) == value


def test_json_in_csv_out_and_accept_preferences(client, batch):
    as_csv = client.post("/bulk_predict", json=batch[:3], headers={"Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.count("\n") == 4
    prefer_json = client.post(
        "/bulk_predict", json=batch[:3], headers={"Accept": "text/csv;q=0.5, application/json"}
    )
    assert prefer_json.headers["content-type"] == "application/json"


def test_zero_rows(client):
    empty_csv = client.post("/bulk_predict", files={"file": ("s.csv", (HEADER + "\r\n").encode())})
    assert empty_csv.status_code == 200 and empty_csv.json()["count"] == 0
    assert empty_csv.json()["predictions"] == []
    assert client.post("/bulk_predict", json=[]).json()["count"] == 0
    csv_answer = client.post("/bulk_predict", json=[], headers={"Accept": "text/csv"})
    assert csv_answer.text.strip() == f"{HEADER},abandonment_probability,risk_band,model_id"


def test_missing_columns_are_listed(client):
    response = client.post(
        "/bulk_predict",
        files={"file": ("s.csv", b"total_views,total_carts,session_id\n1,1,a\n")},
    )
    assert response.status_code == 422
    payload = response.json()
    assert "session_duration_minutes" in payload["detail"]
    assert {(e["field"], e["message"]) for e in payload["errors"]} == {
        ("session_duration_minutes", "missing column"),
        ("experiment_group", "missing column"),
    }


def test_reserved_and_repeated_column_names_are_refused(client):
    text = HEADER + ",risk_band,total_views\n1,1,2.5,control,x,2\n"
    response = client.post("/bulk_predict", files={"file": ("s.csv", text.encode())})
    assert response.status_code == 422
    assert {(e["field"], e["message"]) for e in response.json()["errors"]} == {
        ("risk_band", "reserved column name"),
        ("total_views", "repeated column"),
    }


def test_empty_csv_file(client):
    response = client.post("/bulk_predict", files={"file": ("s.csv", b"")})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == set(FEATURES)


def test_csv_row_errors_name_row_and_field(client):
    text = (
        HEADER
        + "\n3,1,12.5,treatment\n3.5,1,2,control\n1,0,nan,Control\n2,1,1e9,x\n4,1,inf\n5,2,1,TREATMENT\n"
    )
    response = client.post("/bulk_predict", files={"file": ("s.csv", text.encode())})
    assert response.status_code == 422
    errors = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert errors == {(5, None)}  # the structural problem first: row 5 has 3 fields
    text = text.replace("4,1,inf\n", "4,1,inf,control\n")
    response = client.post("/bulk_predict", files={"file": ("s.csv", text.encode())})
    errors = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert errors == {
        (2, "total_views"),
        (3, "total_carts"),
        (3, "session_duration_minutes"),
        (4, "session_duration_minutes"),
        (4, "experiment_group"),
        (5, "session_duration_minutes"),
    }
    assert "Nothing was scored" in response.json()["detail"]


def test_json_row_errors_name_row_and_field(client):
    good = {
        "total_views": 1,
        "total_carts": 1,
        "session_duration_minutes": 1.0,
        "experiment_group": None,
    }
    body = [good, {**good, "total_views": "2"}, good, {**good, "total_carts": True}, 7]
    response = client.post("/bulk_predict", json=body)
    assert response.status_code == 422
    assert {(e["row"], e["field"]) for e in response.json()["errors"]} == {
        (2, "total_views"),
        (4, "total_carts"),
        (5, None),
    }
    nan = client.post(
        "/bulk_predict",
        content=b'[{"total_views":1,"total_carts":1,"session_duration_minutes":NaN,"experiment_group":null}]',
        headers={"Content-Type": "application/json"},
    )
    assert nan.status_code == 422
    assert nan.json()["errors"][0] == {
        "row": 1,
        "field": "session_duration_minutes",
        "message": "must be a finite number (not NaN or infinity)",
    }


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"[", "application/json", 400),
        (b"", "application/json", 400),
        (b'{"a": 1}', "application/json", 422),
        (b"\xff\xfe\x00garbage", "text/csv", 400),
        (b"x", "application/xml", 415),
        (b"x", "", 415),
    ],
)
def test_unusable_bodies(client, content, content_type, status):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/bulk_predict", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_multipart_without_the_file_field(client):
    response = client.post("/bulk_predict", data={"other": "x"}, files={"upload": ("s.csv", b"a")})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


def test_limits_answer_413_with_the_limit(trained_api_model):
    for client in ready_client(trained_api_model.settings(bulk_max_rows=10, bulk_max_bytes=4000)):
        many = rows(11)
        too_many_json = client.post("/bulk_predict", json=many)
        assert (
            too_many_json.status_code == 413
            and "limit of 10 rows" in too_many_json.json()["detail"]
        )
        too_many_csv = client.post(
            "/bulk_predict", files={"file": ("s.csv", csv_text(many).encode())}
        )
        assert too_many_csv.status_code == 413 and "10 rows" in too_many_csv.json()["detail"]
        assert client.post("/bulk_predict", json=many[:10]).status_code == 200
        big = csv_text(rows(9)) + "\n" * 5000
        too_big = client.post(
            "/bulk_predict", content=big.encode(), headers={"Content-Type": "text/csv"}
        )
        assert too_big.status_code == 413 and "4,000 bytes" in too_big.json()["detail"]

        def chunks():  # no Content-Length: the limit holds while streaming
            for _ in range(10):
                yield b"x" * 1000

        streamed = client.post(
            "/bulk_predict", content=chunks(), headers={"Content-Type": "text/csv"}
        )
        assert streamed.status_code == 413


def test_probabilities_are_finite_and_bounded(client, batch):
    body = client.post("/bulk_predict", json=batch).json()
    assert all(0 <= p["abandonment_probability"] <= 1 for p in body["predictions"])
    assert all(math.isfinite(p["abandonment_probability"]) for p in body["predictions"])


# ------------------------------------------------------------ issue 22: bulk in production


def test_an_id_and_other_columns_come_back_beside_the_scores(client, trained_api_model, batch):
    """An id column (and any other) passes through, in the input's order, quoted where its
    values need it; the scores are the same as without them."""
    ids = [f"S-{i}" for i in range(len(batch))]
    notes = ['said "hi", twice' if i % 7 == 0 else f"n{i}" for i in range(len(batch))]
    lines = ["session_id," + HEADER + ",note"] + [
        f"{sid},"
        + ",".join("" if s[f] is None else str(s[f]) for f in FEATURES)
        + ","
        + ('"' + note.replace('"', '""') + '"' if '"' in note else note)
        for sid, s, note in zip(ids, batch, notes, strict=True)
    ]
    text = "\n".join(lines) + "\n"
    as_csv = client.post(
        "/bulk_predict",
        content=text.encode(),
        headers={"Content-Type": "text/csv", "Accept": "text/csv"},
    )
    assert as_csv.status_code == 200, as_csv.text
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert list(table[0]) == [
        "session_id",
        *FEATURES,
        "note",
        "abandonment_probability",
        "risk_band",
        "model_id",
    ]
    assert [r["session_id"] for r in table] == ids
    assert [r["note"] for r in table] == notes
    want = expected(trained_api_model.model, batch)
    np.testing.assert_allclose(
        [float(r["abandonment_probability"]) for r in table], want, atol=1e-6
    )
    as_json = client.post(
        "/bulk_predict", content=text.encode(), headers={"Content-Type": "text/csv"}
    ).json()
    assert [p["passthrough"] for p in as_json["predictions"]] == [
        {"session_id": sid, "note": note} for sid, note in zip(ids, notes, strict=True)
    ]
    plain = client.post("/bulk_predict", json=batch).json()
    assert [p["abandonment_probability"] for p in as_json["predictions"]] == [
        p["abandonment_probability"] for p in plain["predictions"]
    ]
    assert "passthrough" not in plain["predictions"][0]


def test_json_rows_carry_their_own_fields_through(client):
    body = [{**SESSIONS[0], "session_id": "a-1", "vip": True}, {**SESSIONS[1], "score": 3.5}]
    answer = client.post("/bulk_predict", json=body)
    assert answer.status_code == 200, answer.text
    assert [p["passthrough"] for p in answer.json()["predictions"]] == [
        {"session_id": "a-1", "vip": True},
        {"score": 3.5},
    ]
    as_csv = client.post("/bulk_predict", json=body, headers={"Accept": "text/csv"}).text
    header, first, second = as_csv.splitlines()
    assert header.startswith(HEADER + ",session_id,vip,score,")
    assert ",a-1,true,," in first and ",,,3.5," in second
    nested = client.post("/bulk_predict", json=[{**SESSIONS[0], "tags": ["a"]}])
    assert nested.status_code == 422
    assert nested.json()["errors"][0]["row"] == 1


def test_semicolon_separated_files_are_read(client, trained_api_model, batch):
    """A spreadsheet saved in a comma-decimal locale: semicolons between values. Read as
    such; a decimal comma is an error that says to write a point."""
    text = (
        "id;"
        + HEADER.replace(",", ";")
        + "\n"
        + "".join(
            f"r{i};" + ";".join("" if s[f] is None else str(s[f]) for f in FEATURES) + "\n"
            for i, s in enumerate(batch)
        )
    )
    answer = client.post("/bulk_predict", files={"file": ("s.csv", text.encode(), "text/csv")})
    assert answer.status_code == 200, answer.text
    check(answer.json(), trained_api_model.model, batch)
    comma = "id;" + HEADER.replace(",", ";") + "\nx;3;1;12,5;control\n"
    refused = client.post("/bulk_predict", files={"file": ("s.csv", comma.encode())})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "row": 1,
            "field": "session_duration_minutes",
            "message": "must be a finite number or empty (write decimals with a point: 12.5)",
        }
    ]


def test_the_error_list_holds_the_first_100_and_counts_the_rest(client):
    text = HEADER + "\n" + "x,1,1,control\n" * 5000
    answer = client.post("/bulk_predict", files={"file": ("s.csv", text.encode())})
    assert answer.status_code == 422
    payload = answer.json()
    assert len(payload["errors"]) == 100
    assert [e["row"] for e in payload["errors"]] == list(range(1, 101))
    assert "5,000 invalid values" in payload["detail"] and "4,900 more" in payload["detail"]
    json_rows = [{**SESSIONS[0], "total_views": "3"}] * 5000
    as_json = client.post("/bulk_predict", json=json_rows).json()
    assert len(as_json["errors"]) == 100 and "4,900 more" in as_json["detail"]


def test_a_multipart_upload_cut_short_is_refused(client):
    cut = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="s.csv"\r\n\r\n'
        + HEADER.encode()
        + b"\n1,1,1,control\n"
    )
    answer = client.post(
        "/bulk_predict", content=cut, headers={"Content-Type": "multipart/form-data; boundary=b"}
    )
    assert answer.status_code == 400 and "closing boundary" in answer.json()["detail"]


def test_a_full_bulk_pool_answers_503_with_retry_after_before_reading(trained_api_model):
    """A worker runs ECOM_BULK_CONCURRENCY bulk calls and queues ECOM_BULK_QUEUE more; the
    next is refused at once (its body unread), saying when to come back."""
    import threading
    import time

    big = rows(100_000, seed=4)
    settings = trained_api_model.settings(bulk_concurrency=1, bulk_queue=0)
    client = next(clients := ready_client(settings))
    try:
        pool = client.app.state.bulk
        first: list = []

        def send_the_first() -> None:
            first.append(client.post("/bulk_predict", json=big))

        worker = threading.Thread(target=send_the_first)
        worker.start()
        deadline = time.monotonic() + 30
        while pool.admitted == 0:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        refused = client.post("/bulk_predict", json=big[:3])
        worker.join()
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) >= 1
        assert "capacity" in refused.json()["detail"]
        assert first[0].status_code == 200 and first[0].json()["count"] == 100_000
        assert client.post("/bulk_predict", json=big[:3]).status_code == 200
    finally:
        clients.close()
