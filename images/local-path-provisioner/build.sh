#!/usr/bin/env bash
# Rancher's local-path provisioner (LOCAL_PATH_PROVISIONER_VERSION, the newest the Go proxy
# serves), tagged with the name kind's storage manifest uses.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require LOCAL_PATH_PROVISIONER_VERSION
bin=$(go_binaries local-path-provisioner github.com/rancher/local-path-provisioner \
  "$LOCAL_PATH_PROVISIONER_VERSION" local-path-provisioner=. \
  -- "-X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION")
cp "$bin/local-path-provisioner" "$CONTEXT/"
docker_build "go-module:github.com/rancher/local-path-provisioner@$LOCAL_PATH_PROVISIONER_VERSION" "$(dirname "$0")"
