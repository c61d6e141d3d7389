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

.PHONY: help setup up test lint format bench clean

help:
	@echo "make up      run the fleet on the contract ports (gateway http://localhost:8080)"
	@echo "make test    ruff, mypy and the whole test suite"
	@echo "make bench   the performance benchmark (wrk; installed from Debian when missing)"
	@echo "make lint    ruff and mypy only;  make format  apply ruff's formatting"
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

up: setup
	$(PY) -m helpdesk_fleet up

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy common/helpdesk_common infra/helpdesk_fleet gateway/gateway $(SERVICE_PACKAGES)

format: setup
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: lint
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
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache .pytest_pg
