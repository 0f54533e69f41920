"""Both Dockerfiles and compose.yaml: linted by hadolint and Compose's own `config`, and every
command, path, port and variable they name checked against the project (no image can be built
here: base images cannot be pulled)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline.settings import EXPERIMENTS_FILE, REPO_ROOT, SQL_DIR
from pipeline.warehouse.dialect import MACROS_FILE
from tests.deploy import deploy_files as df

BASE_IMAGE = "python:3.12-slim"
# The app renders its queries from these (pipeline.warehouse.templates and .dialect), and
# lists the experiments of experiments.yml (pipeline.experiment.config).
APP_SQL = (
    SQL_DIR.relative_to(REPO_ROOT).as_posix(),
    MACROS_FILE.relative_to(REPO_ROOT).as_posix(),
    EXPERIMENTS_FILE.relative_to(REPO_ROOT).as_posix(),
)
# image -> (Dockerfile, extra, sources copied, port, health path, Terraform service)
IMAGES = {
    "api": (df.API_DOCKERFILE, "api", {"pipeline", "api"}, 8000, "/ready", "api"),
    "ui": (
        df.UI_DOCKERFILE,
        "app",
        {"pipeline", "streamlit_app", *APP_SQL},
        8501,
        "/_stcore/health",
        "ui",
    ),
}
# What C7 says each image runs.
COMMANDS = {
    "api": ["python", "-m", "api", "--host", "0.0.0.0", "--port", "8000"],
    "ui": [
        "streamlit",
        "run",
        "streamlit_app/app.py",
        "--server.port",
        "8501",
        "--server.address",
        "0.0.0.0",
    ],
}
SECRET_WORDS = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.IGNORECASE)


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(df.infra_tool("bin/hadolint")), "--failure-threshold", "warning", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def healthcheck_command(image: str) -> list[str]:
    (value,) = df.dockerfile(IMAGES[image][0]).runtime_values("HEALTHCHECK")
    return json.loads(value.split("CMD", 1)[1])


def url_in(command: list[str]) -> str:
    (url,) = re.findall(r"https?://[^'\" ]+", " ".join(command))
    return url


def dockerignore() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: Go's filepath.Match (`*` and `?` stay inside one
    folder) plus Docker's `**` for any number of folders."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context: the last matching pattern
    decides (`!` re-includes), and excluding a folder excludes what it holds."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    verdict = False
    for pattern in dockerignore():
        negate = pattern.startswith("!")
        regex = pattern_regex(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            verdict = not negate
    return verdict


# ---------------------------------------------------------------- linters


@pytest.mark.parametrize("image", IMAGES)
def test_hadolint_passes(image):
    result = hadolint(IMAGES[image][0])
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_fails_on_a_bad_dockerfile(tmp_path):
    """The check above can fail: an untagged latest image and a root user are warnings."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install fastapi\nUSER root\nCMD python app.py\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the latest tag


