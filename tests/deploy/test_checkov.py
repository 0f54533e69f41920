"""checkov (its own venv) over Terraform, both Dockerfiles and the CI workflow: everything passes
but the checks infra/checkov-skips.yaml lists, each with its reason, and each of those is needed."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from pipeline.settings import REPO_ROOT
from tests.deploy import deploy_files as tf

RUNNER = REPO_ROOT / "scripts" / "checkov.py"
SKIPS = REPO_ROOT / "infra" / "checkov-skips.yaml"


def run_checkov(*args: str) -> tuple[int, list[dict]]:
    """scripts/checkov.py with JSON output: its exit code and one report per framework."""
    result = subprocess.run(
        [str(tf.infra_python()), str(RUNNER), "-o", "json", *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=600,
    )
    reports, text, decoder = [], result.stdout.strip(), json.JSONDecoder()
    while text:
        value, end = decoder.raw_decode(text)
        reports += value if isinstance(value, list) else [value]
        text = text[end:].strip()
    return result.returncode, reports


@pytest.fixture(scope="module")
def unskipped() -> list[dict]:
    code, reports = run_checkov("--no-skips")
    assert code != 0, "without the skips the listed checks fail"
    return reports


def test_every_skip_has_a_reason():
    skips = yaml.safe_load(SKIPS.read_text())
    assert skips, "an empty skip list needs no file"
    for check_id, entry in skips.items():
        assert check_id.startswith("CKV"), check_id
        assert entry["check"], check_id
        assert len(entry["reason"]) >= 80, f"{check_id}: say why it is skipped"


def test_checkov_reads_every_file_it_should(unskipped):
    """checkov passes what it cannot parse: make sure it parsed everything."""
    frameworks = {report["check_type"]: report["summary"] for report in unskipped}
    assert set(frameworks) == {"terraform", "dockerfile", "github_actions"}
    for name, summary in frameworks.items():
        assert summary["parsing_errors"] == 0, name
        assert summary["passed"] > 0, name
    # Every resource of the module (checkov counts for_each instances; no Cloud Run v2 checks).
    assert frameworks["terraform"]["resource_count"] >= len(tf.resources())
    assert frameworks["dockerfile"]["resource_count"] == 2  # both Dockerfiles


def test_exactly_the_listed_checks_fail_without_the_skips(unskipped):
    failing = {
        check["check_id"]: check["resource"]
        for report in unskipped
        for check in report["results"]["failed_checks"]
    }
    listed = set(yaml.safe_load(SKIPS.read_text()))
    # Equal sets: with `--skip-check` of the listed ids (what scripts/checkov.py passes by
    # default) checkov passes, and no skip hides a check that would pass anyway.
    assert set(failing) == listed, (
        f"failing but not listed: {sorted(set(failing) - listed)}; "
        f"listed but passing (drop the skip): {sorted(listed - set(failing))}"
    )
