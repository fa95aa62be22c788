#!/usr/bin/env bash
# The CNI plugins the node image installs (ptp, bridge, host-local, portmap, loopback, from
# the containernetworking/plugins module) and the ptp network config of the test layer.
# kind's node-image builder refuses to build without its kindnetd image, which cannot be
# built here (see images/README.md), so this image also carries that name; it is never run
# when the cluster sets `disableDefaultCNI: true`.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require CNI_PLUGINS_VERSION
bin=$(go_binaries cni-plugins github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION" \
  host-local=./plugins/ipam/host-local loopback=./plugins/main/loopback ptp=./plugins/main/ptp \
  portmap=./plugins/meta/portmap bridge=./plugins/main/bridge)
mkdir -p "$CONTEXT/opt/cni/bin" "$CONTEXT/etc/cni/net.d"
cp "$bin"/* "$CONTEXT/opt/cni/bin/"
cp "$(dirname "$0")/10-queuefleet-ptp.conflist" "$CONTEXT/etc/cni/net.d/"
docker_build "go-module:github.com/containernetworking/plugins@$CNI_PLUGINS_VERSION" "$(dirname "$0")"
