#!/usr/bin/env bash
# Build or fetch one pinned tool into a cache outside the repository, keyed by tool and
# version, so a second run reuses it. Prints the directory holding the tool's binaries.
#
#   hack/install-tool.sh kubernetes v1.36.3   -> kube-apiserver, kube-controller-manager, kube-scheduler
#   hack/install-tool.sh etcd v3.6.16         -> etcd
#   hack/install-tool.sh kwok v0.8.0          -> kwok, kwokctl
#   hack/install-tool.sh helm v3.22.0         -> helm  (helm4 v4.3.1 -> helm4)
#   hack/install-tool.sh keda v2.21.0         -> KEDA's CRD manifests under crds/
#   hack/install-tool.sh checkov 3.3.30       -> checkov (Kubernetes manifest checks), in its own venv
#   hack/install-tool.sh prometheus-operator-crds v0.85.0 -> ServiceMonitor, PodMonitor, PrometheusRule CRDs under crds/
#   hack/install-tool.sh keda-operator v2.21.0 -> keda (operator), keda-adapter (metrics API server)
#   hack/install-tool.sh kind v0.33.0         -> kind
#   hack/install-tool.sh actionlint v1.7.12   -> actionlint (GitHub Actions workflows)
#   hack/install-tool.sh ggcr v0.22.1         -> registry (OCI registry on loopback), crane
#
# Versions are pinned in the Makefile; this script only knows how to build each tool.
set -euo pipefail

tool=${1:?usage: install-tool.sh TOOL VERSION}
version=${2:?usage: install-tool.sh TOOL VERSION}

cache_root=${QUEUEFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queuefleet}
dest="$cache_root/tools/$tool-$version"
stamp="$dest/.complete"

# Two runs building the same tool at once (two make targets, two sessions) must not wipe
# each other's output: the second waits for the first, then finds its stamp.
mkdir -p "$(dirname "$dest")"
exec {lock_fd}>"$dest.lock"
flock "$lock_fd"

if [[ -f "$stamp" ]]; then
  echo "$dest"
  exit 0
fi

# Go downloads and build cache live outside the repository too, shared by every tool.
export GOMODCACHE="$cache_root/go/mod"
export GOCACHE="$cache_root/go/build"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOTOOLCHAIN=local

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dest"
mkdir -p "$dest/bin"

log() { echo "install-tool: $tool $version: $*" >&2; }

# A throwaway module that requires the tool's module, so `go build` of its commands
# resolves the module graph exactly as the tool's own go.mod pins it.
wrapper_module() {
  local module=$1
  (cd "$work" && go mod init queuefleet.dev/tools/"$tool" >/dev/null 2>&1 && go mod edit -require="$module@$version")
}

build() {  # build OUTPUT PACKAGE [LDFLAGS]
  local out=$1 pkg=$2 ldflags=${3:-}
  log "building $out from $pkg"
  (cd "$work" && go build -trimpath -ldflags "-s -w $ldflags" -o "$dest/bin/$out" "$pkg")
}

