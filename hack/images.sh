#!/usr/bin/env bash
# Build every image queuefleet needs from pinned sources (Debian packages, Go modules,
# PyPI), without any registry. Recipes live in images/NAME/; versions come from the
# Makefile (`make images` passes them). An image whose tag already exists is not rebuilt
# (each tag encodes its pinned version), except `queuefleet`, which is built from the
# working tree every time (docker's layer cache makes an unchanged tree near-instant).
#
#   hack/images.sh list              NAME, tags, dependencies
#   hack/images.sh build NAME...     build NAME (and what it needs first); `all` for every image
#   hack/images.sh tag NAME          the image's first tag
#   hack/images.sh tags NAME         all its tags, one a line
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${QUEUEFLEET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queuefleet}
export REPO CACHE
IMAGE_NAME=driver
# shellcheck source=hack/images/lib.sh
source "$REPO/hack/images/lib.sh"

# The order of a full build: every image after the ones it is built from.
ALL_IMAGES=(debian python pause etcd coredns local-path-provisioner local-path-helper cni
  kube-control-plane kube-proxy kind-base node queuefleet temporal temporal-ui keda
  prometheus-operator prometheus postgres)

# Names kind's node-image builder expects, from kind's own source (KIND_VERSION).
kind_image() {  # kind_image CONSTANT
  local dir
  dir=$(go_module_dir sigs.k8s.io/kind "$KIND_VERSION")
  sed -n "s/^const $1 = \"\(.*\)\"$/\1/p" "$dir"/pkg/build/nodeimage/const_*.go "$dir"/pkg/build/nodeimage/defaults.go
}

# image_tags NAME: the tags of one image, first one the cache key.
image_tags() {
  case "$1" in
    debian) echo "queuefleet-build/debian:$DEBIAN_SUITE" ;;
    python) echo "queuefleet-build/python:3.11-$DEBIAN_SUITE" ;;
    # kind's containerd config names pause:3.10 as the sandbox image; kubeadm names PAUSE_VERSION.
    pause) echo "registry.k8s.io/pause:$PAUSE_VERSION registry.k8s.io/pause:${PAUSE_VERSION%.*}" ;;
    etcd) echo "registry.k8s.io/etcd:${ETCD_VERSION#v}-0" ;;
    coredns) echo "registry.k8s.io/coredns/coredns:$COREDNS_VERSION" ;;
    local-path-provisioner) kind_image storageProvisionerImage ;;
    local-path-helper) kind_image storageHelperImage ;;
    # kind's builder insists on its kindnetd image even with disableDefaultCNI (see README).
    cni) echo "queuefleet-build/cni-plugins:$CNI_PLUGINS_VERSION $(kind_image kindnetdImage)" ;;
    kube-control-plane)
      echo "registry.k8s.io/kube-apiserver:$KUBERNETES_VERSION registry.k8s.io/kube-controller-manager:$KUBERNETES_VERSION registry.k8s.io/kube-scheduler:$KUBERNETES_VERSION" ;;
    kube-proxy) echo "registry.k8s.io/kube-proxy:$KUBERNETES_VERSION" ;;
    kind-base) echo "queuefleet-build/kind-base:$KIND_VERSION-containerd$CONTAINERD_VERSION" ;;
    node) echo "$KIND_NODE_IMAGE" ;;
    # the dev loop's IMAGE, and the chart's default repository at the project's version
    queuefleet) echo "$QUEUEFLEET_IMAGE ghcr.io/queuefleet/queuefleet:$QUEUEFLEET_VERSION" ;;
    temporal) echo "temporalio/temporal:$TEMPORAL_CLI_VERSION" ;;
    temporal-ui) echo "temporalio/ui:$TEMPORAL_UI_VERSION" ;;
    keda)
      echo "ghcr.io/kedacore/keda:${KEDA_VERSION#v} ghcr.io/kedacore/keda-metrics-apiserver:${KEDA_VERSION#v} ghcr.io/kedacore/keda-admission-webhooks:${KEDA_VERSION#v}" ;;
    prometheus-operator)
      echo "quay.io/prometheus-operator/prometheus-operator:$PROMETHEUS_OPERATOR_VERSION quay.io/prometheus-operator/prometheus-config-reloader:$PROMETHEUS_OPERATOR_VERSION" ;;
    prometheus) echo "quay.io/prometheus/prometheus:$PROMETHEUS_IMAGE_VERSION" ;;
    # the packs' database in the KIND dev loop (k8s/kind/packs-database.yaml)
    postgres) echo "queuefleet-build/postgres:$POSTGRES_MAJOR-$DEBIAN_SUITE" ;;
    *) return 1 ;;
  esac
}

