#!/usr/bin/env bash
# The parts of the KIND dev loop that are more than one command (run by the Makefile):
#
#   hack/kind-dev.sh urls          print where the Temporal UI, Grafana and the queues are
#   hack/kind-dev.sh port-forward  forward the Temporal UI, frontend, Grafana and Prometheus
#                                  to localhost until Ctrl-C
#   hack/kind-dev.sh load N C      start N graph workflows, C at a time, from a pod in the
#                                  cluster, without waiting: graphs.v1 builds a backlog
#   hack/kind-dev.sh namespace LEVEL
#                                  create NAMESPACE unless it exists and enforce the Pod
#                                  Security LEVEL (restricted, baseline, privileged) on it
#   hack/kind-dev.sh packs-db IMAGE
#                                  the packs' PostgreSQL in NAMESPACE: Secret packs-db (made
#                                  once, random password) and k8s/kind/packs-database.yaml
#   hack/kind-dev.sh keda-local VERSION
#                                  install KEDA from the release manifests in its Go module
#                                  (config/), with the images `make images` built
#   hack/kind-dev.sh monitoring-local VERSION PROMETHEUS_IMAGE
#                                  install Prometheus Operator VERSION (its bundle.yaml) and
#                                  one Prometheus (k8s/kind/offline/prometheus.yaml)
#
# Settings come from the environment the Makefile passes: KUBECTL (kubectl with the KIND
# context), NAMESPACE and RELEASE of the chart, IMAGE, the local ports UI_PORT,
# TEMPORAL_PORT, GRAFANA_PORT, PROMETHEUS_PORT, and QUEUEFLEET_CACHE (the Go module cache).
set -euo pipefail

: "${KUBECTL:?KUBECTL must name kubectl with the KIND context}"
: "${NAMESPACE:?NAMESPACE must name the namespace of the chart}"
: "${RELEASE:?RELEASE must name the release of the chart}"
UI_PORT=${UI_PORT:-8080}
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
GRAFANA_PORT=${GRAFANA_PORT:-3000}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
MONITORING_NAMESPACE=${MONITORING_NAMESPACE:-monitoring}
# The Service k8s/kind/offline/prometheus.yaml puts in front of the offline Prometheus.
OFFLINE_PROMETHEUS_SERVICE=prometheus
# The packs' database: its Secret, Deployment and Service (k8s/kind/packs-database.yaml).
PACKS_DB=packs-db

read -r -a kubectl <<<"$KUBECTL"

die() { echo "kind-dev: $*" >&2; exit 1; }