case "$tool" in
  kubernetes)
    # k8s.io/kubernetes points its staging modules (k8s.io/api, ...) at ./staging with
    # replace lines; a consumer must replace them with the published v0.x tags instead.
    wrapper_module k8s.io/kubernetes
    (cd "$work" && go mod download -json "k8s.io/kubernetes@$version" >"$work/k8s.json")
    upstream_gomod=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GoMod"])' "$work/k8s.json")
    staging_version="v0.${version#v1.}"
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9.-]*\) => ./staging/src/.*#\1#p' "$upstream_gomod" | while read -r m; do
      (cd "$work" && go mod edit -replace="$m=$m@$staging_version")
    done
    minor=${version#v1.}; minor=${minor%%.*}
    ld=""
    for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
      ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
    done
    for cmd in kube-apiserver kube-controller-manager kube-scheduler; do
      build "$cmd" "k8s.io/kubernetes/cmd/$cmd" "$ld"
    done
    ;;
  etcd)
    wrapper_module go.etcd.io/etcd/server/v3
    build etcd go.etcd.io/etcd/server/v3 "-X go.etcd.io/etcd/api/v3/version.GitSHA=$version"
    ;;
  kwok)
    wrapper_module sigs.k8s.io/kwok
    ld="-X sigs.k8s.io/kwok/pkg/consts.Version=$version"
    build kwok sigs.k8s.io/kwok/cmd/kwok "$ld"
    build kwokctl sigs.k8s.io/kwok/cmd/kwokctl "$ld"
    ;;
  helm|helm4)
    major=${version%%.*}
    module=helm.sh/helm
    [[ "$major" != v2 && "$major" != v1 ]] && module="helm.sh/helm/$major"
    wrapper_module "$module"
    build "$tool" "$module/cmd/helm" "-X $module/internal/version.version=$version"
    ;;
  keda-operator)
    # KEDA's operator and metrics API server. Replace directives of a dependency are
    # ignored by Go, so the wrapper carries KEDA's own replace lines.
    wrapper_module github.com/kedacore/keda/v2
    (cd "$work" && go mod download -json "github.com/kedacore/keda/v2@$version" >"$work/keda.json")
    keda_gomod=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["GoMod"])' "$work/keda.json")
    sed -n 's#^replace \([^ ]*\) \([^ ]*\) => \([^ ]*\) \([^ ]*\)$#\1@\2=\3@\4#p' "$keda_gomod" | while read -r r; do
      (cd "$work" && go mod edit -replace="$r")
    done
    ld="-X github.com/kedacore/keda/v2/version.Version=$version"
    build keda github.com/kedacore/keda/v2/cmd/operator "$ld"
    build keda-adapter github.com/kedacore/keda/v2/cmd/adapter "$ld"
    ;;
  checkov)
    # From PyPI into a virtualenv of its own: checkov pins old versions of packaging and
    # friends that must not leak into the project's virtualenv.
    python3 -m venv "$dest/venv"
    "$dest/venv/bin/pip" install --quiet --disable-pip-version-check "checkov==${version#v}"
    ln -sf ../venv/bin/checkov "$dest/bin/checkov"
    ;;
  prometheus-operator-crds)
    # Only the CRDs (ServiceMonitor, PodMonitor, PrometheusRule, ...): the chart's monitoring
    # objects are validated and installed against them in the test control plane.
    (cd "$work" && go mod download -json "github.com/prometheus-operator/prometheus-operator@$version" >"$work/po.json")
    src=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$work/po.json")
    mkdir -p "$dest/crds"
    cp "$src"/example/prometheus-operator-crd/monitoring.coreos.com_{servicemonitors,podmonitors,prometheusrules}.yaml "$dest/crds/"
    chmod -R u+w "$dest/crds"
    ;;
  kind)
    # KIND: Kubernetes nodes as Docker containers, for the dev loop (`make kind-up`).
    wrapper_module sigs.k8s.io/kind
    build kind sigs.k8s.io/kind
    ;;
  keda)
    # The CRDs ship inside the module; the API server validates ScaledObjects against them.
    (cd "$work" && go mod download -json "github.com/kedacore/keda/v2@$version" >"$work/keda.json")
    src=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$work/keda.json")
    mkdir -p "$dest/crds"
    cp "$src"/config/crd/bases/*.yaml "$dest/crds/"
    chmod -R u+w "$dest/crds"
    ;;
  actionlint)
    # `make lint` checks the GitHub Actions workflows (with shellcheck over their scripts).
    wrapper_module github.com/rhysd/actionlint
    build actionlint github.com/rhysd/actionlint/cmd/actionlint "-X github.com/rhysd/actionlint.version=$version"
    ;;
  ggcr)
    # An OCI registry on loopback and a client for it: the release pipeline's test pushes
    # the image and the charts there, as the workflow does to ghcr.io.
    wrapper_module github.com/google/go-containerregistry
    build registry github.com/google/go-containerregistry/cmd/registry
    build crane github.com/google/go-containerregistry/cmd/crane
    ;;
  *)
    echo "install-tool: unknown tool '$tool'" >&2
    exit 2
    ;;
esac

touch "$stamp"
log "built in $SECONDS s"
echo "$dest"
