# The two Cloud Run services. Ports, paths and environment agree with api/Dockerfile,
# streamlit_app/Dockerfile, compose.yaml and pipeline/settings.py (tests/deploy checks them).
locals {
  api_port   = 8000
  ui_port    = 8501
  models_dir = "/models"
  data_dir   = "/data"

  # Where the ui finds the warehouse (pipeline.warehouse.connect) and the api.
  ui_environment = {
    ECOM_WAREHOUSE         = "bigquery"
    ECOM_GCP_PROJECT       = var.project_id
    ECOM_BQ_LOCATION       = var.bq_location
    ECOM_BQ_BRONZE_DATASET = google_bigquery_dataset.layers["bronze"].dataset_id
    ECOM_BQ_SILVER_DATASET = google_bigquery_dataset.layers["silver"].dataset_id
    ECOM_BQ_GOLD_DATASET   = google_bigquery_dataset.layers["gold"].dataset_id
    ECOM_DATA_DIR          = local.data_dir
    ECOM_MODELS_DIR        = local.models_dir
  }
}

resource "google_cloud_run_v2_service" "api" {
  count = local.deploy_services ? 1 : 0

  name                = "${var.name_prefix}-api"
  location            = var.region
  description         = "ecom-growth real-time API: abandonment predictions with SHAP explanations."
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    service_account = google_service_account.runtime["api"].email
    # Cloud Storage volumes need the second-generation execution environment.
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    max_instance_request_concurrency = var.api_resources.concurrency
    timeout                          = "60s"
    labels                           = local.labels

    scaling {
      min_instance_count = var.api_resources.min_instances
      max_instance_count = var.api_resources.max_instances
    }

    volumes {
      name = "models"
      gcs {
        bucket    = google_storage_bucket.buckets["models"].name
        read_only = true
      }
    }

    containers {
      name  = "api"
      image = "${local.registry}/api:${var.image_tag}"

      ports {
        container_port = local.api_port
      }

      resources {
        limits = {
          cpu    = var.api_resources.cpu
          memory = var.api_resources.memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "ECOM_MODELS_DIR"
        value = local.models_dir
      }

      dynamic "env" {
        for_each = var.model_id == null ? [] : [var.model_id]
        content {
          name  = "ECOM_MODEL_ID"
          value = env.value
        }
      }

      env {
        name = "ECOM_API_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.api_key.secret_id
            version = "latest"
          }
        }
      }

      volume_mounts {
        name       = "models"
        mount_path = local.models_dir
      }

      # No traffic until the model is loaded: /ready answers 503 before.
      startup_probe {
        http_get {
          path = "/ready"
          port = local.api_port
        }
        initial_delay_seconds = 0
        period_seconds        = 3
        timeout_seconds       = 2
        failure_threshold     = 20
      }

      # A wedged process is restarted; /health answers whenever the process serves.
      liveness_probe {
        http_get {
          path = "/health"
          port = local.api_port
        }
        period_seconds    = 30
        timeout_seconds   = 3
        failure_threshold = 3
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.api_key,
    google_secret_manager_secret_iam_member.grants,
    google_storage_bucket_iam_member.grants,
  ]
}

resource "google_cloud_run_v2_service" "ui" {
  count = local.deploy_services ? 1 : 0

  name                = "${var.name_prefix}-ui"
  location            = var.region
  description         = "ecom-growth dashboard (Streamlit): A/B readout, predictor, bulk scoring, monitoring."
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    service_account                  = google_service_account.runtime["ui"].email
    execution_environment            = "EXECUTION_ENVIRONMENT_GEN2"
    max_instance_request_concurrency = var.ui_resources.concurrency
    # Streamlit holds one websocket per browser tab: keep a tab on its instance, for up to an hour.
    session_affinity = true
    timeout          = "3600s"
    labels           = local.labels

    scaling {
      min_instance_count = var.ui_resources.min_instances
      max_instance_count = var.ui_resources.max_instances
    }

    # The data dir holds reports/ and manifests/; the Monitoring tab reads the model registry.
    volumes {
      name = "data"
      gcs {
        bucket    = google_storage_bucket.buckets["reports"].name
        read_only = true
      }
    }

    volumes {
      name = "models"
      gcs {
        bucket    = google_storage_bucket.buckets["models"].name
        read_only = true
      }
    }

    containers {
      name  = "ui"
      image = "${local.registry}/ui:${var.image_tag}"

      ports {
        container_port = local.ui_port
      }

      resources {
        limits = {
          cpu    = var.ui_resources.cpu
          memory = var.ui_resources.memory
        }
        cpu_idle          = true
        startup_cpu_boost = true
      }

      env {
        name  = "API_URL"
        value = google_cloud_run_v2_service.api[0].uri
      }

      dynamic "env" {
        for_each = local.ui_environment
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name = "ECOM_API_KEY"
        value_source {
          secret_key_ref {
            secret  = google_secret_manager_secret.api_key.secret_id
            version = "latest"
          }
        }
      }

      volume_mounts {
        name       = "data"
        mount_path = local.data_dir
      }

      volume_mounts {
        name       = "models"
        mount_path = local.models_dir
      }

      startup_probe {
        http_get {
          path = "/_stcore/health"
          port = local.ui_port
        }
        initial_delay_seconds = 0
        period_seconds        = 3
        timeout_seconds       = 2
        failure_threshold     = 20
      }

      liveness_probe {
        http_get {
          path = "/_stcore/health"
          port = local.ui_port
        }
        period_seconds    = 30
        timeout_seconds   = 3
        failure_threshold = 3
      }
    }
  }

  depends_on = [
    google_secret_manager_secret_version.api_key,
    google_secret_manager_secret_iam_member.grants,
    google_storage_bucket_iam_member.grants,
    google_bigquery_dataset_iam_member.grants,
    google_project_iam_member.grants,
  ]
}

# Who may call the api: the ui's identity, the listed principals, and everyone only when
# api_public says so.
resource "google_cloud_run_v2_service_iam_member" "api_invokers" {
  for_each = local.deploy_services ? merge(
    { ui = google_service_account.runtime["ui"].member },
    { for member in var.api_invokers : member => member },
  ) : {}

  name     = google_cloud_run_v2_service.api[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_v2_service_iam_member" "api_public" {
  count = local.deploy_services && var.api_public ? 1 : 0

  name     = google_cloud_run_v2_service.api[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}

resource "google_cloud_run_v2_service_iam_member" "ui_invokers" {
  for_each = local.deploy_services ? toset(var.ui_invokers) : toset([])

  name     = google_cloud_run_v2_service.ui[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = each.value
}

resource "google_cloud_run_v2_service_iam_member" "ui_public" {
  count = local.deploy_services && var.ui_public ? 1 : 0

  name     = google_cloud_run_v2_service.ui[0].name
  location = var.region
  role     = "roles/run.invoker"
  member   = "allUsers"
}