def test_compose_config_is_valid():
    result = subprocess.run(
        [str(df.compose_binary()), "-f", str(df.COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_config_rejects_an_invalid_file(tmp_path):
    """The binary, not the wrapper that always exits 0: an invalid condition exits 1."""
    bad = tmp_path / "compose.yaml"
    bad.write_text(df.COMPOSE_FILE.read_text().replace("service_healthy", "service_happy"))
    result = subprocess.run(
        [str(df.compose_binary()), "-f", str(bad), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1 and "condition" in result.stderr


# ---------------------------------------------------------------- Dockerfiles


@pytest.mark.parametrize("image", IMAGES)
def test_multi_stage_slim_base_and_locked_dependencies(image):
    path, extra, *_ = IMAGES[image]
    parsed = df.dockerfile(path)
    froms = parsed.values("FROM")
    assert len(froms) >= 2, "builder and runtime stages"
    assert all(value.split()[0] == BASE_IMAGE for value in froms), froms
    builder = froms[0].split()[-1]
    assert f"--from={builder} /opt/venv /opt/venv" in parsed.runtime_values("COPY")
    (sync,) = [v for v in parsed.values("RUN") if "uv sync" in v]
    args = shlex.split(sync.split("uv sync", 1)[1])
    assert {"--frozen", "--no-dev", "--no-install-project"} <= set(args)
    assert args[args.index("--extra") + 1] == extra
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert extra in extras["optional-dependencies"]
    # The uv that builds the image is the project's pinned uv.
    (uv_copy,) = [v for v in parsed.values("COPY") if "astral-sh/uv" in v]
    pinned = re.search(r"uv==([\d.]+)", (REPO_ROOT / "Makefile").read_text()).group(1)
    assert f"astral-sh/uv:{pinned} " in uv_copy


@pytest.mark.parametrize("image", IMAGES)
def test_runs_as_a_numeric_non_root_user(image):
    parsed = df.dockerfile(IMAGES[image][0])
    users = parsed.runtime_values("USER")
    assert users, "no USER: the container would run as root"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) > 0 and (not gid or gid.isdigit())
    (create,) = [v for v in parsed.runtime_values("RUN") if "useradd" in v]
    assert f"--uid {uid}" in create


@pytest.mark.parametrize("image", IMAGES)
def test_copies_only_the_code_it_runs_and_nothing_the_context_ignores(image):
    path, _, folders, *_ = IMAGES[image]
    parsed = df.dockerfile(path)
    copied = set()
    for value in parsed.values("COPY"):
        if value.startswith("--from="):
            continue
        *sources, _ = shlex.split(value)
        for source in sources:
            assert (REPO_ROOT / source).exists(), f"{path.name} copies missing {source}"
            assert not ignored(source), f".dockerignore drops {source}, which {image} copies"
            copied.add(source)
    assert copied == {"pyproject.toml", "uv.lock"} | folders
    workdir = parsed.runtime_values("WORKDIR")[-1]
    assert parsed.env["PYTHONPATH"] == workdir, "the copied packages import from WORKDIR"
    assert parsed.env["PATH"].startswith("/opt/venv/bin:")


def test_context_keeps_out_data_models_environments_and_secrets():
    for path in (
        "data/models/abandonment/versions/x/model.bst",
        "data/warehouse.duckdb",
        ".venv/bin/python",
        ".venv-infra/bin/checkov",
        ".env",
        ".git/config",
        "pipeline/model/leftover.bst",
        "api/__pycache__/main.cpython-312.pyc",
    ):
        assert ignored(path), f"{path} would be sent to the build"
    assert not ignored("pipeline/serving/artifact.py")


@pytest.mark.parametrize("image", IMAGES)
def test_no_secret_and_no_model_in_the_image(image):
    parsed = df.dockerfile(IMAGES[image][0])
    for name in list(parsed.env) + [v.split("=")[0] for v in parsed.values("ARG")]:
        assert not SECRET_WORDS.search(name), f"{name} would be baked into the image"
    for value in parsed.values("COPY") + parsed.values("ADD"):
        assert not re.search(r"\bdata\b|models|\.bst|\.duckdb", value), value


@pytest.mark.parametrize("image", IMAGES)
def test_command_port_and_health_check_agree(image):
    path, _, _, port, health, service = IMAGES[image]
    parsed = df.dockerfile(path)
    assert parsed.cmd == COMMANDS[image]
    assert parsed.cmd[parsed.cmd.index("--port" if image == "api" else "--server.port") + 1] == (
        str(port)
    )
    assert parsed.runtime_values("EXPOSE") == [str(port)]
    url = urlsplit(url_in(healthcheck_command(image)))
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", port, health)
    # Cloud Run probes the same path on the same port.
    box = df.container(service)
    startup = df.single(df.single(box, "startup_probe"), "http_get")["path"]
    assert startup == health


def test_api_image_serves_the_factory_the_api_defines():
    """`python -m api` runs the supervisor, whose workers build the app with the factory
    api/main.py defines."""
    df.require_file(df.API_MODULE, "the API, issue 9")
    package = COMMANDS["api"][2]
    assert (REPO_ROOT / package / "__main__.py").is_file()
    supervisor = ast.parse((REPO_ROOT / package / "supervisor.py").read_text())
    (app,) = [
        node.value.value
        for node in supervisor.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "APP"
    ]
    module, _, factory = app.partition(":")
    assert REPO_ROOT.joinpath(*module.split(".")).with_suffix(".py") == df.API_MODULE
    tree = ast.parse(df.API_MODULE.read_text())
    names = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert factory in names, f"api/main.py defines no {factory}()"


def test_ui_image_runs_the_app_script():
    df.require_file(df.APP_SCRIPT, "the app, issue 10")
    assert REPO_ROOT / COMMANDS["ui"][2] == df.APP_SCRIPT


@pytest.mark.parametrize("image", IMAGES)
def test_image_environment_is_read_by_the_code(image):
    env = df.dockerfile(IMAGES[image][0]).env
    df.assert_env_names_are_read({n for n in env if n.startswith("ECOM_")}, IMAGES[image][0].name)
    from streamlit import config

    streamlit_envs = {option.env_var for option in config._config_options_template.values()}
    assert {n for n in env if n.startswith("STREAMLIT_")} <= streamlit_envs


def test_api_image_points_the_models_dir_at_the_mount():
    env = df.dockerfile(df.API_DOCKERFILE).env
    assert env["ECOM_MODELS_DIR"] == "/models"


# ---------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose() -> dict:
    return df.compose_config()


def test_compose_builds_both_images_from_the_repository(compose):
    for name, (path, *_) in IMAGES.items():
        build = compose["services"][name]["build"]
        assert Path(build["context"]) == REPO_ROOT
        assert REPO_ROOT / build["dockerfile"] == path


def test_compose_ports_and_health_checks_match_the_images(compose):
    for name, (_, _, _, port, _, _) in IMAGES.items():
        service = compose["services"][name]
        assert [(p["target"], p["published"]) for p in service["ports"]] == [(port, str(port))]
        assert service["healthcheck"]["test"] == ["CMD", *healthcheck_command(name)]


def test_ui_starts_after_a_healthy_api_and_calls_it_by_service_name(compose):
    ui = compose["services"]["ui"]
    assert ui["depends_on"]["api"]["condition"] == "service_healthy"
    api_port = compose["services"]["api"]["ports"][0]["target"]
    assert ui["environment"]["API_URL"] == f"http://api:{api_port}"


def test_model_folder_and_warehouse_file_are_mounted_read_only(compose):
    api, ui = compose["services"]["api"], compose["services"]["ui"]
    (models,) = api["volumes"]
    assert models["type"] == "bind" and models["read_only"] is True
    assert Path(models["source"]) == REPO_ROOT / "data" / "models"
    assert models["target"] == api["environment"]["ECOM_MODELS_DIR"]
    mounts = {volume["target"]: volume for volume in ui["volumes"]}
    warehouse = mounts[ui["environment"]["ECOM_DUCKDB_PATH"]]
    assert Path(warehouse["source"]) == REPO_ROOT / "data" / "warehouse.duckdb"
    assert warehouse["read_only"] is True
    # The dashboard's other reads: reports, manifests (freshness) and the model registry.
    data_dir = ui["environment"]["ECOM_DATA_DIR"]
    for folder in ("reports", "manifests"):
        assert Path(mounts[f"{data_dir}/{folder}"]["source"]) == REPO_ROOT / "data" / folder
    registry = mounts[ui["environment"]["ECOM_MODELS_DIR"]]
    assert Path(registry["source"]) == REPO_ROOT / "data" / "models"
    assert all(volume["read_only"] for volume in ui["volumes"])
    assert api["read_only"] is True and ui["read_only"] is True


def test_compose_passes_the_api_key_through_without_a_value(compose):
    for name in IMAGES:
        environment = compose["services"][name]["environment"]
        assert environment["ECOM_API_KEY"] is None  # from the shell, when set there
        df.assert_env_names_are_read(set(environment), f"compose.yaml ({name})")
    shell = df.compose_config(env={"ECOM_API_KEY": "from-the-shell"})
    assert shell["services"]["api"]["environment"]["ECOM_API_KEY"] == "from-the-shell"


# ---------------------------------------------------------------- Cloud Build


def test_cloud_build_builds_both_images_under_the_names_terraform_deploys():
    config = yaml.safe_load((REPO_ROOT / "infra" / "cloudbuild.yaml").read_text())
    built = {}
    for step in config["steps"]:
        args = step["args"]
        assert args[0] == "build" and args[-1] == "."  # the repository is the context
        assert "DOCKER_BUILDKIT=1" in step["env"]  # the Dockerfiles use a cache mount
        dockerfile = REPO_ROOT / args[args.index("-f") + 1]
        built[args[args.index("-t") + 1]] = dockerfile
    expected = {f"${{_REPOSITORY}}/{name}:${{_TAG}}": IMAGES[name][0] for name in IMAGES}
    assert built == expected
    assert sorted(config["images"]) == sorted(expected)
    for name in IMAGES:  # Terraform runs <repository>/<name>:<tag>
        assert (
            df.container(IMAGES[name][5])["image"]
            == f"${{local.registry}}/{name}:${{var.image_tag}}"
        )
    assert "--mount=type=cache" in df.API_DOCKERFILE.read_text()
