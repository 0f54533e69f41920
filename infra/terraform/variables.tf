variable "project_id" {
  description = "Google Cloud project that holds everything (the project id, not its number)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a project id: 6-30 lower-case letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  description = "Region of the Cloud Run services, the image repository and the buckets."
  type        = string
  default     = "us-central1"

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must be a Google Cloud region such as us-central1 or europe-west1."
  }
}

variable "bq_location" {
  description = "BigQuery location of the three datasets (ECOM_BQ_LOCATION): a multi-region (US, EU) or a region; keep it where the region's buckets are."
  type        = string
  default     = "US"

  validation {
    condition     = can(regex("^(US|EU|[a-z]+-[a-z]+[0-9])$", var.bq_location))
    error_message = "bq_location must be US, EU or a region such as europe-west1."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (services, service accounts, buckets after the project id)."
  type        = string
  default     = "ecom"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,13}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-15 lower-case letters, digits or hyphens, starting with a letter (service account ids are at most 30 characters)."
  }
}

variable "datasets" {
  description = "BigQuery dataset of each layer; the defaults are pipeline/settings.py's (ECOM_BQ_BRONZE_DATASET, _SILVER_, _GOLD_)."
  type        = map(string)
  default = {
    bronze = "cosmetics_bronze"
    silver = "cosmetics_silver"
    gold   = "cosmetics_gold"
  }

  validation {
    condition     = length(var.datasets) == 3 && alltrue([for layer in ["bronze", "silver", "gold"] : contains(keys(var.datasets), layer)])
    error_message = "datasets must name exactly the three layers: bronze, silver and gold."
  }

  validation {
    condition     = alltrue([for name in values(var.datasets) : can(regex("^[A-Za-z_][A-Za-z0-9_]{0,1023}$", name))])
    error_message = "Dataset names may hold letters, digits and underscores only (at most 1,024)."
  }
}

variable "image_tag" {
  description = "Tag of both images (api, ui) in the Artifact Registry repository, e.g. the git commit. Leave it unset on the first apply, which creates the repository; set it once both images are pushed, and the two Cloud Run services are created."
  type        = string
  default     = null

  validation {
    condition     = var.image_tag == null || can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a Docker tag: letters, digits, '_', '.', '-', at most 128 characters."
  }
}

variable "api_resources" {
  description = "The api service's CPU, memory, requests per instance and instance bounds. One request renders at most one SHAP waterfall (~0.1-0.2 s of CPU), so concurrency stays modest."
  type = object({
    cpu           = optional(string, "1")
    memory        = optional(string, "1Gi")
    concurrency   = optional(number, 20)
    min_instances = optional(number, 0)
    max_instances = optional(number, 3)
  })
  default = {}

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.api_resources.cpu)
    error_message = "api_resources.cpu must be one of Cloud Run's CPU counts: 1, 2, 4, 6 or 8."
  }

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.api_resources.memory))
    error_message = "api_resources.memory must be a size such as 512Mi or 1Gi."
  }

  validation {
    condition     = var.api_resources.concurrency >= 1 && var.api_resources.concurrency <= 1000
    error_message = "api_resources.concurrency must be between 1 and 1000."
  }

  validation {
    condition     = var.api_resources.min_instances >= 0 && var.api_resources.max_instances >= 1 && var.api_resources.min_instances <= var.api_resources.max_instances
    error_message = "api_resources needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "ui_resources" {
  description = "The ui service's CPU, memory, browser sessions per instance and instance bounds."
  type = object({
    cpu           = optional(string, "1")
    memory        = optional(string, "1Gi")
    concurrency   = optional(number, 20)
    min_instances = optional(number, 0)
    max_instances = optional(number, 2)
  })
  default = {}

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.ui_resources.cpu)
    error_message = "ui_resources.cpu must be one of Cloud Run's CPU counts: 1, 2, 4, 6 or 8."
  }

  validation {
    condition     = can(regex("^[0-9]+(Mi|Gi)$", var.ui_resources.memory))
    error_message = "ui_resources.memory must be a size such as 512Mi or 1Gi."
  }

  validation {
    condition     = var.ui_resources.concurrency >= 1 && var.ui_resources.concurrency <= 1000
    error_message = "ui_resources.concurrency must be between 1 and 1000."
  }

  validation {
    condition     = var.ui_resources.min_instances >= 0 && var.ui_resources.max_instances >= 1 && var.ui_resources.min_instances <= var.ui_resources.max_instances
    error_message = "ui_resources needs 0 <= min_instances <= max_instances and max_instances >= 1."
  }
}

