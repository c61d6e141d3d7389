# Two commands do everything on a fresh Linux machine with Python 3.11+ (and Node 20 for the web client):
#   make up     run the whole fleet (embedded PostgreSQL when DB_URL is unset)
#   make test   lint, type-check and run every test
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
# Every service's package (s1_auth/s1_auth, ...), found rather than listed: a new service is checked at once.
SERVICE_PACKAGES := $(wildcard s[0-9]_*/s[0-9]_*)
# Parallel test workers: one per core (each worker has its own database and processes).
TEST_WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
# The web client (Svelte + Vite): installed from its lock, built when a source changed.
WEBCLIENT := webclient
WEBCLIENT_SOURCES := $(shell find $(WEBCLIENT)/src $(WEBCLIENT)/public -type f 2>/dev/null) \
	$(wildcard $(WEBCLIENT)/*.html $(WEBCLIENT)/*.ts $(WEBCLIENT)/*.js $(WEBCLIENT)/*.json)

.PHONY: help setup up test lint format bench clean webclient

help:
	@echo "make up      run the fleet on the contract ports (gateway http://localhost:8080)"
	@echo "make test    ruff, mypy and the whole test suite"
	@echo "make bench   the performance benchmark (wrk; installed from Debian when missing)"
	@echo "make lint    ruff and mypy only;  make format  apply ruff's formatting"
	@echo "make webclient  the web client's checks, unit tests and build (Node 20.19+ with npm)"
	@echo "make clean   remove the virtualenvs and caches (keeps .data, the local database)"

# uv is the one tool bootstrapped with pip; it then installs the pinned workspace from uv.lock.
$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml
	$(UV) sync --frozen --all-packages
	@touch $@

setup: $(VENV)/.synced

# `npm ci` again only when the lock changed (like the venv's stamp above).
$(WEBCLIENT)/node_modules/.installed: $(WEBCLIENT)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing: the web client needs Node.js 20.19+ with npm"; exit 1; }
	cd $(WEBCLIENT) && npm ci --no-audit --no-fund
	@touch $@

$(WEBCLIENT)/dist/index.html: $(WEBCLIENT)/node_modules/.installed $(WEBCLIENT_SOURCES)
	cd $(WEBCLIENT) && npm run --silent build -- --logLevel warn && npm run --silent size

# Types (svelte-check), ESLint, Prettier, Vitest, then the production build and its size budget.
webclient: $(WEBCLIENT)/node_modules/.installed
	cd $(WEBCLIENT) && npm run --silent check && npm run --silent lint && npm run --silent format:check && npm run --silent test
	@$(MAKE) --no-print-directory $(WEBCLIENT)/dist/index.html

# The fleet, and the built client on 5173 (calling the gateway) when npm is there to build it.
up: setup
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory $(WEBCLIENT)/dist/index.html; \
	else echo "npm not found: starting the API without the web client"; fi
	$(PY) -m helpdesk_fleet up --webclient $(WEBCLIENT)/dist

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy common/helpdesk_common infra/helpdesk_fleet gateway/gateway $(SERVICE_PACKAGES)

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# The browser tests (tests/webclient) drive the client built by `webclient`.
test: lint webclient
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup -q

# wrk is a Debian package; installed here when missing (root, or sudo).
bench: setup
	@command -v wrk >/dev/null || { \
		echo "wrk is missing: installing Debian's package"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get install -y -qq wrk || { $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq wrk; }; \
	}
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .pytest_pg \
		$(WEBCLIENT)/node_modules $(WEBCLIENT)/dist $(WEBCLIENT)/test-output
