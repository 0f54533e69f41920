"""Checks an uploaded file before it goes to /bulk_predict, so the common mistakes (not a CSV,
wrong columns, too big) get an immediate, specific message, even while the API is down.

The API validates every row itself (C4: 422 with row-level errors, 413 over its limits); these
checks are the file-level ones only, against the same feature contract and the same limits
(ECOM_BULK_MAX_ROWS / ECOM_BULK_MAX_BYTES), never a second copy of the row rules.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from pipeline.serving.features import FEATURES

BOM = "\ufeff"


@dataclass(frozen=True)
class UploadCheck:
    ok: bool
    message: str  # what is wrong and what to do; for a good file, what it holds
    rows: int = 0
    columns: tuple[str, ...] = ()


def file_size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


def check_upload(content: bytes, *, max_bytes: int, max_rows: int) -> UploadCheck:
    """File-level checks of a sessions CSV: size, text, header, row count."""
    if len(content) > max_bytes:
        return UploadCheck(
            False,
            f"The file is {file_size(len(content))}; the API takes at most "
            f"{file_size(max_bytes)} per upload (ECOM_BULK_MAX_BYTES). Split it into smaller "
            "files.",
        )
    if not content.strip():
        return UploadCheck(False, "The file is empty: upload a CSV with a header row and sessions.")
    if content[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return UploadCheck(
            False,
            "This file is UTF-16 text, not UTF-8 text (Excel's 'Unicode text'). Save it as "
            "'CSV UTF-8' and upload that.",
        )
    if b"\x00" in content[:65536]:
        return UploadCheck(
            False,
            "This is not a CSV file (it holds binary data, e.g. a spreadsheet or an image). "
            "Save it as CSV (comma-separated, UTF-8) and upload that.",
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as err:
        return UploadCheck(
            False,
            f"This file is not UTF-8 text (byte {err.start} cannot be decoded). Save it as "
            "CSV UTF-8 and upload again.",
        )
    text = text.removeprefix(BOM)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        header = next(reader, [])
        rows = sum(1 for row in reader if any(cell.strip() for cell in row))
    except csv.Error as err:
        return UploadCheck(False, f"This file is not a well-formed CSV ({err}).")
    columns = tuple(c.strip() for c in header)
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
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        return UploadCheck(
            False,
            f"The header repeats {', '.join(duplicated)}: name each column once.",
            columns=columns,
        )
    if rows == 0:
        return UploadCheck(False, "The file has a header but no sessions.", columns=columns)
    if rows > max_rows:
        return UploadCheck(
            False,
            f"The file has {rows:,} sessions; the API scores at most {max_rows:,} per upload "
            "(ECOM_BULK_MAX_ROWS). Split it into smaller files.",
            rows=rows,
            columns=columns,
        )
    return UploadCheck(True, f"{rows:,} sessions, columns {', '.join(columns)}.", rows, columns)


def template_csv() -> bytes:
    """A small example in the expected format: the Bulk tab offers it as a download."""
    examples = [
        {
            "total_views": "3",
            "total_carts": "1",
            "session_duration_minutes": "12.5",
            "experiment_group": "treatment",
        },
        {
            "total_views": "12",
            "total_carts": "2",
            "session_duration_minutes": "41.0",
            "experiment_group": "control",
        },
        {
            "total_views": "1",
            "total_carts": "1",
            "session_duration_minutes": "",
            "experiment_group": "control",
        },
    ]
    lines = [",".join(FEATURES), *(",".join(row[f] for f in FEATURES) for row in examples)]
    return ("\n".join(lines) + "\n").encode()
