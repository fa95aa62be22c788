#!/usr/bin/env bash
# The Temporal Web UI image: ui-server from the Go module github.com/temporalio/ui-server/v2
# (TEMPORAL_UI_VERSION), which ships the built UI assets, with the module's own
# config/docker.yaml template (TEMPORAL_ADDRESS, TEMPORAL_UI_PORT, ... from the environment).
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require TEMPORAL_UI_VERSION DEBIAN_SUITE
module=github.com/temporalio/ui-server/v2
bin=$(go_binaries temporal-ui "$module" "v$TEMPORAL_UI_VERSION" ui-server=./cmd/server)
src=$(go_module_dir "$module" "v$TEMPORAL_UI_VERSION")
cp "$bin/ui-server" "$CONTEXT/"
cp "$src/config/docker.yaml" "$CONTEXT/docker.yaml"
docker_build "go-module:$module@v$TEMPORAL_UI_VERSION" "$(dirname "$0")" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE"
