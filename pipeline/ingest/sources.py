"""Where raw months come from: file lookup, header check, fingerprint, and the line scan."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from pipeline.ingest.transforms import LINE, LINE_INDEX
from pipeline.schema import RAW_COLUMNS
from pipeline.settings import MONTHS, Settings

EXPECTED_HEADER = ",".join(RAW_COLUMNS)
_BOM = "\ufeff"
_HASH_BLOCK = 8 << 20


def month_key(month: str) -> str:
    """'2019-Oct' -> '2019-10', the Hive partition value."""
    try:
        return datetime.strptime(month, "%Y-%b").strftime("%Y-%m")
    except ValueError as err:
        raise InputError(
            f"Unknown month {month!r}: use the file name stem, one of {', '.join(MONTHS)}."
        ) from err


def raw_file(settings: Settings, month: str) -> Path:
    month_key(month)
    path = settings.raw_dir / f"{month}.csv"
    if not path.is_file():
        raise InputError(
            f"No raw file for {month} at {path}. Run `ecom generate` or copy the month's CSV there."
        )
    return path


def check_header(path: Path) -> None:
    """The first line must be the raw header; anything else means the wrong file or layout."""
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8", errors="replace").rstrip("\r\n")
    if first.removeprefix(_BOM) != EXPECTED_HEADER:
        raise InputError(
            f"{path} does not start with the raw header.\n  expected: {EXPECTED_HEADER}\n"
            f"  found:    {first[:200]}\nCheck that this is an unmodified monthly export."
        )


def sha256_file(path: Path) -> str:
    """Fingerprint of the input, so a manifest names exactly which bytes it describes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def scan_lines(path: Path, *, lossy: bool = False) -> pl.LazyFrame:
    """Each physical data line as one text column plus its 0-based index (the header is 0).

    Reading whole lines keeps the exact raw text and line number of every row for quarantine,
    and leaves all parsing to checked expressions. `lossy` is the fallback for files that are
    not valid UTF-8 (Polars' line scanner refuses them): undecodable bytes become U+FFFD and
    such lines are quarantined as `bad_encoding`.
    """
    if lossy:
        lines = pl.scan_csv(
            path,
            has_header=False,
            separator="\x00",
            quote_char=None,
            schema={LINE: pl.String},
            encoding="utf8-lossy",
            empty_string_is_null=False,
            row_index_name=LINE_INDEX,
        )
    else:
        lines = pl.scan_lines(path, name=LINE, row_index_name=LINE_INDEX)
    return lines.slice(1)
