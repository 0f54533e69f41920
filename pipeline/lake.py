"""Where bronze Parquet lives: a local folder (default) or a gs://bucket/prefix.

Parts are always written to a local staging folder first, then published as a whole
partition: on a local lake by renaming folders (the old partition disappears only once the
new one is complete, so readers never see half a month), on GCS by uploading the parts and
then deleting the partition's other objects (GCS has no rename: a reader listing during the
upload can see a mix of old and new parts). Either way a re-run replaces, never appends.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud import storage

GCS_SCHEME = "gs://"


class Lake:
    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.is_gcs = self.uri.startswith(GCS_SCHEME)

    def partition(self, table: str, month_key: str) -> str:
        """Hive-style partition address, e.g. data/lake/events/month=2019-10."""
        return f"{self.uri}/{table}/month={month_key}"

    @contextmanager
    def staging(self, table: str) -> Iterator[Path]:
        """A fresh local folder for a partition's new parts, removed afterwards.

        On a local lake it sits inside the table folder (same file system, so publishing is a
        rename); its leading dot hides it from Hive-style readers.
        """
        if self.is_gcs:
            with TemporaryDirectory(prefix="ecom-lake-") as tmp:
                yield Path(tmp)
            return
        path = Path(self.uri) / table / f".staging-{uuid.uuid4().hex}"
        path.mkdir(parents=True)
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)

    def publish(self, staged: Path, table: str, month_key: str) -> list[str]:
        """Replace the partition with the staged parts; return the published part addresses."""
        names = sorted(p.name for p in staged.glob("*.parquet"))
        target = self.partition(table, month_key)
        if self.is_gcs:
            with _gcs_errors(target):
                _gcs_replace_prefix(staged, names, target)
        else:
            _local_replace_dir(staged, Path(target))
        return [f"{target}/{name}" for name in names]

    def local_glob(self, table: str) -> str:
        """Absolute glob of every published part of a local table (hidden folders excluded).

        What a reader such as DuckDB's `read_parquet` follows to see the whole table; staging
        and retired folders start with a dot, so they never match `month=*`.
        """
        if self.is_gcs:
            raise ValueError(f"{self.uri} is on GCS: no local glob")
        return str(Path(self.uri).resolve() / table / "month=*" / "*.parquet")

    def parts(self, table: str, month_key: str) -> list[str]:
        """The published parts of one partition (empty when the month was never ingested)."""
        target = self.partition(table, month_key)
        if self.is_gcs:
            bucket, prefix = _split_gcs(target)
            with _gcs_errors(target):
                client = _gcs_client()
                return sorted(
                    f"{GCS_SCHEME}{bucket}/{blob.name}"
                    for blob in client.list_blobs(bucket, prefix=prefix + "/")
                    if blob.name.endswith(".parquet")
                )
        return sorted(str(p) for p in Path(target).glob("*.parquet"))


def _local_replace_dir(staged: Path, target: Path) -> None:
    """Swap folders by rename: the old partition is retired only once the new one is whole."""
    target.parent.mkdir(parents=True, exist_ok=True)
    retired = target.parent / f".retired-{uuid.uuid4().hex}"
    if target.exists():
        target.rename(retired)
    staged.rename(target)
    shutil.rmtree(retired, ignore_errors=True)


def _split_gcs(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri.removeprefix(GCS_SCHEME).partition("/")
    return bucket, prefix.rstrip("/")


@contextmanager
def _gcs_errors(uri: str) -> Iterator[None]:
    """Cloud Storage failures as errors naming what to fix (bucket, permission, credentials)."""
    from google.api_core.exceptions import Forbidden, GoogleAPIError, NotFound
    from google.auth.exceptions import GoogleAuthError

    from pipeline.errors import InputError

    bucket = _split_gcs(uri)[0]
    try:
        yield
    except NotFound as exc:
        raise InputError(
            f"The lake's bucket gs://{bucket} does not exist ({exc}): create it (`terraform "
            "apply` makes it) or set ECOM_LAKE_URI to an existing gs://bucket/prefix."
        ) from exc
    except Forbidden as exc:
        raise InputError(
            f"No access to gs://{bucket} ({exc}): grant the account roles/storage.objectAdmin "
            "on the bucket (ECOM_LAKE_URI)."
        ) from exc
    except GoogleAuthError as exc:
        raise InputError(
            f"No Google Cloud credentials for gs://{bucket} ({exc}): run `gcloud auth "
            "application-default login`, or set STORAGE_EMULATOR_HOST for an emulator."
        ) from exc
    except GoogleAPIError as exc:
        raise InputError(f"Cloud Storage failed on gs://{bucket}: {exc}") from exc


def _gcs_client() -> storage.Client:
    """A storage client; with STORAGE_EMULATOR_HOST set it talks to the emulator anonymously.

    Imported lazily: only a gs:// lake needs google-cloud-storage.
    """
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project="emulator", credentials=AnonymousCredentials())
    return storage.Client()


def _gcs_replace_prefix(staged: Path, names: list[str], target: str) -> None:
    bucket_name, prefix = _split_gcs(target)
    client = _gcs_client()
    bucket = client.bucket(bucket_name)
    wanted = {f"{prefix}/{name}" for name in names}
    for name in names:
        bucket.blob(f"{prefix}/{name}").upload_from_filename(str(staged / name))
    for blob in client.list_blobs(bucket_name, prefix=prefix + "/"):
        if blob.name not in wanted:
            blob.delete()
