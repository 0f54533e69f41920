# The api key (ECOM_API_KEY): generated at apply time and written to Secret Manager as a
# write-only value, so it is in no state file or plan. Read it with
#   gcloud secrets versions access latest --secret <api_key_secret output>
resource "google_secret_manager_secret" "api_key" {
  secret_id = "${var.name_prefix}-api-key"
  labels    = local.labels

  replication {
    auto {}
  }

  depends_on = [google_project_service.enabled]
}

ephemeral "random_password" "api_key" {
  length  = 48
  special = false
}

resource "google_secret_manager_secret_version" "api_key" {
  secret                 = google_secret_manager_secret.api_key.id
  secret_data_wo         = ephemeral.random_password.api_key.result
  secret_data_wo_version = var.api_key_version
}
