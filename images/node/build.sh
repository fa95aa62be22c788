#!/usr/bin/env bash
# The KIND node image for KUBERNETES_VERSION: `kind build node-image --type file` on a server
# tarball assembled here. kind's builder fetches (and offline: fails on) every image it needs
# that the tarball's archives do not name, and it reads the names of an archive from its
# first metadata file; so kube-proxy.tar carries the other images too (etcd, CoreDNS, pause,
# local-path, CNI), with a `repositories` file first that names them all.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require KIND_VERSION KUBERNETES_VERSION
kind=$("$REPO/hack/install-tool.sh" kind "$KIND_VERSION")/bin/kind
node_bin=$("$REPO/hack/images/kubernetes-binaries.sh" "$KUBERNETES_VERSION")
images() { "$REPO/hack/images.sh" tag "$1"; }
server="$CONTEXT/kubernetes/server/bin"
mkdir -p "$server"
echo "$KUBERNETES_VERSION" >"$CONTEXT/kubernetes/version"
cp "$node_bin"/{kubeadm,kubelet,kubectl} "$server/"
for component in kube-apiserver kube-controller-manager kube-scheduler; do
  docker save "registry.k8s.io/$component:$KUBERNETES_VERSION" >"$server/$component.tar"
done
extra=(registry.k8s.io/kube-proxy:"$KUBERNETES_VERSION")
for name in pause etcd coredns local-path-provisioner local-path-helper cni; do
  names=$("$REPO/hack/images.sh" tags "$name")  # a failure here must stop the recipe
  read -r -d '' -a more <<<"$names" || true
  extra+=("${more[@]}")
done
log "kube-proxy.tar carries: ${extra[*]}"
docker save "${extra[@]}" >"$CONTEXT/kube-proxy.raw.tar"
python3 "$(dirname "$0")/repositories_first.py" "$CONTEXT/kube-proxy.raw.tar" "$server/kube-proxy.tar"
rm "$CONTEXT/kube-proxy.raw.tar"
# gzip -1: kind insists on a gzipped tarball, and it is unpacked once, right away.
tar -C "$CONTEXT" -c kubernetes | gzip -1 >"$CONTEXT/kubernetes-server.tar.gz"
"$kind" build node-image --type file "$CONTEXT/kubernetes-server.tar.gz" \
  --base-image "$(images kind-base)" --image "$TAG" >"$CONTEXT/build.log" 2>&1 ||
  die "kind build node-image failed: $(tail -20 "$CONTEXT/build.log")"
