# Two commands matter: `make run` (set up and start everything) and `make test` (set up,
# lint, and run the whole suite against the real PostgreSQL and Redis).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help install browser services migrate seed run test lint format pytest bench graph clean

help:
	@echo "make run    set up (venv, database, migrations, demo data) and start web + worker + beat"
	@echo "make test   set up, lint, and run the test suite against real PostgreSQL and Redis"
	@echo "make lint   ruff, ruff format --check, mypy, hadolint, kubernetes-validate"
	@echo "make bench  run the benchmarks in bench/ and print the ratio table"

# Reinstall only when a requirements file changed.
$(STAMP): requirements/base.txt requirements/dev.txt requirements/prod.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

# Pages are tested in Debian's chromium (Playwright drives it; no browser download is possible).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@echo "installing Debian's chromium for the browser tests"
	@SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); export DEBIAN_FRONTEND=noninteractive; \
	  $$SUDO apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -q >/dev/null && $$SUDO apt-get install -y -q chromium >/dev/null; }

browser: $(CHROMIUM)

services: install
	@$(PY) -m commerce_project.preflight

migrate: services
	@$(PY) manage.py migrate --noinput

seed: migrate
	@$(PY) manage.py seed_demo

run: seed
	@mkdir -p var
	@# web and worker share one metrics directory (docs/observability.md); a new run starts empty
	@rm -rf var/prometheus && mkdir -p var/prometheus
	@echo ""
	@echo "  API      http://127.0.0.1:8000/api/v1/"
	@echo "  Docs     http://127.0.0.1:8000/api/docs/   (schema: /api/schema/)"
	@echo "  Admin    http://127.0.0.1:8000/admin/      (staff / staff-demo-pass)"
	@echo "  Health   http://127.0.0.1:8000/healthz  http://127.0.0.1:8000/readyz"
	@echo "  Metrics  http://127.0.0.1:8000/metrics   Operations: http://127.0.0.1:8000/admin/operations/"
	@echo ""
	@PROMETHEUS_MULTIPROC_DIR="$(CURDIR)/var/prometheus" \
	  PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# hadolint and kubernetes-validate work offline (kubernetes-validate ships the schemas);
# --strict rejects misspelt fields in the manifests.
lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy
	@$(BIN)/hadolint Dockerfile
	@$(BIN)/kubernetes-validate --quiet --strict k8s/*.yaml

format: install
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

pytest: services browser
	@$(BIN)/pytest $(PYTEST_ARGS)

test: services browser lint
	@$(BIN)/pytest $(PYTEST_ARGS)

bench: services
	@$(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache staticfiles var
