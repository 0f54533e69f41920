# ecom-growth on Google Cloud: the lake, model and report buckets, the three BigQuery layers, an
# image repository, and two Cloud Run services (api, ui), each running as its own service account.

locals {
  labels = merge(var.labels, {
    app        = "ecom-growth"
    managed-by = "terraform"
  })

  # The services exist once their images do: the first apply (no image_tag) creates the
  # repository they are pushed to.
  deploy_services = var.image_tag != null

  registry = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"

  apis = toset([
    "artifactregistry.googleapis.com",
    "bigquery.googleapis.com",
    "cloudbuild.googleapis.com",
    "iam.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "storage.googleapis.com",
  ])
}

resource "google_project_service" "enabled" {
  for_each = local.apis

  service = each.value
  # Other workloads of the project may use these APIs: never switch them off on destroy.
  disable_on_destroy = false
}
