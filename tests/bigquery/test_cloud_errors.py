"""Errors a user meets on Google Cloud name the setting or permission that fixes them.

For real: no credentials (a machine without any, like this one), a missing bucket (the GCS
emulator), a missing dataset (the BigQuery emulator). Permission, quota and byte-cap failures
cannot be produced offline (no emulator enforces IAM, quotas or billing): for those, BigQuery's
and Cloud Storage's own error texts and exception types go through the same mapping.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from google.api_core import exceptions as google

from pipeline.errors import InputError, WarehouseError
from pipeline.lake import Lake
from pipeline.settings import REPO_ROOT, Settings
from pipeline.warehouse.gcp_errors import explain, hint_for_text
from tests.bigquery.cloud_run import CloudRun, base_env

ECOM = REPO_ROOT / ".venv" / "bin" / "ecom"


def no_credentials_env(tmp_path: Path) -> dict[str, str]:
    env = base_env()
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    env.update(
        HOME=str(tmp_path),  # no ~/.config/gcloud
        NO_GCE_CHECK="true",  # not on Google Compute Engine: don't probe its metadata server
        ECOM_DATA_DIR=str(tmp_path / "data"),
        ECOM_WAREHOUSE="bigquery",
        ECOM_GCP_PROJECT="my-project",
    )
    return env


@pytest.mark.parametrize("command", [("abtest",), ("warehouse",)])
def test_no_credentials_says_how_to_log_in(tmp_path: Path, command: tuple[str, ...]) -> None:
    done = subprocess.run(
        [str(ECOM), *command],
        env=no_credentials_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 4, output
    assert "gcloud auth application-default login" in output
    assert "Traceback" not in output


def test_a_missing_bucket_names_it_and_the_setting(tmp_path: Path, cloud: CloudRun) -> None:
    os.environ["STORAGE_EMULATOR_HOST"] = cloud.storage_endpoint
    try:
        with pytest.raises(InputError, match=r"gs://no-such-bucket does not exist.*ECOM_LAKE_URI"):
            Lake("gs://no-such-bucket/lake").parts("events", "2019-10")
    finally:
        os.environ.pop("STORAGE_EMULATOR_HOST", None)


def test_a_missing_dataset_names_the_stage_to_run(cloud: CloudRun) -> None:
    from pipeline.warehouse.bigquery import BigQueryWarehouse

    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        warehouse="bigquery",
        gcp_project="ecom-emulator",
        bq_api_endpoint=cloud.bigquery_endpoint,
        bq_gold_dataset="never_built_gold",
    )
    wh = BigQueryWarehouse(settings)
    with pytest.raises(WarehouseError, match=r"gold\.dim_users does not exist.*ecom warehouse"):
        wh.query(f"select * from {wh.table('gold', 'dim_users')}")


SETTINGS = Settings(_env_file=None, gcp_project="my-project", lake_uri="gs://my-lake/lake")  # type: ignore[call-arg]

# BigQuery's and Cloud Storage's own words for each failure (error reasons and messages as the
# APIs return them), with what the message must then tell the user.
GOOGLE_FAILURES = [
    (
        google.BadRequest(
            "Query exceeded limit for bytes billed: 10737418240. 21474836480 or higher required.",
            errors=[{"reason": "bytesBilledLimitExceeded"}],
        ),
        ["ECOM_BQ_MAXIMUM_BYTES_BILLED", "10,737,418,240", "--dry-run"],
    ),
    (
        google.Forbidden(
            "Access Denied: Project my-project: User does not have bigquery.jobs.create "
            "permission in project my-project.",
            errors=[{"reason": "accessDenied"}],
        ),
        ["roles/bigquery.jobUser", "my-project"],
    ),
    (
        google.Forbidden(
            "Access Denied: Table my-project:cosmetics_gold.dim_users: Permission "
            "bigquery.tables.getData denied on table my-project:cosmetics_gold.dim_users",
            errors=[{"reason": "accessDenied"}],
        ),
        ["roles/bigquery.dataEditor", "cosmetics_gold"],
    ),
    (
        google.Forbidden(
            "Quota exceeded: Your project exceeded quota for free query bytes scanned.",
            errors=[{"reason": "quotaExceeded"}],
        ),
        ["quota", "my-project"],
    ),
    (
        google.TooManyRequests(
            "Exceeded rate limits: too many table update operations for this table.",
            errors=[{"reason": "rateLimitExceeded"}],
        ),
        ["quota or rate limit"],
    ),
    (
        google.NotFound("Not found: Project my-projekt"),
        ["ECOM_GCP_PROJECT", "bigquery.googleapis.com"],
    ),
    (
        google.NotFound(
            "Not found: Dataset my-project:cosmetics_silver was not found in location EU"
        ),
        ["ECOM_BQ_LOCATION", "terraform apply"],
    ),
    (
        google.Forbidden(
            "my-sa@my-project.iam.gserviceaccount.com does not have storage.objects.get access "
            "to the Google Cloud Storage object."
        ),
        ["roles/storage.objectViewer", "ECOM_LAKE_URI"],
    ),
]


@pytest.mark.parametrize(("error", "expected"), GOOGLE_FAILURES, ids=lambda v: type(v).__name__)
def test_google_failures_name_what_to_fix(error: Exception, expected: list[str]) -> None:
    message = explain(error, SETTINGS, "A BigQuery query")
    assert message.startswith("A BigQuery query failed: ")
    for words in expected:
        assert words in message, (words, message)


def test_an_unknown_failure_keeps_googles_message_and_adds_no_guess() -> None:
    error = google.InternalServerError("backendError: please retry")
    assert hint_for_text(str(error), SETTINGS) is None
    assert explain(error, SETTINGS, "x") == f"x failed: {error}"
