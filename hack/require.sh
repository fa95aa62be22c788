#!/usr/bin/env bash
# Check one prerequisite of a dev-loop target. When it is missing, print one line saying
# what is missing and how to get it, and exit 1 so make stops there.
#
#   hack/require.sh docker            the docker CLI and a daemon that answers
#   hack/require.sh go                Go, which builds the pinned kind and helm
#   hack/require.sh cluster KIND NAME a KIND cluster called NAME (KIND: the kind binary)
set -euo pipefail

missing() { echo "missing: $*" >&2; exit 1; }

case "${1:-}" in
  docker)
    command -v docker >/dev/null 2>&1 ||
      missing "docker (the KIND dev loop runs Kubernetes in Docker): install Docker Engine or Docker Desktop, https://docs.docker.com/get-docker/ — or run \`make dev-local\`, which needs neither Docker nor Kubernetes"
    docker info >/dev/null 2>&1 ||
      missing "a running Docker daemon: \`docker info\` gets no answer; start Docker (Docker Desktop, or \`sudo systemctl start docker\`) and check that your user may use it — or run \`make dev-local\`"
    ;;
  go)
    command -v go >/dev/null 2>&1 ||
      missing "go (the pinned kind and helm are built from their Go modules into a local cache): install Go, https://go.dev/dl/"
    ;;
  cluster)
    kind=${2:?usage: require.sh cluster KIND NAME}
    name=${3:?usage: require.sh cluster KIND NAME}
    "$kind" get clusters 2>/dev/null | grep -qx -- "$name" ||
      missing "the KIND cluster '$name': create it with \`make kind-up\` (or everything with \`make dev-bounce\`)"
    ;;
  *)
    echo "usage: require.sh docker|go|cluster KIND NAME" >&2
    exit 2
    ;;
esac
