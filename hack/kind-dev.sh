#!/usr/bin/env bash
# The parts of the KIND dev loop that are more than one command (run by the Makefile):
#
#   hack/kind-dev.sh urls          print where the Temporal UI, Grafana and the queues are
#   hack/kind-dev.sh port-forward  forward the Temporal UI, frontend, Grafana and Prometheus
#                                  to localhost until Ctrl-C
#   hack/kind-dev.sh load N C      start N graph workflows, C at a time, from a pod in the
#                                  cluster, without waiting: graphs.v1 builds a backlog
#
# Settings come from the environment the Makefile passes: KUBECTL (kubectl with the KIND
# context), NAMESPACE and RELEASE of the chart, IMAGE, and the local ports UI_PORT,
# TEMPORAL_PORT, GRAFANA_PORT, PROMETHEUS_PORT.
set -euo pipefail

: "${KUBECTL:?KUBECTL must name kubectl with the KIND context}"
: "${NAMESPACE:?NAMESPACE must name the namespace of the chart}"
: "${RELEASE:?RELEASE must name the release of the chart}"
UI_PORT=${UI_PORT:-8080}
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
GRAFANA_PORT=${GRAFANA_PORT:-3000}
PROMETHEUS_PORT=${PROMETHEUS_PORT:-9090}
MONITORING_NAMESPACE=${MONITORING_NAMESPACE:-monitoring}

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
  "${kubectl[@]}" -n "$NAMESPACE" run "queuefleet-load-$(date +%s)" \
    --rm --attach --quiet --restart=Never --image="$IMAGE" --image-pull-policy=Never \
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

case "${1:-}" in
  urls) urls ;;
  port-forward) port_forward ;;
  load) shift; load "$@" ;;
  *) die "usage: kind-dev.sh urls|port-forward|load WORKFLOWS CONCURRENT" ;;
esac
