# Homeward - one Makefile; CI runs the same targets (.ci/run -> make test).
#   make run     set up, then run Homeward locally (moto + the real handlers) with demo data
#   make test    set up, then run every test (unit, integration, infra, e2e) and cfn-lint
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_BOOTSTRAP ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup run test test-fast lint cfn-lint openapi requirements build bench clean

help:
	@echo "make run      run Homeward locally on http://127.0.0.1:3000 (no AWS account, no Docker)"
	@echo "make test     run every test"
	@echo "make build    sam build for arm64 / python3.13 without Docker"
	@echo "make bench    cold-start, memory and AWS-call figures"
	@echo "make openapi  regenerate functions/homeward/openapi.json"

# uv in a private venv, then the locked project environment. Re-runs only when inputs change.
$(UV):
	$(PYTHON_BOOTSTRAP) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'uv==0.13.9'

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

setup: $(VENV)/.synced

run: setup
	$(PY) -m infra.local

test: setup
	$(PY) -m pytest
	$(MAKE) --no-print-directory cfn-lint

test-fast: setup
	$(PY) -m pytest -m "not e2e"

cfn-lint: setup
	$(VENV)/bin/cfn-lint template.yaml

lint: setup
	$(VENV)/bin/ruff check functions infra tests
	$(VENV)/bin/ruff format --check functions infra tests

openapi: setup
	$(PY) -m infra.openapi

requirements: $(UV)
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --quiet -o functions/requirements.txt

bench: setup
	$(PY) -m infra.bench

clean:
	rm -rf .aws-sam .pytest_cache .hypothesis $(VENV) $(TOOLS)
