# One identity per workload, each granted only what it does, always as *_iam_member (one grant,
# never an authoritative policy on a shared resource) and never a basic role.
locals {
  service_accounts = {
    api      = "ecom-growth api: reads model versions"
    ui       = "ecom-growth dashboard: reads gold, reports and model cards, calls the api"
    pipeline = "ecom-growth pipeline: ingestion, dbt, BigQuery ML training and export"
  }

  # Which identity may do what on which bucket.
  bucket_grants = {
    api_reads_models      = { account = "api", bucket = "models", role = "roles/storage.objectViewer" }
    ui_reads_models       = { account = "ui", bucket = "models", role = "roles/storage.objectViewer" }
    ui_reads_reports      = { account = "ui", bucket = "reports", role = "roles/storage.objectViewer" }
    pipeline_uses_lake    = { account = "pipeline", bucket = "lake", role = "roles/storage.objectUser" }
    pipeline_uses_models  = { account = "pipeline", bucket = "models", role = "roles/storage.objectUser" }
    pipeline_uses_reports = { account = "pipeline", bucket = "reports", role = "roles/storage.objectUser" }
  }

  # On datasets: the ui reads gold; the pipeline writes every layer, BigQuery ML models
  # included (a model lives in a dataset: bigquery.models.* is part of dataEditor).
  dataset_grants = {
    ui_reads_gold         = { account = "ui", layer = "gold", role = "roles/bigquery.dataViewer" }
    pipeline_edits_bronze = { account = "pipeline", layer = "bronze", role = "roles/bigquery.dataEditor" }
    pipeline_edits_silver = { account = "pipeline", layer = "silver", role = "roles/bigquery.dataEditor" }
    pipeline_edits_gold   = { account = "pipeline", layer = "gold", role = "roles/bigquery.dataEditor" }
  }

  # Running a query is a project-level permission (bigquery.jobs.create); data access stays per
  # dataset above.
  project_grants = {
    ui_runs_queries       = { account = "ui", role = "roles/bigquery.jobUser" }
    pipeline_runs_queries = { account = "pipeline", role = "roles/bigquery.jobUser" }
  }

  # Both services read the api key: the api checks it, the ui sends it.
  secret_grants = {
    api_reads_api_key = { account = "api", role = "roles/secretmanager.secretAccessor" }
    ui_reads_api_key  = { account = "ui", role = "roles/secretmanager.secretAccessor" }
  }
}

resource "google_service_account" "runtime" {
  for_each = local.service_accounts

  account_id   = "${var.name_prefix}-${each.key}"
  display_name = "${var.name_prefix} ${each.key}"
  description  = each.value

  depends_on = [google_project_service.enabled]
}

resource "google_storage_bucket_iam_member" "grants" {
  for_each = local.bucket_grants

  bucket = google_storage_bucket.buckets[each.value.bucket].name
  role   = each.value.role
  member = google_service_account.runtime[each.value.account].member
}

resource "google_bigquery_dataset_iam_member" "grants" {
  for_each = local.dataset_grants

  dataset_id = google_bigquery_dataset.layers[each.value.layer].dataset_id
  role       = each.value.role
  member     = google_service_account.runtime[each.value.account].member
}

resource "google_project_iam_member" "grants" {
  for_each = local.project_grants

  project = var.project_id
  role    = each.value.role
  member  = google_service_account.runtime[each.value.account].member
}

resource "google_secret_manager_secret_iam_member" "grants" {
  for_each = local.secret_grants

  secret_id = google_secret_manager_secret.api_key.id
  role      = each.value.role
  member    = google_service_account.runtime[each.value.account].member
}

# People (or a CI identity) run the pipeline as its service account instead of holding its roles.
resource "google_service_account_iam_member" "pipeline_operators" {
  for_each = toset(var.pipeline_operators)

  service_account_id = google_service_account.runtime["pipeline"].name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}
