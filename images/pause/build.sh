#!/usr/bin/env bash
# The pod sandbox image: pause.c from the k8s.io/kubernetes module, linked statically.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require KUBERNETES_VERSION PAUSE_VERSION
command -v gcc >/dev/null || die "gcc not found: apt-get install gcc libc6-dev"
src=$(go_module_dir k8s.io/kubernetes "$KUBERNETES_VERSION")/build/pause/linux/pause.c
gcc -Os -Wall -Werror -static -DVERSION="v$PAUSE_VERSION" -o "$CONTEXT/pause" "$src"
strip "$CONTEXT/pause"
docker_build "go-module:k8s.io/kubernetes@$KUBERNETES_VERSION:build/pause/linux/pause.c" "$(dirname "$0")"
