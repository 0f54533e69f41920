# Three buckets: the lake (the pipeline's alone), the model versions (read by the api and the
# ui's Monitoring tab) and the dashboard's files (read by the ui); the pipeline writes all three.
locals {
  buckets = {
    lake = {
      purpose             = "bronze Parquet lake (ECOM_LAKE_URI) and BigQuery ML exports (ECOM_GCS_BUCKET)"
      nearline_after_days = var.lake_nearline_after_days
    }
    models = {
      purpose             = "model versions and current.json, mounted read-only at /models (api, ui)"
      nearline_after_days = null
    }
    reports = {
      purpose             = "reports/ (readout, drift) and manifests/ (freshness), mounted read-only by the ui as its data dir"
      nearline_after_days = null
    }
  }
}

resource "google_storage_bucket" "buckets" {
  for_each = local.buckets

  name     = "${var.project_id}-${var.name_prefix}-${each.key}"
  location = var.region
  labels   = merge(local.labels, { purpose = each.key })

  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = !var.deletion_protection

  versioning {
    enabled = true
  }

  # A replaced or deleted object stays recoverable for a while, then goes.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "lifecycle_rule" {
    for_each = each.value.nearline_after_days == null ? [] : [each.value.nearline_after_days]
    content {
      condition {
        age        = lifecycle_rule.value
        with_state = "LIVE"
      }
      action {
        type          = "SetStorageClass"
        storage_class = "NEARLINE"
      }
    }
  }

  depends_on = [google_project_service.enabled]
}
