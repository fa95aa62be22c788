#!/usr/bin/env bash
# PostgreSQL for the packs in the KIND dev loop: Debian's postgresql-15 on the debootstrap
# base, run as the fixed uid 999 with its data on a volume; see entrypoint.sh.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require POSTGRES_MAJOR DEBIAN_SUITE
here=$(dirname "$0")
install -m 0755 "$here/entrypoint.sh" "$CONTEXT/entrypoint.sh"
docker_build "debian-packages:$DEBIAN_SUITE:postgresql-$POSTGRES_MAJOR" "$here" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE" \
  --build-arg "POSTGRES_MAJOR=$POSTGRES_MAJOR"
