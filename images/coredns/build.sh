#!/usr/bin/env bash
# CoreDNS at the version kubeadm deploys (COREDNS_VERSION), from its Go module.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require COREDNS_VERSION
bin=$(go_binaries coredns github.com/coredns/coredns "$COREDNS_VERSION" coredns=. \
  -- "-X github.com/coredns/coredns/coremain.GitCommit=$COREDNS_VERSION")
cp "$bin/coredns" "$CONTEXT/"
mkdir -p "$CONTEXT/etc/ssl/certs"
cp /etc/ssl/certs/ca-certificates.crt "$CONTEXT/etc/ssl/certs/"
docker_build "go-module:github.com/coredns/coredns@$COREDNS_VERSION" "$(dirname "$0")"
