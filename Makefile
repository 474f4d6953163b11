# Homeward - one Makefile; CI runs the same targets (.ci/run -> make test, make lint).
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

.PHONY: help setup run test test-fast lint cfn-lint checkov openapi docs requirements build deploy deploy-web bench clean chromium screenshots

help:
	@echo "make run      run Homeward locally on http://127.0.0.1:3000 (no AWS account, no Docker)"
	@echo "make test     run every test, cfn-lint and checkov (browser tests need Debian's chromium: installed as root)"
	@echo "make build    sam build for arm64 / python3.13 without Docker"
	@echo "make deploy   sam build + sam deploy + the portal's files to S3/CloudFront (CONFIG_ENV=prod)"
	@echo "make bench    cold-start, memory and AWS-call figures"
	@echo "make docs     regenerate the OpenAPI document and docs/{return-states,data-model,events}.md"
	@echo "make lint     ruff, formatting, mypy, function length, import contracts"

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

test: setup chromium
	$(PY) -m pytest
	$(MAKE) --no-print-directory cfn-lint
	$(MAKE) --no-print-directory checkov

test-fast: setup
	$(PY) -m pytest -m "not e2e and not browser"

# The browser tests (tests/browser) drive Debian's chromium through Playwright: never a Playwright
# browser download (`playwright install` is not used). As root (CI), install it when it is missing.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing Debian's chromium for the browser tests (tests/browser)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests (tests/browser) need Debian's chromium at /usr/bin/chromium:" >&2; \
			echo "  sudo apt-get install chromium   (or run make test as root, as CI does)" >&2; \
			exit 1; \
		fi; }

# The portal's pictures in docs/portal/screenshots/ (every page at 360 px and 1440 px), retaken.
screenshots: setup chromium
	HOMEWARD_SCREENSHOTS=docs $(PY) -m pytest tests/browser -q -x

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

# Static checks (CI runs them too): ruff (with complexity C901 <= 10), formatting, types (mypy over
# functions/homeward), no function over 50 lines, and the layers' import contracts (import-linter,
# run from functions/ so `homeward` imports; docs/contributing.md).
lint: setup
	$(VENV)/bin/ruff check functions infra tests
	$(VENV)/bin/ruff format --check functions infra tests
	$(VENV)/bin/mypy
	$(PY) -m infra.function_length functions/homeward $$(ls -d infra/*.py infra/local infra/lint_rules)
	cd functions && ../$(VENV)/bin/lint-imports --config ../pyproject.toml --no-cache

openapi: setup
	$(PY) -m infra.openapi

# Generated documents: the OpenAPI description, the return state machine, the table's data model and
# the domain event catalogue (docs/events.md, docs/events/*.schema.json); tests fail when any is stale.
docs: openapi
	$(PY) -m infra.state_docs
	$(PY) -m infra.data_model
	$(PY) -m infra.event_docs

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

# Publish to AWS (docs/deploy.md): the stack (sam build + sam deploy, with samconfig.toml's
# [$(CONFIG_ENV)] settings), then the portal's files (python -m infra.web deploy: hashed assets
# immutable, HTML no-cache, releases older than the previous one pruned, CloudFront invalidated).
#   make deploy                   homeward-dev ([default] in samconfig.toml)
#   make deploy CONFIG_ENV=prod   homeward-prod
#   make deploy-web               only the web app (after a change under web/portal)
CONFIG_ENV ?= default
deploy: build
	SAM_CLI_TELEMETRY=0 $(SAM) deploy --config-env $(CONFIG_ENV) $(DEPLOY_ARGS)
	$(MAKE) --no-print-directory deploy-web CONFIG_ENV=$(CONFIG_ENV)

deploy-web: setup
	$(PY) -m infra.web deploy --config-env $(CONFIG_ENV)

# Cold start vs a bare boto3 client, peak RSS, AWS calls per operation, the portal's first load in a
# throttled Chromium (bench-results/latest.json). ARGS="--only portal --portal-runs 7" for one section.
bench: setup chromium
	$(PY) -m infra.bench $(ARGS)

clean:
	rm -rf .aws-sam .pytest_cache .hypothesis $(VENV) $(TOOLS)

# Every notification in every locale as HTML + text (+ a PNG each if /usr/bin/chromium exists) in
# email-previews/, with an index.html. ARGS="--out DIR --no-screenshots" to change that.
.PHONY: preview-emails
preview-emails: setup
	$(PY) -m infra.preview_emails $(ARGS)
