"""Bodies measured before they are parsed: rows counted, nesting bounded, in bounded memory.

A parser that builds the whole document first (orjson, Arrow) pays for every value before
anyone can say "too many rows": a 20 MB body of `{},{},...` becomes 6.6 million dicts. These
scans walk the raw bytes block by block with numpy (no Python per byte, a few block-sized
temporaries), find where each top-level row starts and ends, and stop as soon as the row
limit is passed. The parsers then read the rows a chunk at a time.

- JSON: strings (and their backslash escapes) are skipped; brackets give the depth, commas at
  depth 1 separate the rows of the top-level array.
- CSV (RFC 4180 quoting: a quote doubles itself inside a quoted value): every quote toggles
  "inside a value"; a line ends at LF, CRLF or a lone CR outside quotes; empty lines are not
  rows (Arrow skips them too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_BYTES = 1 << 20  # 1 MiB a block: temporaries stay a few times that, whatever the body
QUOTE, BACKSLASH, COMMA = 34, 92, 44
LF, CR = 10, 13
_BRACKETS = np.zeros(256, dtype=np.int8)
_BRACKETS[[ord("["), ord("{")]] = 1
_BRACKETS[[ord("]"), ord("}")]] = -1
_WHITESPACE = b" \t\r\n"


class ScanError(ValueError):
    """The body's structure is unusable; `kind` says how, `offset` where (a byte offset)."""

    def __init__(self, kind: str, offset: int, limit: int = 0, row: int | None = None) -> None:
        super().__init__(kind)
        self.kind = kind  # depth | rows | syntax | not_array | unterminated
        self.offset = offset
        self.limit = limit
        self.row = row  # 1-based row of a top-level array the problem is in, when known


