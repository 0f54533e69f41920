# The warehouse's three layers; dbt builds silver and gold in them, ingestion loads bronze.
locals {
  dataset_descriptions = {
    bronze = "Raw events as ingested (events, quarantine), one load per month file."
    silver = "Cleaned, de-duplicated events (dbt: stg_events)."
    gold   = "Sessions, users, cart sessions, experiment summary and model scores (dbt)."
  }
}

resource "google_bigquery_dataset" "layers" {
  for_each = var.datasets

  dataset_id  = each.value
  location    = var.bq_location
  description = local.dataset_descriptions[each.key]
  labels      = merge(local.labels, { layer = each.key })

  delete_contents_on_destroy = !var.deletion_protection

  depends_on = [google_project_service.enabled]
}
