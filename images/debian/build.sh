#!/usr/bin/env bash
# The Debian base of every other image: a minbase rootfs made by debootstrap from Debian's
# mirror, imported as an image. The suite is pinned (DEBIAN_SUITE); the exact package
# versions are recorded in the image's /etc/queuefleet-packages.txt.
set -euo pipefail
source "$REPO/hack/images/lib.sh"
require DEBIAN_SUITE DEBIAN_MIRROR

command -v debootstrap >/dev/null || die "debootstrap not found: apt-get install debootstrap (\`make system-packages\`)"
rootfs="$CONTEXT/rootfs"
log "debootstrap $DEBIAN_SUITE from $DEBIAN_MIRROR"
debootstrap --variant=minbase --include=ca-certificates "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
  >"$CONTEXT/debootstrap.log" 2>&1 || die "debootstrap failed: $(tail -5 "$CONTEXT/debootstrap.log")"
echo "deb $DEBIAN_MIRROR $DEBIAN_SUITE main" >"$rootfs/etc/apt/sources.list"
echo "deb $DEBIAN_MIRROR $DEBIAN_SUITE-updates main" >>"$rootfs/etc/apt/sources.list"
echo "deb http://deb.debian.org/debian-security $DEBIAN_SUITE-security main" >>"$rootfs/etc/apt/sources.list"
# shellcheck disable=SC2016 # dpkg-query's own ${field} syntax
chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}\n' >"$rootfs/etc/queuefleet-packages.txt"
# Images are not machines: no apt caches, no machine-id, no logs of the bootstrap.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/* \
  "$rootfs"/debootstrap
: >"$rootfs/etc/machine-id"
tar --numeric-owner -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  --change "LABEL org.opencontainers.image.source=debootstrap:$DEBIAN_SUITE:$DEBIAN_MIRROR" \
  - "$TAG" >/dev/null