def line_and_column(body: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column of a byte offset (for messages)."""
    offset = max(0, min(offset, len(body)))
    line_start = body.rfind(b"\n", 0, offset) + 1
    return body.count(b"\n", 0, offset) + 1, offset - line_start + 1


# ----------------------------------------------------------------------------- JSON


def _real_quotes(block: np.ndarray, carried_backslashes: int) -> np.ndarray:
    """Positions of the quotes of a block that are not escaped by an odd run of backslashes
    (a run may have begun in the previous block: `carried_backslashes` long)."""
    quotes = np.flatnonzero(block == QUOTE)
    backslashes = np.flatnonzero(block == BACKSLASH)
    if quotes.size == 0 or (backslashes.size == 0 and carried_backslashes % 2 == 0):
        return quotes
    escaped = np.zeros(quotes.size, dtype=bool)
    if backslashes.size:
        new_run = np.ones(backslashes.size, dtype=bool)
        new_run[1:] = np.diff(backslashes) != 1
        run_starts = backslashes[new_run]
        run_of = np.cumsum(new_run) - 1
        before = quotes - 1
        at = np.searchsorted(backslashes, before)
        hit = (at < backslashes.size) & (
            backslashes[np.minimum(at, backslashes.size - 1)] == before
        )
        start = run_starts[run_of[np.minimum(at, backslashes.size - 1)]]
        length = before - start + 1 + np.where(start == 0, carried_backslashes, 0)
        escaped = hit & (length % 2 == 1)
    if carried_backslashes % 2 == 1:
        escaped |= quotes == 0
    return quotes[~escaped]


def _trailing(block: np.ndarray, value: int, carried: int) -> int:
    """How many bytes equal to `value` end the block (continuing a carried run)."""
    others = np.flatnonzero(block != value)
    if others.size == 0:
        return carried + block.size
    return int(block.size - 1 - others[-1])


@dataclass
class JsonRows:
    """Where the rows of a top-level JSON array are: body[starts[i]:ends[i]] is row i."""

    starts: np.ndarray
    ends: np.ndarray
    depth: int

    @property
    def count(self) -> int:
        return int(self.starts.size)


def json_depth_exceeds(body: bytes, limit: int) -> int | None:
    """The offset of the first bracket nested deeper than `limit`, or None. Free for bodies
    with fewer brackets than the limit (one session: one brace)."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return None
    try:
        scan_json(body, max_depth=limit, max_rows=None)
    except ScanError as err:
        if err.kind == "depth":
            return err.offset
    return None


def scan_json(body: bytes, *, max_depth: int, max_rows: int | None) -> JsonRows:
    """Rows of a JSON array body; ScanError when nested deeper than `max_depth`, when it has
    more than `max_rows` rows (as soon as the row after the limit starts), when the brackets or
    strings do not close, or when the top-level value is not an array."""
    first = len(body) - len(body.lstrip(_WHITESPACE))
    if first < len(body) and body[first] != ord("["):
        raise ScanError("not_array", first)
    data = np.frombuffer(body, dtype=np.uint8)
    in_string = False
    backslashes = 0
    depth = 0
    top: int | None = None  # the first structural byte outside strings
    array_end: int | None = None
    boundaries: list[np.ndarray] = []  # start-1 of each row: the '[' or the comma before it
    closing = -1
    rows = 0
    for base in range(0, data.size, BLOCK_BYTES):
        block = data[base : base + BLOCK_BYTES]
        quotes = _real_quotes(block, backslashes if in_string else 0)
        backslashes = _trailing(block, BACKSLASH, backslashes)
        steps = _BRACKETS[block]
        marks = np.flatnonzero((steps != 0) | (block == COMMA))
        inside = (np.searchsorted(quotes, marks) & 1).astype(bool) ^ in_string
        marks = marks[~inside]
        in_string ^= bool(quotes.size & 1)
        if marks.size == 0:
            continue
        step = steps[marks].astype(np.int64)
        after = depth + np.cumsum(step)
        before = after - step
        if top is None:
            top = base + int(marks[0])
        if after.min() < 0 or (array_end is not None):
            bad = int(np.argmax(after < 0)) if after.min() < 0 else 0
            raise ScanError("syntax", base + int(marks[bad]))
        if after.max() > max_depth:
            deep = int(np.argmax(after > max_depth))
            row = rows + int(((before[:deep] == 1) & (step[:deep] == 0)).sum())
            row += int(top is not None and base <= top < base + int(marks[deep]) + 1)
            raise ScanError("depth", base + int(marks[deep]), max_depth, row=row or None)
        opens_array = (before == 0) & (step == 1)
        if opens_array.any() and block[marks[int(np.argmax(opens_array))]] != ord("["):
            raise ScanError("not_array", base + int(marks[int(np.argmax(opens_array))]))
        separators = marks[(before == 1) & (step == 0)] + base
        if top is not None and base <= top < base + block.size and block[top - base] == ord("["):
            separators = np.concatenate([[top], separators])
        if separators.size:
            boundaries.append(separators)
            rows += int(separators.size)
            if max_rows is not None and rows > max_rows:
                raise ScanError("rows", int(separators[-1]), max_rows)
        ends = np.flatnonzero((after == 0) & (step == -1))
        if ends.size:
            closing = base + int(marks[ends[0]])
            array_end = closing
            if ends.size > 1 or int(ends[0]) != marks.size - 1:
                raise ScanError("syntax", base + int(marks[ends[0] + 1]))
        depth = int(after[-1])
    if in_string:
        raise ScanError("unterminated", len(body))
    if top is None or depth != 0 or closing < 0:
        stripped = body.strip(_WHITESPACE)
        if top is None and stripped[:1] not in (b"[", b"{"):
            raise ScanError("not_array", 0)
        raise ScanError("syntax", len(body))
    if body[closing] != ord("]"):
        raise ScanError("syntax", closing)
    if body[closing + 1 :].strip(_WHITESPACE):
        raise ScanError("syntax", closing + 1)
    starts = np.concatenate(boundaries) + 1 if boundaries else np.empty(0, np.int64)
    ends = np.append(starts[1:] - 1, closing)
    if starts.size == 1 and not body[starts[0] : ends[0]].strip(_WHITESPACE):
        starts, ends = starts[:0], ends[:0]  # []
    if max_rows is not None and starts.size > max_rows:
        raise ScanError("rows", int(starts[max_rows]), max_rows)
    return JsonRows(starts, ends, int(depth))


# ----------------------------------------------------------------------------- CSV


@dataclass
class CsvLines:
    """The non-empty lines of a CSV outside quoted values: the header and how many rows."""

    header_start: int
    header_end: int  # the header's terminator (or the end of the body)
    rows: int


def scan_csv(body: bytes, *, max_rows: int) -> CsvLines:
    """Count a CSV's rows (header excluded) without parsing it; ScanError "rows" as soon as
    there are more than `max_rows`, "unterminated" when a quote never closes (at its offset)."""
    data = np.frombuffer(body, dtype=np.uint8)
    size = data.size
    in_quotes = False
    last_quote = -1
    line_start = 0  # where the current line began
    header: tuple[int, int] | None = None
    rows = 0
    for base in range(0, size, BLOCK_BYTES):
        block = data[base : base + BLOCK_BYTES]
        quotes = np.flatnonzero(block == QUOTE)
        if quotes.size:
            last_quote = base + int(quotes[-1])
        # a line ends at an LF, or at a CR not followed by an LF (then the LF ends it)
        ends_here = block == LF
        carriage = block == CR
        if carriage.any():
            followed = np.zeros(block.size, dtype=bool)
            followed[:-1] = block[1:] == LF
            end = base + block.size
            followed[-1] = end < size and data[end] == LF
            ends_here |= carriage & ~followed
        ends = np.flatnonzero(ends_here) + base
        inside = (np.searchsorted(quotes + base, ends) & 1).astype(bool) ^ in_quotes
        in_quotes ^= bool(quotes.size & 1)
        ends = ends[~inside]
        if ends.size == 0:
            continue
        starts = np.concatenate([[line_start], ends[:-1] + 1])
        length = ends - starts
        crlf = (length == 1) & (data[np.maximum(ends - 1, 0)] == CR) & (data[ends] == LF)
        filled = (length > 0) & ~crlf
        line_start = int(ends[-1]) + 1
        if header is None and filled.any():
            first = int(np.argmax(filled))
            header = (int(starts[first]), int(ends[first]))
            filled[first] = False
        rows += int(filled.sum())
        if rows > max_rows:
            raise ScanError("rows", int(ends[filled][max_rows - rows]), max_rows)
    if in_quotes:
        raise ScanError("unterminated", _opening_quote(body, last_quote))
    if body[line_start:].strip(b"\r\n"):  # a last line without a terminator
        if header is None:
            header = (line_start, size)
        else:
            rows += 1
            if rows > max_rows:
                raise ScanError("rows", size, max_rows)
    if header is None:
        header = (0, 0)
    return CsvLines(header[0], header[1], rows)


def _opening_quote(body: bytes, last_quote: int) -> int:
    """The offset of the quote that opens the value never closed: the last quote whose count
    from the start is odd."""
    count = body.count(b'"', 0, last_quote + 1)
    position = last_quote
    while count % 2 == 0 and position > 0:  # pragma: no cover (the last quote is the odd one)
        position = body.rfind(b'"', 0, position)
        count -= 1
    return position
