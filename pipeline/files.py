"""Files on disk, done safely once: locks, durable atomic writes, and failures told in words.

Floor 1: the standard library and `pipeline.errors` only, so ingestion, the warehouse and the
model registry (which the API imports) can all use it. Polars is never imported here; its I/O
errors are recognised only when Polars is already loaded.

- `exclusive_lock(path)`: a `flock` on a lock file, released by the kernel however the process
  dies; optionally non-blocking, with a note naming the holder for whoever is refused.
- `atomic_write(path, text)`: a temporary file in the same folder, fsync'd, renamed over the
  target, and the folder fsync'd: a reader sees the old file or the new one, even after a
  power loss.
- `storage_errors(action, path, ...)`: an OSError, or a Polars I/O error ("No space left on
  device (os error 28)", "Invalid thrift" when a part cut short by a full disk is read back),
  becomes a StorageError naming the path, the cause in words and what is still intact.
"""

from __future__ import annotations

import errno
import fcntl
import glob
import os
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from pipeline.errors import EcomError, StorageError

# Below this much free space a write failure is taken to be the disk filling up.
_NEARLY_FULL = 1 << 20
_OS_ERROR = re.compile(r"os error (\d+)")
_IO_WORDS = ("os error", "thrift", "parquet", "i/o", "permission", "no space")
# Errors other libraries (DuckDB) report only in words: found by the system's own wording.
_WORDED = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
TMP_SUFFIX = ".tmp"


# ---- locks ---------------------------------------------------------------------------------
class LockHeld(Exception):
    """A non-blocking `exclusive_lock` found the lock taken; `note` is what its holder wrote."""

    def __init__(self, path: Path, note: str) -> None:
        super().__init__(f"{path} is locked by another process")
        self.path, self.note = path, note


@contextmanager
def exclusive_lock(path: Path, *, wait: bool = True, note: str | None = None) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` (created, with its folder) for the block.

    `wait=False` raises LockHeld at once when another process holds it. A `note` (e.g. who
    holds the lock) is written into the file while it is held and emptied on release.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockHeld(path, os.pread(fd, 4096, 0).decode(errors="replace")) from None
        if note is not None:
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode(), 0)
        try:
            yield
        finally:
            if note is not None:
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


# ---- durable writes ------------------------------------------------------------------------
def fsync_dir(path: Path) -> None:
    """Make a folder's entries (a rename, a new or deleted file) survive a power loss."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> Path:
    """Replace `path` with `text` all at once and durably; on failure `path` is untouched.

    The temporary file is `.<name>.<random>.tmp` beside it (same file system, so the rename is
    atomic); it is removed when the write fails, and a killed writer's is recognisable by name.
    """
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TMP_SUFFIX}")
    try:
        with tmp.open("w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException as err:
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename in (None, str(tmp)):
            err.filename = str(path)  # the file being replaced, not the temporary one
        raise
    fsync_dir(path.parent)
    return path


def remove(path: Path) -> None:
    """Delete a file or a whole folder; nothing to do when it is not there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def literal_glob(path: Path | str) -> str:
    """`path` escaped for a glob reader (DuckDB's `read_parquet`, Python's glob): a folder
    named `data[1]` is that folder, never the pattern matching `data1`."""
    return glob.escape(str(path))


# ---- failures in words ---------------------------------------------------------------------
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


def _code(err: BaseException) -> int | None:
    code = getattr(err, "errno", None)
    if code is None and (found := _OS_ERROR.search(str(err))):
        code = int(found.group(1))
    if code is None:
        text = str(err)
        code = next((c for c in _WORDED if os.strerror(c) in text), None)
    return code


def cause(err: BaseException, path: Path) -> str:
    """The reason in words: a full disk, a permission, a read-only file system, or the error."""
    code = _code(err)
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
    """What to do about `cause`; a permission on a path not there yet is the folder's."""
    text = cause(err, path)
    if text.startswith("no space"):
        return "Free some space there (or point ECOM_DATA_DIR / ECOM_LAKE_URI elsewhere)"
    if text.startswith(("permission", "the file system is read-only")):
        place = next((p for p in (path, *path.parents) if p.exists()), path)
        return f"Make {place} writable for this user (or run as its owner)"
    return "Fix the cause"


def is_storage_error(err: BaseException) -> bool:
    """An OSError, or a Polars error that is about reading or writing files."""
    if isinstance(err, OSError):
        return True
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(err, polars.exceptions.PolarsError):
        text = str(err).lower()
        return any(word in text for word in _IO_WORDS)
    return False


def message(action: str, path: Path, err: BaseException, *, intact: str, retry: str) -> str:
    """'Cannot <action> <path>: <cause>. <intact> <advice>, then re-run `<retry>`.'"""
    return (
        f"Cannot {action} {path}: {cause(err, path)}. {intact} "
        f"{advice(err, path)}, then re-run `{retry}`."
    )


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
