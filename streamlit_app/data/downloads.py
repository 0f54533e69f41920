"""What the dashboard's download buttons hand over: a CSV of exactly the view, whose name and
first line say which filters it was taken with and how far the data runs, so a file read a
week later still says what it is.

The first line is a comment ("# ..."): spreadsheet tools show it as a title row, and
`pandas.read_csv(path, comment="#")` or `polars.read_csv(path, comment_prefix="#")` skip it.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from streamlit_app.data.filters import Filters


def file_name(view: str, filters: Filters, through: date | None) -> str:
    """'segments_month-2019-12_new-users_through-2020-02-29.csv'."""
    return f"{view}_{filters.slug()}_through-{through or 'unknown'}.csv"


def header_line(title: str, filters: Filters, through: date | None) -> str:
    return (
        f"# {title}; filtered to: {filters.describe()}; data through {through or 'unknown'} (UTC)"
    )


def csv_bytes(frame: pl.DataFrame, title: str, filters: Filters, through: date | None) -> bytes:
    """The frame as CSV under its header line."""
    return (header_line(title, filters, through) + "\n" + frame.write_csv()).encode()
