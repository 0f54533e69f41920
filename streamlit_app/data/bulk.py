"""An uploaded sessions file, made ready for /bulk_predict: checked at the file level (not a
CSV, wrong columns, empty), read whether commas or semicolons separate it, cut into batches
within the API's limits, and put back together beside the columns the user sent.

The API validates every row itself (C4: 422 with row-level errors, 413 over its limits); these
checks are the file-level ones only, against the same feature contract, never a second copy of
the row rules. Each batch carries the four feature columns only, comma-separated: what every
version of /bulk_predict accepts. Any other column (an id, a segment) stays here and comes back
first in the scored file, row by row, so a file of any size and any extra columns is scored.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import polars as pl

from pipeline.serving.features import FEATURES

BOM = "\ufeff"
DELIMITERS = {",": "comma", ";": "semicolon"}
DECIMAL_COMMA = r"^\s*[+-]?[0-9]*,[0-9]+\s*$"
# What the CSV reader's complaints mean, for people (its own words name its internals).
READ_PROBLEMS = {
    "more fields": "a row has more values than the header has columns (a value holding a "
    "comma or semicolon must be in quotes)",
    "could not parse": "a quote never closes (a value holding a quote must double it)",
}


@dataclass(frozen=True)
class UploadCheck:
    ok: bool
    message: str  # what is wrong and what to do; for a good file, what it holds
    rows: int = 0
    columns: tuple[str, ...] = ()
    delimiter: str = ","
    frame: pl.DataFrame | None = field(default=None, repr=False)  # every cell as text

    @property
    def extra_columns(self) -> tuple[str, ...]:
        """The columns that are not features: sent back beside the scores, never to the API."""
        return tuple(c for c in self.columns if c not in FEATURES)


def file_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def _text(content: bytes) -> tuple[str | None, str]:
    """The file as text, or None and why not."""
    if not content.strip():
        return None, "The file is empty: upload a CSV with a header row and sessions."
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return None, (
            "This file is UTF-16 text, not UTF-8 text (Excel's 'Unicode text'). Save it as "
            "'CSV UTF-8' and upload that."
        )
    if b"\x00" in content[:65536]:
        return None, (
            "This is not a CSV file (it holds binary data, e.g. a spreadsheet or an image). "
            "Save it as CSV (comma-separated, UTF-8) and upload that."
        )
    try:
        return content.decode("utf-8").removeprefix(BOM), ""
    except UnicodeDecodeError as err:
        return None, (
            f"This file is not UTF-8 text (byte {err.start} cannot be decoded). Save it as "
            "CSV UTF-8 and upload again."
        )


def delimiter_of(header: str) -> str:
    """A comma, unless the header is separated by semicolons (a spreadsheet saved in a locale
    whose decimal mark is a comma)."""
    names = {c.strip().strip('"') for c in header.split(";")}
    return ";" if set(FEATURES) <= names or header.count(";") > header.count(",") else ","


def check_upload(content: bytes) -> UploadCheck:
    """File-level checks of a sessions file, and its rows read as text."""
    text, problem = _text(content)
    if text is None:
        return UploadCheck(False, problem)
    header = text.split("\n", 1)[0].rstrip("\r")
    delimiter = delimiter_of(header)
    names = next(csv.reader([header], delimiter=delimiter), [])
    repeated = sorted({n.strip() for n in names if [m.strip() for m in names].count(n.strip()) > 1})
    if repeated:
        return UploadCheck(
            False, f"The header repeats {', '.join(repeated)}: name each column once."
        )
    try:
        frame = pl.read_csv(
            io.StringIO(text),
            separator=delimiter,
            infer_schema=False,
            empty_string_is_null=False,
            raise_if_empty=False,
        )
    except (pl.exceptions.ComputeError, pl.exceptions.NoDataError) as err:
        reason = next(
            (words for clue, words in READ_PROBLEMS.items() if clue in str(err)),
            "its rows could not be split into the header's columns",
        )
        return UploadCheck(False, f"This file is not a well-formed CSV: {reason}.")
    columns = tuple(c.strip() for c in frame.columns)
    frame.columns = list(columns)
    missing = [f for f in FEATURES if f not in columns]
    if missing:
        found = ", ".join(columns[:8]) + (" …" if len(columns) > 8 else "")
        return UploadCheck(
            False,
            f"The header lacks {', '.join(missing)}. A sessions CSV needs the columns "
            f"{', '.join(FEATURES)} (found: {found or 'no header'}). Download the template "
            "below for the exact format.",
            columns=columns,
        )
    blank = pl.all_horizontal(pl.col(c).str.strip_chars() == "" for c in columns)
    frame = frame.filter(~blank)
    if frame.height == 0:
        return UploadCheck(False, "The file has a header but no sessions.", columns=columns)
    if delimiter == ";":
        # Read as a comma-decimal locale writes it: "12,5" is twelve and a half.
        numbers = [f for f in FEATURES if f != "experiment_group"]
        frame = frame.with_columns(
            pl.when(pl.col(c).str.contains(DECIMAL_COMMA))
            .then(pl.col(c).str.replace(",", ".", literal=True))
            .otherwise(pl.col(c))
            for c in numbers
        )
    extra = [c for c in columns if c not in FEATURES]
    said = f"{frame.height:,} sessions, {DELIMITERS[delimiter]}-separated"
    if extra:
        said += f"; {', '.join(extra)} will come back beside the scores"
    return UploadCheck(True, said + ".", frame.height, columns, delimiter, frame)


@dataclass(frozen=True)
class Batch:
    first_row: int  # the file's 1-based row number of the batch's first session
    rows: int
    csv: bytes  # the batch's feature columns, comma-separated, with their header


def batches(frame: pl.DataFrame, max_rows: int, max_bytes: int) -> Iterator[Batch]:
    """The features in batches of at most `max_rows` rows and `max_bytes` bytes each."""
    # An empty cell is a missing value: written empty (a null), not as a quoted "".
    features = frame.select(pl.col(f).replace("", None) for f in FEATURES)
    start = 0
    size = max_rows
    while start < features.height:
        piece = features.slice(start, size)
        body = piece.write_csv().encode()
        if len(body) > max_bytes and piece.height > 1:
            size = max(1, piece.height // 2)  # smaller batches from here on
            continue
        if len(body) > max_bytes:
            raise ValueError(
                f"row {start + 1} alone is {file_size(len(body))}, over the API's "
                f"{file_size(max_bytes)} per request"
            )
        yield Batch(start + 1, piece.height, body)
        start += piece.height


def score_in_batches(
    check: UploadCheck,
    score: Callable[[bytes], bytes],
    max_rows: int,
    max_bytes: int,
    progress: Callable[[int, int], None] | None = None,
) -> bytes:
    """Every batch through `score` (one /bulk_predict call), then the scored file: the columns
    the API did not see first, then what it answered. `progress(done, total)` after each batch.
    An ApiError's row numbers are turned into the file's before it is raised again."""
    from streamlit_app.data.api_client import ApiError

    assert check.frame is not None
    scored = []
    done = 0
    for batch in batches(check.frame, max_rows, max_bytes):
        try:
            answer = score(batch.csv)
        except ApiError as err:
            for item in err.errors:
                if isinstance(item.get("row"), int):
                    item["row"] += batch.first_row - 1
            if batch.first_row > 1:
                err.detail += (
                    f" (In the batch from row {batch.first_row:,}; the {batch.first_row - 1:,} "
                    "rows before it were scored but are not kept: fix the file and score it "
                    "again.)"
                )
            raise
        scored.append(pl.read_csv(io.BytesIO(answer), infer_schema=False))
        done += batch.rows
        if progress is not None:
            progress(done, check.rows)
    result = pl.concat(scored, how="vertical")
    extra = check.frame.select(check.extra_columns)
    # The API echoes the features it validated: keep those, and put the user's other columns
    # (already there when the API passes them through) in front, once.
    result = result.select([c for c in result.columns if c not in extra.columns])
    return pl.concat([extra, result], how="horizontal").write_csv().encode()


def template_csv() -> bytes:
    """A small example in the expected format: the Bulk tab offers it as a download."""
    examples = [
        {
            "session_ref": "s-001",
            "total_views": "3",
            "total_carts": "1",
            "session_duration_minutes": "12.5",
            "experiment_group": "treatment",
        },
        {
            "session_ref": "s-002",
            "total_views": "12",
            "total_carts": "2",
            "session_duration_minutes": "41.0",
            "experiment_group": "control",
        },
        {
            "session_ref": "s-003",
            "total_views": "1",
            "total_carts": "1",
            "session_duration_minutes": "",
            "experiment_group": "control",
        },
    ]
    columns = ["session_ref", *FEATURES]
    lines = [",".join(columns), *(",".join(row[c] for c in columns) for row in examples)]
    return ("\n".join(lines) + "\n").encode()
