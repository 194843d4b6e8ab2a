# Two commands matter: `make run` (set up and start everything) and `make test` (set up,
# lint, and run the whole suite against the real PostgreSQL and Redis).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help install lock audit browser services migrate seed run test lint format pytest bench graph clean

help:
	@echo "make run    set up (venv, database, migrations, demo data) and start web + worker + beat"
	@echo "make test   set up, lint, and run the test suite against real PostgreSQL and Redis"
	@echo "make lint   ruff, ruff format --check, mypy, hadolint, kubernetes-validate"
	@echo "make bench  run the benchmarks in bench/ and print the ratio table"
	@echo "make lock   recompile requirements/*.lock (every version pinned, with hashes)"
	@echo "make audit  check the locked dependencies for known vulnerabilities (pip-audit)"

# The venv is installed from the lock, every package checked against its hash; reinstalled
# only when the lock changed. requirements/*.txt hold the direct pins people edit; `make lock`
# compiles them (and everything they pull in) into requirements/*.lock.
$(STAMP): requirements/dev.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is needed")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check pip==26.3
	@$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	@touch $(STAMP)

install: $(STAMP)

# --universal: one lock for every platform the image or a laptop may run on.
UV_COMPILE := $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11
lock: install
	@$(UV_COMPILE) requirements/dev.txt -o requirements/dev.lock
	@$(UV_COMPILE) requirements/prod.txt -o requirements/prod.lock

# Needs pypi.org's JSON API (the advisory source); --disable-pip audits the locks as written.
audit: install
	@$(BIN)/pip-audit --require-hashes --disable-pip --progress-spinner off -r requirements/prod.lock
	@$(BIN)/pip-audit --require-hashes --disable-pip --progress-spinner off -r requirements/dev.lock

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
