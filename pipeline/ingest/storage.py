"""File system failures (permissions, read-only folders, a full disk) as messages, not tracebacks.

Each step of a month that touches the disk runs inside `storage_errors(action, path, ...)`: an
OSError, or a Polars I/O error ("No space left on device (os error 28)", "Invalid thrift" when a
part cut short by a full disk is read back), becomes a StorageError naming the path, the cause
and what is still intact.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from pipeline.errors import EcomError, StorageError

# Below this much free space a write failure is taken to be the disk filling up.
_NEARLY_FULL = 1 << 20
_OS_ERROR = re.compile(r"os error (\d+)")
_IO_WORDS = ("os error", "thrift", "parquet", "i/o", "permission", "no space")


def user() -> str:
    """Who this process writes as, for 'permission denied' messages."""
    try:
        import pwd

        return f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"
    except (ImportError, KeyError):
        return f"uid {os.geteuid()}"


def free_bytes(path: Path) -> int | None:
    """Free space on the file system holding `path` (or its nearest existing parent)."""
    for candidate in (path, *path.parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def cause(err: BaseException, path: Path) -> str:
    """The reason in words: a full disk, a permission, a read-only file system, or the error."""
    code = getattr(err, "errno", None)
    if code is None and (found := _OS_ERROR.search(str(err))):
        code = int(found.group(1))
    free = free_bytes(path)
    if code in (errno.ENOSPC, errno.EDQUOT) or (free is not None and free < _NEARLY_FULL):
        return (
            f"no space left on the device ({free or 0:,} bytes free on the file system holding "
            f"{path})"
        )
    if code in (errno.EACCES, errno.EPERM):
        return f"permission denied for user {user()}"
    if code == errno.EROFS:
        return "the file system is read-only"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror[0].lower() + err.strerror[1:]
    return str(err).strip().splitlines()[0]


def advice(err: BaseException, path: Path) -> str:
    text = cause(err, path)
    if text.startswith("no space"):
        return "Free some space there (or point ECOM_DATA_DIR / ECOM_LAKE_URI elsewhere)"
    if text.startswith(("permission", "the file system is read-only")):
        return f"Make {path} writable for this user (or run as its owner)"
    return "Fix the cause"


def is_storage_error(err: BaseException) -> bool:
    if isinstance(err, OSError):
        return True
    if isinstance(err, pl.exceptions.PolarsError):
        text = str(err).lower()
        return any(word in text for word in _IO_WORDS)
    return False


@contextmanager
def storage_errors(action: str, path: Path | str, *, intact: str, retry: str) -> Iterator[None]:
    """Turn a file system failure of `action` on `path` into a StorageError.

    `intact` says what is still as it was; `retry` is the command to run once fixed."""
    try:
        yield
    except EcomError:
        raise
    except Exception as err:
        if not is_storage_error(err):
            raise
        raise StorageError(message(action, Path(path), err, intact=intact, retry=retry)) from err


def message(action: str, path: Path, err: BaseException, *, intact: str, retry: str) -> str:
    return (
        f"Cannot {action} {path}: {cause(err, path)}. {intact} "
        f"{advice(err, path)}, then re-run `{retry}`."
    )
