#!/usr/bin/env bash
# The queuefleet image from the repository's own Dockerfile, the one users build. Offline
# (QUEUEFLEET_BASE=offline) its base is images/python; online, the Dockerfile's default.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require QUEUEFLEET_VERSION QUEUEFLEET_BASE DEBIAN_SUITE
args=(--build-arg "VERSION=$QUEUEFLEET_VERSION")
case "$QUEUEFLEET_BASE" in
  offline) args+=(--build-arg "BASE_IMAGE=queuefleet-build/python:3.11-$DEBIAN_SUITE") ;;
  online) ;;
  *) die "QUEUEFLEET_BASE must be offline or online, not '$QUEUEFLEET_BASE'" ;;
esac
# The host's site-local CAs (Debian's place for them), for networks that intercept TLS to PyPI.
shopt -s nullglob
local_cas=(/usr/local/share/ca-certificates/*.crt)
shopt -u nullglob
[[ ${#local_cas[@]} -gt 0 ]] && args+=(--build-arg "PIP_EXTRA_CA_CERTS=$(cat "${local_cas[@]}")")
tags=(--tag "$TAG")
for extra in $EXTRA_TAGS; do tags+=(--tag "$extra"); done
docker_quiet build "${tags[@]}" "${args[@]}" --file "$REPO/Dockerfile" "$REPO"
