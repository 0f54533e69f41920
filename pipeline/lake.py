"""Where bronze Parquet lives: a local folder (default) or a gs://bucket/prefix.

A month's parts are always written to a local staging folder first. On a local lake the
ingestion's commit protocol (`pipeline.ingest.commit`) swaps the staged folder in by rename;
on GCS, which has no rename, `publish` uploads the parts and then deletes the partition's
other objects (a reader listing during the upload can see a mix of old and new parts).
Either way a re-run replaces, never appends.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.files import literal_glob

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

    def publish(self, staged: Path, table: str, month_key: str) -> list[str]:
        """gs:// lake: replace the partition with the staged parts; the published addresses."""
        if not self.is_gcs:
            raise ValueError(f"{self.uri} is a local folder: its partitions are swapped by rename")
        names = sorted(p.name for p in staged.glob("*.parquet"))
        target = self.partition(table, month_key)
        with _gcs_errors(target):
            _gcs_replace_prefix(staged, names, target)
        return [f"{target}/{name}" for name in names]

    def local_glob(self, table: str) -> str:
        """Absolute glob of every published part of a local table (hidden folders excluded).

        What a reader such as DuckDB's `read_parquet` follows to see the whole table; staging
        and retired folders start with a dot, so they never match `month=*`.
        """
        if self.is_gcs:
            raise ValueError(f"{self.uri} is on GCS: no local glob")
        folder = literal_glob(Path(self.uri).resolve() / table)  # `data[1]` is a folder name
        return f"{folder}/month=*/*.parquet"

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
