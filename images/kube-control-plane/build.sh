#!/usr/bin/env bash
# kube-apiserver, kube-controller-manager and kube-scheduler images for the node image's
# server tarball: the static binaries `hack/install-tool.sh kubernetes` builds, on an empty base.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require KUBERNETES_VERSION
bin=$("$REPO/hack/install-tool.sh" kubernetes "$KUBERNETES_VERSION")/bin
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  rm -f "$CONTEXT"/kube-*
  cp "$bin/$component" "$CONTEXT/"
  TAG="registry.k8s.io/$component:$KUBERNETES_VERSION" EXTRA_TAGS="" docker_build \
    "go-module:k8s.io/kubernetes@$KUBERNETES_VERSION:cmd/$component" "$(dirname "$0")" \
    --build-arg "COMPONENT=$component"
done
