"""Where raw months come from: the exact month names, the file checks, and one open file.

A run reads its input through one file descriptor opened at the start (`RawFile`): the header
check, the SHA-256, the Polars scan (through /proc/self/fd) and the re-read of bad lines all see
the same inode, and `check_unchanged` refuses the run if that file was replaced, grown or
rewritten while it was read. So the manifest's size and hash describe exactly the bytes parsed.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from pipeline.errors import InputError
from pipeline.files import user
from pipeline.ingest.transforms import LINE, LINE_INDEX
from pipeline.schema import RAW_COLUMNS
from pipeline.settings import MONTHS, Settings, month_key

EXPECTED_HEADER = ",".join(RAW_COLUMNS)
_BOM = b"\xef\xbb\xbf"
_BLOCK = 8 << 20
_HEAD = 1 << 16
# Signatures of files that are not plain CSV text, and what to do with each.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed", "decompress it (`gunzip -c`)"),
    (b"PK\x03\x04", "a zip archive", "extract the CSV from it (`unzip -p`)"),
    (b"BZh", "bzip2-compressed", "decompress it (`bunzip2 -c`)"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it (`unxz -c`)"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it (`unzstd -c`)"),
    (b"PAR1", "a Parquet file", "export the month as CSV"),
    (b"\xff\xfe", "UTF-16 text", "re-encode it as UTF-8 (`iconv -f UTF-16 -t UTF-8`)"),
    (b"\xfe\xff", "UTF-16 text", "re-encode it as UTF-8 (`iconv -f UTF-16 -t UTF-8`)"),
)
# What can stand at a raw file's path without being a file, in words.
_NOT_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)
_COMPRESSED = (".gz", ".zip", ".bz2", ".xz", ".zst")


def known_month(month: str) -> str:
    """`month` itself when it names one of the data set's raw files exactly ('2019-Oct'); its
    partition key is pipeline.settings.month_key(month). A file stem, not a date to parse:
    '2019-oct' would name October's partition while reading another file."""
    if month not in MONTHS:
        raise InputError(
            f"Unknown month {month!r}: use exactly one of {', '.join(MONTHS)} "
            "(the raw file's name without .csv, case as shown)."
        )
    return month


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC: the events a file may hold."""
    start = datetime.strptime(month_key(known_month(month)), "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    return start, end


def raw_file(settings: Settings, month: str) -> Path:
    """The month's raw file, checked to be a plain file (a directory or a named pipe is not)."""
    known_month(month)
    path = settings.raw_dir / f"{month}.csv"
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        unread = unread_files(settings.raw_dir, [month])
        raise InputError(
            f"No raw file for {month} at {path}. Run `ecom generate` or copy the month's CSV "
            "there." + (f" {unread}." if unread else "")
        ) from None
    except OSError as err:
        raise InputError(f"Cannot open {path}: {err.strerror}.") from err
    _check_plain(path, mode)
    return path


def _check_plain(path: Path, mode: int) -> None:
    """Refuse anything but a regular file: a named pipe would block the first read forever."""
    if stat.S_ISREG(mode):
        return
    kind = next((k for test, k in _NOT_FILES if test(mode)), "an entry that is not a regular file")
    raise InputError(
        f"{path} is {kind}, not a file: the raw folder must hold the month as a plain CSV "
        f"file named {path.name}."
    )


def unread_files(raw_dir: Path, months: Sequence[str]) -> str | None:
    """'Found in <raw folder>: 2019-oct.csv (not read: ...)' for files named almost like the
    months' raw files (another case, compressed, another suffix), which no run reads; None
    when there are none. Only the exact `<month>.csv` is ever read."""
    if not raw_dir.is_dir():
        return None
    exact = {f"{m}.csv" for m in MONTHS}
    found = []
    for name in sorted(p.name for p in raw_dir.iterdir()):
        month = next((m for m in months if name.lower().startswith(f"{m}.csv".lower())), None)
        if month is None or name in exact:
            continue
        expected = f"{month}.csv"
        suffix = name[len(expected) :].lower()
        if suffix in _COMPRESSED:
            why = f"compressed; decompress it to {expected}"
        elif not suffix:
            why = f"month names are case-sensitive; rename it {expected}"
        else:
            why = f"only {expected} is read"
        found.append(f"{name} (not read: {why})")
    return f"Found in {raw_dir}: {', '.join(found)}" if found else None


