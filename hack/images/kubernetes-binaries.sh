#!/usr/bin/env bash
# Build the node-side Kubernetes commands (kubelet, kubeadm, kubectl, kube-proxy) from the
# k8s.io/kubernetes module into a cache directory keyed by version; prints that directory.
# Same module trick and version stamps as `hack/install-tool.sh kubernetes`, which builds
# the control-plane commands: k8s.io/kubernetes points its staging modules at ./staging,
# so a wrapper module replaces them with the published v0.x tags.
#
#   hack/images/kubernetes-binaries.sh v1.36.3
set -euo pipefail

version=${1:?usage: kubernetes-binaries.sh VERSION}
cache_root=${QUEUEFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queuefleet}
dest="$cache_root/images/bin/kubernetes-node-$version"
if [[ -f "$dest/.complete" ]]; then
  echo "$dest"
  exit 0
fi

export GOMODCACHE="$cache_root/go/mod"
export GOCACHE="$cache_root/go/build"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dest"
mkdir -p "$dest"
cd "$work"
go mod init queuefleet.dev/images/kubernetes >/dev/null 2>&1
go mod edit -require="k8s.io/kubernetes@$version"
upstream_gomod=$(go mod download -json "k8s.io/kubernetes@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging_version="v0.${version#v1.}"
sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9.-]*\) => ./staging/src/.*#\1#p' "$upstream_gomod" | while read -r m; do
  go mod edit -replace="$m=$m@$staging_version"
done
minor=${version#v1.}; minor=${minor%%.*}
ld=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
for cmd in kubelet kubeadm kubectl kube-proxy; do
  echo "kubernetes-binaries: $version: building $cmd" >&2
  go build -trimpath -ldflags "-s -w $ld" -o "$dest/$cmd" "k8s.io/kubernetes/cmd/$cmd"
done
touch "$dest/.complete"
echo "$dest"