image_deps() {
  case "$1" in
    python | local-path-helper | kube-proxy | kind-base | temporal | temporal-ui | prometheus | postgres) echo debian ;;
    queuefleet) [[ "${QUEUEFLEET_BASE:-offline}" == offline ]] && echo python ;;
    node) echo "kind-base pause etcd coredns local-path-provisioner local-path-helper cni kube-control-plane kube-proxy" ;;
    *) ;;
  esac
}

known() { [[ " ${ALL_IMAGES[*]} " == *" $1 "* ]]; }

declare -A BUILT=()
build_one() {
  local name=$1 dep
  [[ -n "${BUILT[$name]:-}" ]] && return 0
  known "$name" || { echo "images: unknown image '$name'; known: ${ALL_IMAGES[*]}" >&2; exit 2; }
  for dep in $(image_deps "$name"); do build_one "$dep"; done
  BUILT[$name]=1
  local tags
  read -r -a tags <<<"$(image_tags "$name")"
  local start=$SECONDS
  if [[ "$name" != queuefleet ]] && all_exist "${tags[@]}"; then
    printf 'images: %-24s cached   %s\n' "$name" "${tags[0]}"
    return 0
  fi
  local context
  context=$(mktemp -d)
  # A failed recipe must not leave a half-tagged image behind for the cache to trust.
  if ! (IMAGE_NAME=$name TAG=${tags[0]} EXTRA_TAGS="${tags[*]:1}" CONTEXT=$context \
        bash "$REPO/images/$name/build.sh"); then
    rm -rf "$context"
    for tag in "${tags[@]}"; do docker image rm --force "$tag" >/dev/null 2>&1 || true; done
    echo "images: $name failed" >&2
    exit 1
  fi
  rm -rf "$context"
  all_exist "${tags[@]}" || { echo "images: $name: recipe left no image ${tags[*]}" >&2; exit 1; }
  printf 'images: %-24s built    %s in %ds\n' "$name" "${tags[0]}" $((SECONDS - start))
}

all_exist() {
  local tag
  for tag in "$@"; do image_exists "$tag" || return 1; done
}

need_versions() {
  require DEBIAN_SUITE DEBIAN_MIRROR KIND_VERSION KUBERNETES_VERSION ETCD_VERSION PAUSE_VERSION \
    COREDNS_VERSION CNI_PLUGINS_VERSION CONTAINERD_VERSION CRICTL_VERSION KIND_NODE_IMAGE \
    QUEUEFLEET_IMAGE QUEUEFLEET_VERSION TEMPORAL_CLI_VERSION TEMPORAL_UI_VERSION KEDA_VERSION \
    PROMETHEUS_OPERATOR_VERSION PROMETHEUS_IMAGE_VERSION LOCAL_PATH_PROVISIONER_VERSION POSTGRES_MAJOR
}

case "${1:-}" in
  list)
    need_versions
    for name in "${ALL_IMAGES[@]}"; do
      printf '%-24s %s  (needs: %s)\n' "$name" "$(image_tags "$name")" "$(image_deps "$name")"
    done
    ;;
  tag | tags)
    need_versions
    known "${2:-}" || { echo "usage: images.sh $1 NAME" >&2; exit 2; }
    read -r -a tags <<<"$(image_tags "$2")"
    if [[ "$1" == tag ]]; then echo "${tags[0]}"; else printf '%s\n' "${tags[@]}"; fi
    ;;
  build)
    shift
    [[ $# -gt 0 ]] || { echo "usage: images.sh build NAME...|all" >&2; exit 2; }
    need_versions
    [[ "$*" == all ]] && set -- "${ALL_IMAGES[@]}"
    for name in "$@"; do
      known "$name" || { echo "images: unknown image '$name'; known: ${ALL_IMAGES[*]}" >&2; exit 2; }
    done
    if ! docker info >/dev/null 2>&1; then
      echo "images: no Docker engine answers (\`python -m testbed docker-up\`)" >&2
      exit 1
    fi
    total=$SECONDS
    for name in "$@"; do build_one "$name"; done
    echo "images: done in $((SECONDS - total))s"
    ;;
  *)
    echo "usage: hack/images.sh list | build NAME...|all | tag NAME" >&2
    exit 2
    ;;
esac