@dataclass
class RawFile:
    """One raw month opened once; every read of the run goes through this descriptor."""

    path: Path
    fd: int
    opened: os.stat_result

    @property
    def readable(self) -> str:
        """A path to exactly this open file (not to whatever `path` names later)."""
        proc = f"/proc/self/fd/{self.fd}"
        return proc if os.path.exists(proc) else str(self.path)

    @property
    def size(self) -> int:
        return self.opened.st_size

    def head(self, n: int = _HEAD) -> bytes:
        return os.pread(self.fd, n, 0)

    def sha256(self) -> str:
        """Fingerprint of the bytes read, so a manifest names exactly which file it describes.

        `pread` keeps no shared offset: safe beside the Polars scan (hashlib releases the GIL)."""
        digest, offset = hashlib.sha256(), 0
        while block := os.pread(self.fd, _BLOCK, offset):
            digest.update(block)
            offset += len(block)
        return digest.hexdigest()

    def check_unchanged(self) -> None:
        """Refuse a file that was replaced or modified since it was opened."""
        now = os.fstat(self.fd)
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            named = None
        before = (self.opened.st_size, self.opened.st_mtime_ns, self.opened.st_ctime_ns)
        after = (now.st_size, now.st_mtime_ns, now.st_ctime_ns)
        if named is None or (named.st_dev, named.st_ino) != (now.st_dev, now.st_ino):
            what = "was deleted" if named is None else "was replaced by another file"
        elif after != before:
            what = f"was modified ({before[0]:,} bytes when opened, {after[0]:,} now)"
        else:
            return
        raise InputError(
            f"{self.path} {what} while it was being ingested. Nothing was published: the "
            f"previous run of this month (if any) is intact. Re-run `ecom ingest --month "
            f"{self.path.stem}` once the file is complete (copy it elsewhere and move it in)."
        )


@contextmanager
def open_raw(path: Path) -> Iterator[RawFile]:
    try:
        # O_NONBLOCK: a named pipe put there since `raw_file` looked cannot block the open
        # (no effect on a regular file's reads).
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except PermissionError as err:
        raise InputError(
            f"Cannot read {path}: permission denied for user {user()}. Make the file readable "
            "(e.g. `chmod a+r`) or copy it to a raw folder you can read."
        ) from err
    except OSError as err:
        raise InputError(f"Cannot open {path}: {err.strerror}.") from err
    try:
        opened = os.fstat(fd)
        _check_plain(path, opened.st_mode)
        yield RawFile(path, fd, opened)
    finally:
        os.close(fd)


def check_header(raw: RawFile) -> None:
    """The first line must be the raw header; anything else means the wrong file or layout."""
    head = raw.head()
    for signature, kind, fix in _SIGNATURES:
        if head.startswith(signature):
            raise InputError(
                f"{raw.path} looks like {kind} (it starts with the bytes "
                f"{signature.hex(' ')}), not a plain CSV: {fix} and put the plain text "
                f"at {raw.path}."
            )
    if not head:
        raise InputError(f"{raw.path} is empty: expected at least the header line.")
    first = head.split(b"\n", 1)[0].removesuffix(b"\r").removeprefix(_BOM)
    if first != EXPECTED_HEADER.encode():
        text = first[:200].decode("utf-8", errors="replace")
        shown = text if text.isprintable() else ascii(first[:120])[2:-1] + "  (not plain text)"
        raise InputError(
            f"{raw.path} does not start with the raw header.\n  expected: {EXPECTED_HEADER}\n"
            f"  found:    {shown}\nCheck that this is an unmodified monthly export."
        )


def scan_lines(source: str) -> pl.LazyFrame:
    """Each physical data line as one text column plus its 0-based index (the header is 0).

    Reading whole lines keeps the exact raw text and line number of every row for quarantine,
    and leaves all parsing to checked expressions. The source must be valid UTF-8 (Polars'
    line scanner refuses anything else): see `utf8_copy` for files that are not.
    """
    return pl.scan_lines(source, name=LINE, row_index_name=LINE_INDEX, glob=False).slice(1)


def utf8_copy(raw: RawFile, target: Path) -> list[int]:
    """Copy the file with each undecodable byte replaced by U+FFFD; return those lines' indices.

    The fallback for files that are not valid UTF-8: the copy is read by the same line scanner
    (same line numbers, same line endings), and the lines are marked `bad_encoding` by their
    index, from the bytes, so a valid line that happens to hold U+FFFD stays good. Written by
    hand because no library maps invalid bytes to line numbers; blocks that decode (nearly
    all) are copied as they are, at memory speed. One extra pass, only for such files.
    """
    bad: list[int] = []
    first_line, offset, carry = 0, 0, b""
    with target.open("wb") as out:
        while True:
            block = os.pread(raw.fd, _BLOCK, offset)
            offset += len(block)
            data = carry + block
            cut = len(data) if not block else data.rfind(b"\n") + 1
            if cut == 0 and block:
                carry = data
                continue
            data, carry = data[:cut], data[cut:]
            try:
                data.decode("utf-8")
                out.write(data)
            except UnicodeDecodeError:
                lines = data.split(b"\n")
                for number, line in enumerate(lines):
                    try:
                        line.decode("utf-8")
                    except UnicodeDecodeError:
                        bad.append(first_line + number)
                        lines[number] = line.decode("utf-8", errors="replace").encode()
                out.write(b"\n".join(lines))
            first_line += data.count(b"\n")
            if not block:
                return bad


def raw_lines(raw: RawFile, numbers: list[int]) -> dict[int, bytes]:
    """The exact bytes of the given 1-based physical lines, without the line ending."""
    wanted, found = set(numbers), {}
    with open(raw.readable, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number in wanted:
                found[number] = line.removesuffix(b"\n").removesuffix(b"\r")
                if len(found) == len(wanted):
                    break
    return found
