#!/usr/bin/env bash
# Build commands of one Go module at one version from the module's own tree (so its go.mod,
# replace lines and go.sum apply unchanged) into a cache directory keyed by name and version.
# Prints that directory. Same GOMODCACHE/GOCACHE as hack/install-tool.sh.
#
#   hack/images/go-binaries.sh NAME MODULE VERSION OUTPUT=PACKAGE... [-- LDFLAGS]
#   e.g. go-binaries.sh crictl sigs.k8s.io/cri-tools v1.36.0 crictl=./cmd/crictl
#
# Environment: GO_BUILD_TAGS (build tags), GO_CGO (default 0).
set -euo pipefail

name=${1:?usage: go-binaries.sh NAME MODULE VERSION OUTPUT=PACKAGE... [-- LDFLAGS]}
module=${2:?module}
version=${3:?version}
shift 3
targets=()
while [[ $# -gt 0 && "$1" != "--" ]]; do targets+=("$1"); shift; done
[[ "${1:-}" == "--" ]] && shift
ldflags="${*:-}"

cache_root=${QUEUEFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queuefleet}
dest="$cache_root/images/bin/$name-$version"
# Two runs building the same tool at once (two make targets, two sessions) must not wipe
# each other's output: the second waits for the first, then finds its stamp.
mkdir -p "$(dirname "$dest")"
exec {lock_fd}>"$dest.lock"
flock "$lock_fd"

if [[ -f "$dest/.complete" ]]; then
  echo "$dest"
  exit 0
fi

export GOMODCACHE="$cache_root/go/mod"
export GOCACHE="$cache_root/go/build"
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=${GO_CGO:-0}
export GOTOOLCHAIN=local

log() { echo "go-binaries: $name $version: $*" >&2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf "$dest"
mkdir -p "$dest"

log "downloading $module@$version"
src=$(cd "$work" && go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
# The module cache is read-only; go may want to touch go.sum, so build in a copy.
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
# Nested modules are not part of a module's zip, so `replace X => ./dir` lines that point
# into the tree lose their target: use X at the same version, as published.
(cd "$work/src" && go mod edit -json | python3 -c '
import json, os, sys
for r in json.load(sys.stdin).get("Replace") or []:
    path = r["New"]["Path"]
    if path.startswith(".") and not os.path.isdir(path):
        print(r["Old"]["Path"])
') | while read -r nested; do
  log "replacing missing nested module $nested with $nested@$version"
  (cd "$work/src" && go mod edit -replace="$nested=$nested@$version")
done
for target in "${targets[@]}"; do
  out=${target%%=*}
  pkg=${target#*=}
  log "building $out from $pkg"
  (cd "$work/src" && go build -trimpath ${GO_BUILD_TAGS:+-tags "$GO_BUILD_TAGS"} \
    -ldflags "-s -w $ldflags" -o "$dest/$out" "$pkg")
done
touch "$dest/.complete"
echo "$dest"
