#!/usr/bin/env bash
# The offline base of the queuefleet image: Debian's python3 (3.11 on bookworm) with venv,
# on the debootstrap rootfs. Same contract as the official slim image: `python3 -m venv`.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require DEBIAN_SUITE
docker_build "debian-packages:$DEBIAN_SUITE:python3,python3-venv" "$(dirname "$0")" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE"
