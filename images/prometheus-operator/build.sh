#!/usr/bin/env bash
# Prometheus Operator and its config reloader (PROMETHEUS_OPERATOR_VERSION) from the Go
# module, on an empty base as upstream's images, user nobody (65534), same entrypoints.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require PROMETHEUS_OPERATOR_VERSION
module=github.com/prometheus-operator/prometheus-operator
ld="-X github.com/prometheus/common/version.Version=${PROMETHEUS_OPERATOR_VERSION#v}"
bin=$(go_binaries prometheus-operator "$module" "$PROMETHEUS_OPERATOR_VERSION" \
  operator=./cmd/operator prometheus-config-reloader=./cmd/prometheus-config-reloader -- "$ld")
for binary in operator prometheus-config-reloader; do
  rm -rf "${CONTEXT:?}/bin" && mkdir "$CONTEXT/bin" && cp "$bin/$binary" "$CONTEXT/bin/"
  cat >"$CONTEXT/Dockerfile" <<DOCKERFILE
FROM scratch
COPY bin/$binary /bin/$binary
USER 65534:65534
ENTRYPOINT ["/bin/$binary"]
DOCKERFILE
  repository=prometheus-operator
  [[ "$binary" == operator ]] || repository=$binary
  TAG="quay.io/prometheus-operator/$repository:$PROMETHEUS_OPERATOR_VERSION" EXTRA_TAGS="" \
    docker_build "go-module:$module@$PROMETHEUS_OPERATOR_VERSION:cmd/$binary" -
done
