#!/usr/bin/env bash
# etcd for kubeadm's static pod: the binary `hack/install-tool.sh etcd` builds for the
# control-plane tests (same ETCD_VERSION).
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require ETCD_VERSION
cp "$("$REPO/hack/install-tool.sh" etcd "$ETCD_VERSION")/bin/etcd" "$CONTEXT/"
docker_build "go-module:go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$(dirname "$0")"
