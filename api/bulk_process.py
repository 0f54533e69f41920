"""The bulk process: parses, validates and scores /bulk_predict bodies beside a worker.

Why a process: parsing and validating 100,000 rows holds the interpreter for a second or more
(orjson, pydantic and Arrow calls that do not yield), which in the worker stalls every other
request, /health included. Here it runs at a lower CPU priority (nice 10): on a busy machine
the workers' real-time requests are scheduled first. Each worker has its own bulk process(es)
(api.bulk_pool); a process serves one call at a time.

It loads the same model versions as its worker (told by the worker, generation by generation)
and scores with the same function (api.scorer.Scorer.probabilities), so /predict and
/bulk_predict give a session the same number.

The protocol, over two pipes (stdout and stderr stay the log's): a message is a 4-byte
big-endian length and a JSON header, then an 8-byte length and the body (bytes, no pickle).
Requests: {"op": "load", "generation", "folders": {family: path}}, {"op": "drop",
"generation"}, {"op": "score", "generation", "content_type", "csv_answer", "max_rows",
"request_id"} with the request body. Answers: {"ok": true} / {"ok": false, "problem"}, or
{"status", "media_type", "rows", "model_id"} with the response body.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import orjson

HEADER = struct.Struct(">I")
BODY = struct.Struct(">Q")
NICE = 10
# Fields a multipart body may have (the file and a few form fields).
MAX_PARTS = 10
WARM_UP = (
    (
        "text/csv",
        b"id,total_views,total_carts,session_duration_minutes,experiment_group\nx,1,1,2.5,control\n",
    ),
    (
        "application/json",
        b'[{"total_views":1,"total_carts":1,"session_duration_minutes":null,"experiment_group":null}]',
    ),
)

log = logging.getLogger("api.bulk")


# ----------------------------------------------------------------------------- framing


def write_message(stream: BinaryIO, header: Mapping[str, Any], body: bytes = b"") -> None:
    encoded = orjson.dumps(header)
    stream.write(HEADER.pack(len(encoded)) + encoded + BODY.pack(len(body)))
    stream.write(body)
    stream.flush()


def _exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def read_message(stream: BinaryIO) -> tuple[dict[str, Any], bytes]:
    (size,) = HEADER.unpack(_exactly(stream, HEADER.size))
    header = orjson.loads(_exactly(stream, size))
    (length,) = BODY.unpack(_exactly(stream, BODY.size))
    return header, _exactly(stream, length) if length else b""


# ----------------------------------------------------------------------------- multipart


def multipart_file(body: bytes, content_type: str) -> bytes:
    """The CSV of a multipart/form-data body's 'file' field; ApiError when there is none or
    the body is not multipart."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    from api.errors import ApiError

    unparsable = ApiError(
        400,
        "The multipart body could not be parsed: send the CSV as a file in the form field "
        "'file' (curl -F file=@sessions.csv).",
    )
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise unparsable
    parts: list[dict[str, Any]] = []
    field_name = b""
    field_value = b""
    ended: list[bool] = []

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise ApiError(400, f"The multipart body has more than {MAX_PARTS} fields.")
        parts.append({"headers": {}, "data": []})

    def on_header_field(data: bytes, start: int, end: int) -> None:
        nonlocal field_name
        field_name += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        nonlocal field_value
        field_value += data[start:end]

    def on_header_end() -> None:
        nonlocal field_name, field_value
        parts[-1]["headers"][field_name.lower()] = field_value
        field_name, field_value = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1]["data"].append(data[start:end])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_end": lambda: ended.append(True),
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception:  # python-multipart's parse errors: their text is the library's
        raise unparsable from None
    if not ended:
        raise ApiError(
            400,
            "The multipart body ends before its closing boundary (an upload cut short?): "
            "send the file again.",
        )
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition"))
        if disposition.get(b"name") == b"file" and b"filename" in disposition:
            return b"".join(part["data"])
    raise ApiError(
        422,
        "Send the CSV as a file in the multipart form field 'file' (curl -F file=@sessions.csv).",
        [{"row": None, "field": "file", "message": "missing file"}],
    )


