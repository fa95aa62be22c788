#!/usr/bin/env bash
# The helper pods of the local-path provisioner run `sh -c mkdir/rm` on the host path:
# the Debian base has all of it.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require DEBIAN_SUITE
docker_build "debootstrap:$DEBIAN_SUITE" "$(dirname "$0")" --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE"
