"""Google Cloud failures as messages that name the setting or the permission to fix.

BigQuery and Cloud Storage answer with HTTP statuses and terse reasons ("accessDenied",
"quotaExceeded", "bytesBilledLimitExceeded"); a user needs to know which ECOM_ setting, IAM
role or command fixes it. One function per source of errors: the Python clients' exceptions
(`explain`) and dbt's text messages (`hint_for_text`), which carry the same reasons as words.
"""

from __future__ import annotations

import re

from pipeline.settings import Settings

CREDENTIALS_HINT = (
    "No Google Cloud credentials: run `gcloud auth application-default login` (or point "
    "GOOGLE_APPLICATION_CREDENTIALS at a service-account key file); for an emulator set "
    "ECOM_BQ_API_ENDPOINT."
)

# (pattern in the error text, what to do). The first match wins; patterns are BigQuery's and
# Cloud Storage's own reason codes and phrases.
_TEXT_HINTS: tuple[tuple[str, str], ...] = (
    (
        r"bytesBilledLimitExceeded|exceeded limit for bytes billed|maximum_bytes_billed",
        "The query would bill more than ECOM_BQ_MAXIMUM_BYTES_BILLED ({max_bytes} bytes). "
        "Check the bytes with `ecom warehouse --dry-run`, then raise the setting (e.g. "
        "ECOM_BQ_MAXIMUM_BYTES_BILLED=50000000000) if the cost is expected.",
    ),
    (
        r"DefaultCredentialsError|Could not automatically determine credentials|"
        r"Reauthentication is needed|invalid_grant|Request had invalid authentication|"
        r"Failed to authenticate with supplied credentials",
        CREDENTIALS_HINT,
    ),
    (
        r"quotaExceeded|rateLimitExceeded|Quota exceeded|exceeded rate limits",
        "A BigQuery quota or rate limit was hit (project {project}): wait and re-run, or ask "
        "for more quota in the Cloud console (IAM & Admin > Quotas).",
    ),
    (
        r"storage\.objects\.(get|list|create|delete)|storage\.buckets\.get",
        "The account may not use the lake's bucket: grant it roles/storage.objectAdmin on the "
        "bucket of ECOM_LAKE_URI ({lake}); BigQuery load jobs need roles/storage.objectViewer.",
    ),
    (
        r"bigquery\.jobs\.create|User does not have bigquery\.jobs",
        "The account may not run BigQuery jobs in project {project}: grant it "
        "roles/bigquery.jobUser (ECOM_GCP_PROJECT is the project that runs and pays for jobs).",
    ),
    (
        r"Access Denied|accessDenied|Permission denied|PERMISSION_DENIED|does not have .*permission",
        "Permission denied: the account needs roles/bigquery.dataEditor on the datasets "
        "({datasets}) and roles/bigquery.jobUser on project {project}.",
    ),
    (
        r"Not found: Project|project .* not found|Project .* is not found|The project .* has not",
        "Project {project} does not exist or the BigQuery API is not enabled there: check "
        "ECOM_GCP_PROJECT and enable bigquery.googleapis.com (`terraform apply` does both).",
    ),
    (
        r"Not found: Dataset|Dataset .* was not found",
        "A dataset is missing ({datasets}, location {location}): create them with "
        "`terraform apply` or `ecom ingest` (which creates bronze), or check "
        "ECOM_BQ_*_DATASET and ECOM_BQ_LOCATION.",
    ),
    (
        r"bucket does not exist|The specified bucket does not exist|No such bucket|notFound.*bucket",
        "The lake's bucket does not exist: create it (`terraform apply`) or fix ECOM_LAKE_URI "
        "({lake}).",
    ),
)


def _fields(settings: Settings) -> dict[str, object]:
    return {
        "project": settings.gcp_project or "(ECOM_GCP_PROJECT is not set)",
        "datasets": ", ".join(
            (settings.bq_bronze_dataset, settings.bq_silver_dataset, settings.bq_gold_dataset)
        ),
        "location": settings.bq_location,
        "lake": settings.lake,
        "max_bytes": f"{settings.bq_maximum_bytes_billed:,}",
    }


def hint_for_text(text: str, settings: Settings) -> str | None:
    """The fix for an error message (a client exception's or dbt's), if it is a known one."""
    for pattern, hint in _TEXT_HINTS:
        if re.search(pattern, text, flags=re.IGNORECASE):
            return hint.format(**_fields(settings))
    return None


def explain(exc: BaseException, settings: Settings, doing: str) -> str:
    """'<doing> failed: <Google's message>. <what to do>' for any Google client error."""
    hint = hint_for_text(f"{type(exc).__name__}: {exc}", settings)
    message = f"{doing} failed: {exc}"
    return f"{message}\n{hint}" if hint else message


__all__ = ["CREDENTIALS_HINT", "explain", "hint_for_text"]
