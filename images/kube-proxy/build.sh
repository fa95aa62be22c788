#!/usr/bin/env bash
# kube-proxy on the Debian base with iptables, ipset and conntrack; /usr/sbin/iptables picks
# the legacy or nft backend the node already uses on first call (iptables-wrapper).
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require KUBERNETES_VERSION DEBIAN_SUITE
bin=$("$REPO/hack/images/kubernetes-binaries.sh" "$KUBERNETES_VERSION")
cp "$bin/kube-proxy" "$(dirname "$0")/iptables-wrapper" "$CONTEXT/"
docker_build "go-module:k8s.io/kubernetes@$KUBERNETES_VERSION:cmd/kube-proxy" "$(dirname "$0")" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE"
