output "api_url" {
  description = "URL of the api service (null until image_tag is set)."
  value       = one(google_cloud_run_v2_service.api[*].uri)
}

output "ui_url" {
  description = "URL of the dashboard (null until image_tag is set)."
  value       = one(google_cloud_run_v2_service.ui[*].uri)
}

output "image_repository" {
  description = "Artifact Registry path to push the images to: <this>/api:<tag> and <this>/ui:<tag>."
  value       = local.registry
}

output "lake_bucket" {
  description = "Bucket of the Parquet lake and of BigQuery ML exports."
  value       = google_storage_bucket.buckets["lake"].name
}

output "models_bucket" {
  description = "Bucket of the model versions the api serves and the ui lists (copy data/models/abandonment into it)."
  value       = google_storage_bucket.buckets["models"].name
}

output "reports_bucket" {
  description = "Bucket of the dashboard's files: copy data/reports and data/manifests into it as reports/ and manifests/."
  value       = google_storage_bucket.buckets["reports"].name
}

output "bigquery_datasets" {
  description = "BigQuery dataset id of each layer (bronze, silver, gold)."
  value       = { for layer, dataset in google_bigquery_dataset.layers : layer => dataset.dataset_id }
}

output "service_accounts" {
  description = "Email of each workload's service account (api, ui, pipeline)."
  value       = { for name, account in google_service_account.runtime : name => account.email }
}

output "api_key_secret" {
  description = "Secret Manager secret holding the api key (X-API-Key)."
  value       = google_secret_manager_secret.api_key.secret_id
}

output "pipeline_environment" {
  description = "Shell exports that point the pipeline at this deployment: eval \"$(terraform output -raw pipeline_environment)\"."
  value = join("\n", [for name, value in {
    ECOM_WAREHOUSE         = "bigquery"
    ECOM_GCP_PROJECT       = var.project_id
    ECOM_BQ_LOCATION       = var.bq_location
    ECOM_BQ_BRONZE_DATASET = google_bigquery_dataset.layers["bronze"].dataset_id
    ECOM_BQ_SILVER_DATASET = google_bigquery_dataset.layers["silver"].dataset_id
    ECOM_BQ_GOLD_DATASET   = google_bigquery_dataset.layers["gold"].dataset_id
    ECOM_GCS_BUCKET        = google_storage_bucket.buckets["lake"].name
    ECOM_LAKE_URI          = "gs://${google_storage_bucket.buckets["lake"].name}/lake"
  } : "export ${name}=${value}"])
}
