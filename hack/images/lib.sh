# shellcheck shell=bash
# Helpers for the image recipes under images/*/build.sh (sourced, not run).
#
# Every recipe gets: REPO (the repository root), CACHE (the queuefleet cache),
# CONTEXT (an empty, throwaway build context), TAG (the image's first tag) and the
# versions the Makefile pins, and must leave an image tagged TAG behind.

log() { echo "images: ${IMAGE_NAME:-?}: $*" >&2; }

die() { echo "images: ${IMAGE_NAME:-?}: $*" >&2; exit 1; }

# require VAR...: the Makefile pins versions; fail naming the first one that is unset.
require() {
  local var
  for var in "$@"; do
    [[ -n "${!var:-}" ]] || die "$var is not set (versions are pinned in the Makefile: run through \`make images\`)"
  done
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# go_module_dir MODULE VERSION: the module's source in the shared Go module cache.
go_module_dir() {
  (cd "$CACHE" && GOMODCACHE="$CACHE/go/mod" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    go mod download -json "$1@$2" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
}

# go_binaries NAME MODULE VERSION OUT=PKG... [-- LDFLAGS]: cached build; prints the directory.
go_binaries() { "$REPO/hack/images/go-binaries.sh" "$@"; }

# docker_build SOURCE DOCKERFILE-DIR [docker build args...]: build CONTEXT with the recipe's
# Dockerfile (DOCKERFILE-DIR `-`: the one the recipe wrote into CONTEXT), labelled with
# where it came from, tagged TAG (and EXTRA_TAGS).
docker_build() {
  local source=$1 recipe=$2
  shift 2
  local tags=(--tag "$TAG")
  local extra
  for extra in ${EXTRA_TAGS:-}; do tags+=(--tag "$extra"); done
  [[ "$recipe" == - ]] || cp "$recipe/Dockerfile" "$CONTEXT/Dockerfile"
  docker_quiet build "${tags[@]}" \
    --label "org.opencontainers.image.source=$source" \
    --label "dev.queuefleet.images.recipe=images/$IMAGE_NAME" \
    "$@" "$CONTEXT"
}

# docker_quiet ARGS...: run docker, show its output only when it fails (the classic
# builder's deprecation notice and step logs are noise when all goes well).
docker_quiet() {
  local out
  out=$(mktemp)
  if ! docker "$@" >"$out" 2>&1; then
    tail -40 "$out" >&2
    rm -f "$out"
    die "docker $1 failed"
  fi
  rm -f "$out"
}
