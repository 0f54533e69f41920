#!/usr/bin/env bash
# Builds the BigQuery emulator's own virtual environment (default: .venv-bqemu beside this repo).
# Why a separate venv: bqemulator pins duckdb 1.5.x while the project runs duckdb 2.0; the two
# cannot share an environment. The emulator is used only by tests on loopback.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-bqemu}"
UV="${UV:-$ROOT/.venv/bin/uv}"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"

# Pinned: the versions checked to serve dbt-bigquery and google-cloud-bigquery (DESIGN.md).
PACKAGES=(
  "bqemulator==1.4.0"
  "duckdb==1.5.5"
  "duckdb-extensions==1.5.5"
  "duckdb-extension-spatial==1.5.5"
  "duckdb-extension-avro==1.5.5"
  "numpy"
)

"$UV" venv --quiet --allow-existing --python "$PYTHON" "$VENV"
"$UV" pip install --quiet --python "$VENV/bin/python" "${PACKAGES[@]}"
# The emulator cannot download DuckDB extensions offline: install the wheels' copies once.
"$VENV/bin/python" - <<'PY'
from duckdb_extensions import import_extension

for name in ("spatial", "avro"):
    import_extension(name)
PY
touch "$VENV/.installed-stamp"