# The chart's Service of one component, found by labels so the release's naming rule
# (fullname, truncation) lives only in the chart.
service() {  # service COMPONENT SUFFIX
  local name
  name=$("${kubectl[@]}" -n "$NAMESPACE" get service \
    -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=$1" \
    -o name | grep -- "$2\$" | head -n 1) || true
  [[ -n "$name" ]] || die "no $1 Service of release $RELEASE in namespace $NAMESPACE; run \`make dev-bounce\` first"
  echo "$name"
}

urls() {
  cat <<EOF
Temporal UI   http://localhost:$UI_PORT   (after \`make port-forward\`)
Temporal      localhost:$TEMPORAL_PORT    (after \`make port-forward\`; e.g. queuefleet workflow list)
Grafana       http://localhost:$GRAFANA_PORT   (dashboards as a viewer; folder queuefleet)
Prometheus    http://localhost:$PROMETHEUS_PORT
Queues        $KUBECTL -n $NAMESPACE get wfq
EOF
}

port_forward() {
  local ui frontend pids=()
  ui=$(service temporal-ui -temporal-ui)
  frontend=$(service temporal -temporal-frontend)
  # Stop every forward on Ctrl-C or when one of them dies.
  trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
  trap 'exit 0' INT TERM
  forward() {  # forward NAMESPACE TARGET LOCAL:REMOTE
    "${kubectl[@]}" -n "$1" port-forward --address 127.0.0.1 "$2" "$3" >/dev/null &
    pids+=("$!")
  }
  forward "$NAMESPACE" "$ui" "$UI_PORT:8080"
  forward "$NAMESPACE" "$frontend" "$TEMPORAL_PORT:7233"
  if "${kubectl[@]}" -n "$MONITORING_NAMESPACE" get service kube-prometheus-stack-grafana >/dev/null 2>&1; then
    forward "$MONITORING_NAMESPACE" service/kube-prometheus-stack-grafana "$GRAFANA_PORT:80"
    forward "$MONITORING_NAMESPACE" service/kube-prometheus-stack-prometheus "$PROMETHEUS_PORT:9090"
    echo "Grafana admin password: $KUBECTL -n $MONITORING_NAMESPACE get secret kube-prometheus-stack-grafana -o jsonpath='{.data.admin-password}' | base64 -d"
  elif "${kubectl[@]}" -n "$MONITORING_NAMESPACE" get service "$OFFLINE_PROMETHEUS_SERVICE" >/dev/null 2>&1; then
    # The offline layer (MONITORING_SOURCE=local) runs Prometheus but no Grafana.
    forward "$MONITORING_NAMESPACE" "service/$OFFLINE_PROMETHEUS_SERVICE" "$PROMETHEUS_PORT:9090"
    echo "kind-dev: the offline monitoring has no Grafana; forwarding Prometheus and Temporal"
  else
    echo "kind-dev: no Grafana in namespace $MONITORING_NAMESPACE (\`make monitoring\` installs it); forwarding Temporal only"
  fi
  urls
  echo "Forwarding; Ctrl-C stops."
  wait -n
  die "a port-forward stopped (is a local port taken, or did its pod restart?); run \`make port-forward\` again"
}

load() {  # load WORKFLOWS CONCURRENT
  local workflows=${1:?usage: kind-dev.sh load WORKFLOWS CONCURRENT} concurrent=${2:?usage: kind-dev.sh load WORKFLOWS CONCURRENT}
  local address namespace
  : "${IMAGE:?IMAGE must name the queuefleet image loaded into KIND}"
  # The operator's ConfigMap holds the Temporal connection the chart configured.
  address=$(operator_setting QUEUEFLEET_OPERATOR_TEMPORAL_ADDRESS)
  namespace=$(operator_setting QUEUEFLEET_OPERATOR_TEMPORAL_NAMESPACE)
  local pod
  pod="queuefleet-load-$(date +%s)"
  # The namespace enforces the restricted Pod Security level; the pod says it complies.
  "${kubectl[@]}" -n "$NAMESPACE" run "$pod" \
    --rm --attach --quiet --restart=Never --image="$IMAGE" --image-pull-policy=Never \
    --overrides="$(restricted_overrides "$pod")" \
    -- load --pack graphs --workflows "$workflows" --concurrent "$concurrent" --start-only \
    --address "$address" --namespace "$namespace"
  echo "Watch graphs.v1 scale out: $KUBECTL -n $NAMESPACE get wfq,hpa,pods --watch"
}

operator_setting() {  # operator_setting KEY: one entry of the operator's ConfigMap
  local value
  value=$("${kubectl[@]}" -n "$NAMESPACE" get configmap \
    -l "app.kubernetes.io/instance=$RELEASE,app.kubernetes.io/component=operator" \
    -o "jsonpath={.items[0].data.$1}") || true
  [[ -n "$value" ]] || die "no $1 in the operator ConfigMap of release $RELEASE in namespace $NAMESPACE; run \`make dev-bounce\` first"
  echo "$value"
}

# `kubectl run --overrides` meeting the restricted level; `kubectl run` names the container
# after the pod, and the override is merged into it by that name.
restricted_overrides() {  # restricted_overrides POD
  cat <<EOF
{"spec": {"securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
  "containers": [{"name": "$1", "securityContext": {"allowPrivilegeEscalation": false,
    "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}}}]}}
EOF
}

namespace() {  # namespace LEVEL
  local level=${1:?usage: kind-dev.sh namespace LEVEL}
  case "$level" in
    restricted|baseline|privileged) ;;
    *) die "DEV_POD_SECURITY must be restricted, baseline or privileged, not '$level'" ;;
  esac
  "${kubectl[@]}" get namespace "$NAMESPACE" >/dev/null 2>&1 ||
    "${kubectl[@]}" create namespace "$NAMESPACE"
  "${kubectl[@]}" label namespace "$NAMESPACE" --overwrite \
    "pod-security.kubernetes.io/enforce=$level" "pod-security.kubernetes.io/warn=$level"
}

module_dir() {  # module_dir MODULE VERSION: the module's tree in the shared Go module cache
  local cache=${QUEUEFLEET_CACHE:?QUEUEFLEET_CACHE must name the queuefleet cache}
  # Outside any module, so no go.mod around decides what is downloaded.
  (cd / && GOMODCACHE="$cache/go/mod" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go mod download -json "$1@$2") |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])'
}

# A kustomize patch for the Deployments of the offline add-ons: never pull (the images are
# on the nodes already), and ask for little CPU, since one KIND node has only the host's cores.
deployment_patch() {
  cat <<'EOF'
  - target: {kind: Deployment}
    patch: |
      - op: add
        path: /spec/template/spec/containers/0/imagePullPolicy
        value: IfNotPresent
      - op: replace
        path: /spec/template/spec/containers/0/resources/requests/cpu
        value: 10m
EOF
}

keda_local() {  # keda_local VERSION
  local version=${1:?usage: kind-dev.sh keda-local VERSION} source
  source=$(module_dir github.com/kedacore/keda/v2 "$version")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # kustomize reads only below its root, so the overlay sits beside a copy of config/.
  cp -r "$source/config" "$work/keda"
  chmod -R u+w "$work"
  {
    echo "resources: [keda/default]"
    echo "images:"
    for image in keda keda-metrics-apiserver keda-admission-webhooks; do
      echo "  - {name: ghcr.io/kedacore/$image, newTag: \"${version#v}\"}"
    done
    echo "patches:"
    deployment_patch
    # The release manifests leave KEDA_HTTP_DEFAULT_TIMEOUT empty for their installer to
    # fill; empty means a zero timeout, so every scaler's first call (the Temporal
    # scaler's dial) fails with "context deadline exceeded". 3000 ms is KEDA's chart default.
    cat <<'PATCH'
  - target: {kind: Deployment, name: keda-operator}
    patch: |
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: keda-operator}
      spec:
        template:
          spec:
            containers:
              - name: keda-operator
                env:
                  - {name: KEDA_HTTP_DEFAULT_TIMEOUT, value: "3000"}
PATCH
  } >"$work/kustomization.yaml"
  "${kubectl[@]}" apply --server-side --force-conflicts --kustomize "$work" >/dev/null
  # The operator mints the webhook and metrics API certificates itself (cert rotation).
  "${kubectl[@]}" -n keda wait deployment --all --for=condition=Available --timeout=300s
  "${kubectl[@]}" wait apiservice v1beta1.external.metrics.k8s.io --for=condition=Available --timeout=300s
}

monitoring_local() {  # monitoring_local VERSION PROMETHEUS_IMAGE
  local version=${1:?usage: kind-dev.sh monitoring-local VERSION PROMETHEUS_IMAGE}
  local image=${2:?usage: kind-dev.sh monitoring-local VERSION PROMETHEUS_IMAGE} source
  source=$(module_dir github.com/prometheus-operator/prometheus-operator "$version")
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  cp "$source/bundle.yaml" "$work/"
  chmod u+w "$work/bundle.yaml"
  {
    echo "namespace: $MONITORING_NAMESPACE"
    echo "resources: [bundle.yaml]"
    echo "patches:"
    deployment_patch
  } >"$work/kustomization.yaml"
  "${kubectl[@]}" get namespace "$MONITORING_NAMESPACE" >/dev/null 2>&1 ||
    "${kubectl[@]}" create namespace "$MONITORING_NAMESPACE"
  "${kubectl[@]}" apply --server-side --force-conflicts --kustomize "$work" >/dev/null
  "${kubectl[@]}" wait crd --for=condition=Established --timeout=120s \
    prometheuses.monitoring.coreos.com servicemonitors.monitoring.coreos.com \
    podmonitors.monitoring.coreos.com prometheusrules.monitoring.coreos.com
  "${kubectl[@]}" -n "$MONITORING_NAMESPACE" wait deployment prometheus-operator \
    --for=condition=Available --timeout=300s
  sed -e "s#PROMETHEUS_IMAGE#$image#" -e "s#PROMETHEUS_VERSION#${image##*:}#" \
    -e "s#MONITORING_NAMESPACE#$MONITORING_NAMESPACE#" \
    k8s/kind/offline/prometheus.yaml |
    "${kubectl[@]}" -n "$MONITORING_NAMESPACE" apply --server-side --force-conflicts -f - >/dev/null
  "${kubectl[@]}" -n "$MONITORING_NAMESPACE" wait prometheus prometheus \
    --for=condition=Available --timeout=300s
}

# The packs' PostgreSQL (k8s/kind/packs-database.yaml). The Secret is made once, with a
# random password that is never printed and never on a command line; later bounces keep it,
# so the database's password and the workers' URI always agree.
packs_db() {  # packs_db IMAGE
  local image=${1:?usage: kind-dev.sh packs-db IMAGE} password
  if ! "${kubectl[@]}" -n "$NAMESPACE" get secret "$PACKS_DB" >/dev/null 2>&1; then
    password=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')  # hex: safe inside a URI
    "${kubectl[@]}" -n "$NAMESPACE" create secret generic "$PACKS_DB" --from-env-file=<(
      printf 'password=%s\nuri=postgresql://queuefleet:%s@%s.%s.svc:5432/queuefleet\n' \
        "$password" "$password" "$PACKS_DB" "$NAMESPACE")
    unset password
  fi
  sed -e "s#PACKS_DB_IMAGE#$image#" k8s/kind/packs-database.yaml |
    "${kubectl[@]}" -n "$NAMESPACE" apply --server-side --force-conflicts -f - >/dev/null
  "${kubectl[@]}" -n "$NAMESPACE" rollout status deployment "$PACKS_DB" --timeout=300s
}

usage="urls|port-forward|load WORKFLOWS CONCURRENT|namespace LEVEL|packs-db IMAGE|keda-local VERSION|monitoring-local VERSION PROMETHEUS_IMAGE"
case "${1:-}" in
  urls) urls ;;
  port-forward) port_forward ;;
  load) shift; load "$@" ;;
  namespace) shift; namespace "$@" ;;
  packs-db) shift; packs_db "$@" ;;
  keda-local) shift; keda_local "$@" ;;
  monitoring-local) shift; monitoring_local "$@" ;;
  *) die "usage: kind-dev.sh $usage" ;;
esac
