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
# SAM CLI lives in its own uv tool environment (it pins its own boto3, pydantic and cfn-lint).
SAM_VERSION := 1.170.0
SAM := $(TOOLS)/bin/sam
SAM_STAMP := $(TOOLS)/uv-tools/.aws-sam-cli-$(SAM_VERSION)
# checkov too (it pins its own boto3 and pydantic); the IaC scanner a merchant's security review runs.
CHECKOV_VERSION := 3.3.30
CHECKOV := $(TOOLS)/bin/checkov
CHECKOV_STAMP := $(TOOLS)/uv-tools/.checkov-$(CHECKOV_VERSION)

.PHONY: help setup run test test-fast lint cfn-lint checkov openapi docs requirements build bench clean

help:
	@echo "make run      run Homeward locally on http://127.0.0.1:3000 (no AWS account, no Docker)"
	@echo "make test     run every test, cfn-lint and checkov"
	@echo "make build    sam build for arm64 / python3.13 without Docker"
	@echo "make bench    cold-start, memory and AWS-call figures"
	@echo "make docs     regenerate the OpenAPI document and docs/return-states.md"

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
	$(MAKE) --no-print-directory checkov

test-fast: setup
	$(PY) -m pytest -m "not e2e"

cfn-lint: setup
	$(VENV)/bin/cfn-lint template.yaml

$(CHECKOV_STAMP): $(UV)
	UV_TOOL_DIR=$(abspath $(TOOLS)/uv-tools) UV_TOOL_BIN_DIR=$(abspath $(TOOLS)/bin) \
		$(UV) tool install --quiet --force 'checkov==$(CHECKOV_VERSION)'
	@touch $@

# The IaC scan a merchant's security team runs; fails on any finding. Every check that does not
# fit Homeward is skipped on its resource with a one-line reason (Metadata: checkov: skip), and
# the same decisions are tabled in docs/deploy.md ("Security scan"). --skip-download: no Prisma
# Cloud API call (this works offline, and the result is the same).
checkov: $(CHECKOV_STAMP)
	$(CHECKOV) -f template.yaml --framework cloudformation --skip-download --compact --quiet

lint: setup
	$(VENV)/bin/ruff check functions infra tests
	$(VENV)/bin/ruff format --check functions infra tests

openapi: setup
	$(PY) -m infra.openapi

# Generated documents: the OpenAPI description and the return state machine (tests fail when stale).
docs: openapi
	$(PY) -m infra.state_docs

# Runtime dependencies, pinned from uv.lock, for functions/Makefile (tests/infra checks they are in sync).
requirements: $(UV)
	$(UV) export --frozen --no-dev --no-hashes --no-emit-project --quiet -o functions/requirements.txt

$(SAM_STAMP): $(UV)
	UV_TOOL_DIR=$(abspath $(TOOLS)/uv-tools) UV_TOOL_BIN_DIR=$(abspath $(TOOLS)/bin) \
		$(UV) tool install --quiet --force 'aws-sam-cli==$(SAM_VERSION)'
	@touch $@

# arm64 / python3.13 artifacts in .aws-sam/build; needs PyPI, no AWS account, no Docker, no python3.13:
# every function uses BuildMethod: makefile, and functions/Makefile installs wheels for the Lambda platform.
# A python3.13, when found (or given as PYC_PYTHON=...), precompiles .pyc for faster cold starts.
build: requirements $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 UV=$(abspath $(UV)) $(SAM) build --template-file template.yaml
	@find .aws-sam/build -name '*.cpython-3*.pyc' -print -quit | grep -q . || echo "warning: built without" \
		".pyc (no python3.13 found): each cold start compiles every module; see PYC_PYTHON in docs/deploy.md" >&2

# Cold start vs a bare boto3 client, peak RSS, AWS calls per operation (bench-results/latest.json).
bench: setup
	$(PY) -m infra.bench $(ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .hypothesis $(VENV) $(TOOLS)

# Every notification in every locale as HTML + text (+ a PNG each if /usr/bin/chromium exists) in
# email-previews/, with an index.html. ARGS="--out DIR --no-screenshots" to change that.
.PHONY: preview-emails
preview-emails: setup
	$(PY) -m infra.preview_emails $(ARGS)
