#!/usr/bin/env bash
# Prometheus for the offline monitoring layer: Debian's package (the version of DEBIAN_SUITE,
# PROMETHEUS_IMAGE_VERSION names it), laid out like upstream's image for Prometheus Operator:
# entrypoint /bin/prometheus, data in /prometheus, user nobody.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require PROMETHEUS_IMAGE_VERSION DEBIAN_SUITE
docker_build "debian-packages:$DEBIAN_SUITE:prometheus" "$(dirname "$0")" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE" \
  --build-arg "EXPECTED_VERSION=${PROMETHEUS_IMAGE_VERSION#v}"
