"""The GitHub Actions workflow: actionlint passes, and it runs what .ci/run runs."""

from __future__ import annotations

import subprocess

import yaml

from pipeline.settings import REPO_ROOT
from tests.deploy import deploy_files as df


def actionlint(path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(df.infra_tool("bin/actionlint")), "-no-color", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_actionlint_passes():
    result = actionlint(df.WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_script_injection(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issues\njobs:\n  t:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n"
    )
    result = actionlint(bad)
    assert result.returncode == 1 and "untrusted" in result.stdout


def test_workflow_runs_make_test_like_ci_run():
    workflow = yaml.safe_load(df.WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
    assert {"push", "pull_request"} <= set(triggers)
    assert workflow["permissions"] == {"contents": "read"}
    (job,) = workflow["jobs"].values()
    assert job["timeout-minutes"] <= 90  # CI's limit for .ci/run
    runs = [step["run"] for step in job["steps"] if "run" in step]
    assert runs[-1] == "make test"
    assert "make test" in (REPO_ROOT / ".ci" / "run").read_text()
    (python,) = [
        s["with"]["python-version"] for s in job["steps"] if "setup-python" in s.get("uses", "")
    ]
    assert python in {"3.11", "3.12"}  # pyproject: requires-python >=3.11,<3.13
