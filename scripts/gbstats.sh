#!/usr/bin/env bash
# Builds GrowthBook's gbstats in its own virtual environment (default: .venv-gbstats beside
# this repo), the independent implementation tests/stats checks the readout's statistics
# against. Why a separate venv: gbstats 0.8.0 pins numpy<2 and pandas<2 while the project
# runs numpy 2 and pandas 3, so it cannot resolve beside the project's lock.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-gbstats}"
UV="${UV:-$ROOT/.venv/bin/uv}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

# Pinned: the versions the tests were checked with.
PACKAGES=(
  "gbstats==0.8.0"
  "numpy==1.26.4"
  "pandas==1.5.3"
  "scipy==1.17.1"
  "pydantic==2.14.4"
)

"$UV" venv --quiet --allow-existing --python "$PYTHON" "$VENV"
"$UV" pip install --quiet --python "$VENV/bin/python" "${PACKAGES[@]}"
"$VENV/bin/python" -c "import gbstats.bayesian.tests, gbstats.frequentist.tests"
touch "$VENV/.installed-stamp"