# ----------------------------------------------------------------------------- the process


class BulkScorer:
    """The process's state: loaded versions by generation, and the scoring of one body."""

    def __init__(self) -> None:
        self.generations: dict[int, dict[str, Any]] = {}

    def load(self, generation: int, folders: Mapping[str, str]) -> None:
        from api.families import BY_FAMILY

        models = {}
        for family, folder in folders.items():
            loader = BY_FAMILY[family].load_bulk if family in BY_FAMILY else None
            if loader is not None:
                models[family] = loader(Path(folder))
        self.generations[generation] = models
        if "session" in models:  # the first CSV and JSON calls load Arrow's kernels: not a caller's
            for kind, body in WARM_UP:
                self.score({"generation": generation, "content_type": kind, "max_rows": 10}, body)

    def score(self, header: Mapping[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
        from api import bulk, bulk_csv, bulk_out
        from api.errors import ApiError, error_body
        from pipeline.serving.risk import risk_bands

        served = self.generations.get(int(header["generation"]), {}).get("session")
        if served is None:
            raise ApiError(503, "The bulk process has no model of this generation: retry.")
        content_type = str(header["content_type"])
        kind = content_type.split(";")[0].strip().lower()
        try:
            if kind == "multipart/form-data":
                body = multipart_file(body, content_type)
            if kind == "application/json":
                batch = bulk.parse_json(body, int(header["max_rows"]))
            else:
                batch = bulk_csv.parse_csv(body, int(header["max_rows"]))
        except ApiError as err:
            answer = {"status": err.status, "media_type": "application/json", "rows": 0}
            return answer, error_body(err.detail, err.errors)
        del body
        scorer = served.scorer
        probabilities = scorer.probabilities(batch.matrix) if batch.rows else np.empty(0)
        bands = risk_bands(probabilities, served.thresholds)
        model_id = served.model_ref["model_id"]
        if header.get("csv_answer"):
            content = bulk_out.csv_bytes(batch, probabilities, bands, model_id)
            media_type = "text/csv; charset=utf-8"
        else:
            content = bulk_out.json_bytes(
                batch, served.model_ref, served.thresholds, probabilities, bands
            )
            media_type = "application/json"
        answer = {"status": 200, "media_type": media_type, "rows": batch.rows, "model_id": model_id}
        return answer, content


def _release_memory() -> None:
    """Give freed heap back to the system (glibc keeps it otherwise: a 100k-row call's memory
    would stay with the process)."""
    name = ctypes.util.find_library("c")
    if name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).malloc_trim(0)


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer messages until the worker closes the pipe."""
    from api.errors import ApiError, error_body
    from api.observability import request_id_var

    scorer = BulkScorer()
    while True:
        try:
            header, body = read_message(requests)
        except EOFError:
            return
        op = header.get("op")
        token = request_id_var.set(header.get("request_id"))
        try:
            if op == "load":
                scorer.load(int(header["generation"]), header["folders"])
                write_message(answers, {"ok": True})
            elif op == "drop":
                scorer.generations.pop(int(header["generation"]), None)
                write_message(answers, {"ok": True})
            else:
                answer, content = scorer.score(header, body)
                del body
                write_message(answers, answer, content)
        except ApiError as err:
            write_message(
                answers,
                {"status": err.status, "media_type": "application/json", "rows": 0, "ok": False},
                error_body(err.detail, err.errors),
            )
        except Exception as err:
            log.exception("bulk %s failed", op)
            problem = f"{type(err).__name__}"
            write_message(answers, {"ok": False, "problem": problem, "status": 500, "rows": 0})
        finally:
            request_id_var.reset(token)
            _release_memory()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    requests_fd, answers_fd = int(args[0]), int(args[1])
    os.nice(NICE)
    from api import bulk_csv, bulk_out  # noqa: F401  (imported once, before the first call)
    from api.observability import configure_logging

    configure_logging()
    with os.fdopen(requests_fd, "rb") as requests, os.fdopen(answers_fd, "wb") as answers:
        serve(requests, answers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