variable "api_public" {
  description = "Let anyone on the internet call the api (allUsers may invoke it; the X-API-Key check still applies). Off: only the ui's service account and api_invokers may."
  type        = bool
  default     = false
}

variable "api_invokers" {
  description = "Principals besides the ui that may call the api, e.g. [\"group:analysts@example.com\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.api_invokers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+", member))])
    error_message = "Each invoker must be an IAM principal such as user:me@example.com or group:team@example.com (use api_public for allUsers)."
  }
}

variable "ui_public" {
  description = "Let anyone on the internet open the dashboard (allUsers may invoke the ui). Off: only ui_invokers may, e.g. through `gcloud run services proxy`."
  type        = bool
  default     = false
}

variable "ui_invokers" {
  description = "Principals that may open the dashboard, e.g. [\"group:growth@example.com\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.ui_invokers : can(regex("^(user|group|serviceAccount|domain|principal|principalSet):.+", member))])
    error_message = "Each invoker must be an IAM principal such as user:me@example.com or group:team@example.com (use ui_public for allUsers)."
  }
}

variable "pipeline_operators" {
  description = "Principals that may run the pipeline as its service account (impersonation), e.g. [\"user:me@example.com\"]."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.pipeline_operators : can(regex("^(user|group|serviceAccount|principal|principalSet):.+", member))])
    error_message = "Each operator must be an IAM principal such as user:me@example.com or group:data@example.com."
  }
}

variable "model_id" {
  description = "Pin the api to one model version (ECOM_MODEL_ID, e.g. abandonment-0123456789ab); unset serves the current one (current.json)."
  type        = string
  default     = null

  validation {
    condition     = var.model_id == null || can(regex("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$", var.model_id))
    error_message = "model_id must be a model version id as `ecom models list` shows it."
  }
}

variable "api_key_version" {
  description = "Generation of the api key kept in Secret Manager: raise it by one to rotate the key (the value is generated and never stored in the Terraform state)."
  type        = number
  default     = 1

  validation {
    condition     = var.api_key_version >= 1 && floor(var.api_key_version) == var.api_key_version
    error_message = "api_key_version must be a whole number from 1."
  }
}

variable "lake_nearline_after_days" {
  description = "Days after which lake objects move to the Nearline storage class (bronze is loaded into BigQuery by then; re-ingesting an old month pays Nearline's retrieval fee)."
  type        = number
  default     = 90

  validation {
    condition     = var.lake_nearline_after_days >= 30
    error_message = "lake_nearline_after_days must be at least 30 (Nearline bills a 30-day minimum)."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept in every bucket (versioning is on) before it is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "image_keep_count" {
  description = "Most recent image versions the repository keeps whatever their age; older ones are deleted after 30 days."
  type        = number
  default     = 10

  validation {
    condition     = var.image_keep_count >= 1
    error_message = "image_keep_count must be at least 1."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the services and any non-empty bucket or dataset. Set it to false and apply before `terraform destroy`."
  type        = bool
  default     = true
}

variable "labels" {
  description = "Labels added to every resource that takes labels (app and managed-by are always set)."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for key, value in var.labels : can(regex("^[a-z][a-z0-9_-]{0,62}$", key)) && can(regex("^[a-z0-9_-]{0,63}$", value))])
    error_message = "Label keys must start with a lower-case letter; keys and values hold lower-case letters, digits, '_' and '-' (at most 63)."
  }
}
