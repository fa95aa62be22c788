#!/usr/bin/env bash
# kind's base image (the node without Kubernetes), made like kind's images/base: kind's own
# files from its module (KIND_VERSION), systemd and friends from Debian, runc from Debian,
# containerd, crictl and the CNI plugins built from their Go modules.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require KIND_VERSION CONTAINERD_VERSION CRICTL_VERSION CNI_PLUGINS_VERSION DEBIAN_SUITE
kind_src=$(go_module_dir sigs.k8s.io/kind "$KIND_VERSION")
cp -r "$kind_src/images/base/files" "$CONTEXT/files"
chmod -R u+w "$CONTEXT/files"
mkdir -p "$CONTEXT/bin" "$CONTEXT/cni"
# containerd's optional snapshotters are never selected inside kind (same tags as kind).
containerd=$(GO_BUILD_TAGS="no_aufs no_zfs no_btrfs no_devmapper" go_binaries containerd \
  github.com/containerd/containerd/v2 "$CONTAINERD_VERSION" \
  containerd=./cmd/containerd containerd-shim-runc-v2=./cmd/containerd-shim-runc-v2 ctr=./cmd/ctr \
  -- "-X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION")
crictl=$(go_binaries crictl sigs.k8s.io/cri-tools "$CRICTL_VERSION" crictl=./cmd/crictl \
  -- "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION")
cni=$(go_binaries cni-plugins github.com/containernetworking/plugins "$CNI_PLUGINS_VERSION" \
  host-local=./plugins/ipam/host-local loopback=./plugins/main/loopback ptp=./plugins/main/ptp \
  portmap=./plugins/meta/portmap bridge=./plugins/main/bridge)
cp "$containerd"/{containerd,containerd-shim-runc-v2,ctr} "$crictl/crictl" "$CONTEXT/bin/"
cp "$cni"/* "$CONTEXT/cni/"
docker_build "go-module:sigs.k8s.io/kind@$KIND_VERSION:images/base" "$(dirname "$0")" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE" \
  --label "dev.queuefleet.images.containerd=$CONTAINERD_VERSION" \
  --label "dev.queuefleet.images.crictl=$CRICTL_VERSION" \
  --label "dev.queuefleet.images.cni-plugins=$CNI_PLUGINS_VERSION"
