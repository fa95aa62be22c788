#!/usr/bin/env bash
# KEDA's operator, metrics API server and admission webhooks (KEDA_VERSION), each on an
# empty base as upstream's distroless images, user 65532, same entrypoints. Operator and
# metrics server are the binaries `hack/install-tool.sh keda-operator` builds for the e2e
# tier; the webhooks are built from KEDA's own module tree.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require KEDA_VERSION
module=github.com/kedacore/keda/v2
webhooks=$(go_binaries keda-webhooks "$module" "$KEDA_VERSION" keda-admission-webhooks=./cmd/webhooks \
  -- "-X $module/version.Version=$KEDA_VERSION")
tools=$("$REPO/hack/install-tool.sh" keda-operator "$KEDA_VERSION")/bin
mkdir -p "$CONTEXT/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$CONTEXT/etc/ssl/certs/"
build() {  # build TAG BINARY-PATH ENTRYPOINT-JSON
  local tag=$1 binary=$2 entrypoint=$3 name
  name=$(basename "$binary")
  rm -rf "${CONTEXT:?}/bin" && mkdir "$CONTEXT/bin" && cp "$binary" "$CONTEXT/bin/$name"
  cat >"$CONTEXT/Dockerfile" <<DOCKERFILE
FROM scratch
COPY etc/ /etc/
COPY bin/$name /$name
USER 65532:65532
ENTRYPOINT $entrypoint
DOCKERFILE
  TAG=$tag EXTRA_TAGS="" docker_build "go-module:$module@$KEDA_VERSION:cmd" -
}
version=${KEDA_VERSION#v}
build "ghcr.io/kedacore/keda:$version" "$tools/keda" \
  '["/keda", "--zap-log-level=info", "--zap-encoder=console"]'
build "ghcr.io/kedacore/keda-metrics-apiserver:$version" "$tools/keda-adapter" \
  '["/keda-adapter", "--secure-port=6443", "--zap-log-level=info", "--zap-encoder=console"]'
build "ghcr.io/kedacore/keda-admission-webhooks:$version" "$webhooks/keda-admission-webhooks" \
  '["/keda-admission-webhooks", "--zap-log-level=info", "--zap-encoder=console"]'
