"""checkov over the deployment files, skipping only the checks infra/checkov-skips.yaml lists.

Run it with the deployment linters' venv (built by `make infra-tools`):
    .venv-infra/bin/python scripts/checkov.py             # exit 0 when every other check passes
    .venv-infra/bin/python scripts/checkov.py --no-skips  # what fails without the skips

Two checkov runs, because checkov ignores files (-f) when given a directory (-d): the Terraform
root module, then the Dockerfiles and the CI workflow. Extra arguments go to both (e.g. -o json).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SKIPS_FILE = ROOT / "infra" / "checkov-skips.yaml"
CHECKOV = Path(sys.executable).parent / "checkov"
COMMON = ["--compact", "--quiet", "--skip-download"]
TARGETS = (
    ["-d", "infra/terraform", "--framework", "terraform"],
    [
        "-f",
        "api/Dockerfile",
        "-f",
        "streamlit_app/Dockerfile",
        "-f",
        ".github/workflows/ci.yml",
        "--framework",
        "dockerfile",
        "github_actions",
    ],
)


def skipped_checks() -> dict[str, dict[str, str]]:
    """The skips, each with the check's title and why it is skipped."""
    return yaml.safe_load(SKIPS_FILE.read_text())


def main(argv: list[str]) -> int:
    use_skips = "--no-skips" not in argv
    extra = [arg for arg in argv if arg != "--no-skips"]
    skips = ["--skip-check", ",".join(skipped_checks())] if use_skips else []
    worst = 0
    for target in TARGETS:
        command = [str(CHECKOV), *target, *COMMON, *skips, *extra]
        worst = max(worst, subprocess.run(command, cwd=ROOT, check=False).returncode)
    return worst


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
