#!/usr/bin/env bash
# ctest fixture for the container tier: builds the Debian 12 base image from debootstrap (once:
# cached as a tarball under the build dir), tags it with every name the Dockerfiles use, then
# builds the product image from docker/Dockerfile.
# Usage: build_images.sh SOURCE_DIR BUILD_DIR [BINARY]
# With BINARY (what ctest passes unless CONTAINER_IMAGE_FROM_SOURCE is on), the Dockerfile's build
# stage is replaced by that binary, just built on this host's Debian 12 packages: compiling the
# project a second time inside the build stage takes longer on a 2-core CI machine than the whole
# rest of the tier. Without it, the build stage compiles from source (ccache in a cache mount).
set -euo pipefail
SOURCE_DIR=$1 BUILD_DIR=$2 BINARY=${3:-}
source "$(dirname "$0")/podman_env.sh"

base_tar="$PODMAN_STATE/cache/debian-bookworm-minbase.tar"
if ! podman image exists docker.io/library/debian:12; then
  if [ ! -s "$base_tar" ]; then
    # The mirror this machine already uses for bookworm (deb822 sources), never a fixed host.
    mirror=$(awk '/^URIs:/ {uri=$2} /^Suites:/ && / bookworm( |$)/ {print uri; exit}' \
               /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$mirror" ]; then
      mirror=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list)
    fi
    [ -n "$mirror" ] || { echo "no bookworm mirror in /etc/apt/sources.list*" >&2; exit 1; }
    rootfs=$(mktemp -d "$PODMAN_STATE/tmp/rootfs.XXXXXX")
    trap 'rm -rf "$rootfs"' EXIT
    echo "debootstrap --variant=minbase bookworm from $mirror"
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" > "$PODMAN_STATE/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$base_tar.part" .
    mv "$base_tar.part" "$base_tar"
    rm -rf "$rootfs"
  fi
  podman import "$base_tar" docker.io/library/debian:12 >/dev/null
fi
podman tag docker.io/library/debian:12 docker.io/library/debian:bookworm-slim \
  docker.io/library/debian:bookworm

build_args=()
if [ -n "$BINARY" ]; then
  stage="$PODMAN_STATE/prebuilt"
  rm -rf "$stage" && mkdir -p "$stage/build"
  strip -o "$stage/build/cloudmeta" "$BINARY"
  sh "$SOURCE_DIR/docker/runtime-packages.sh" "$stage/build/cloudmeta" \
    > "$stage/build/runtime-packages"
  build_args=(--build-context "build=$stage")
  echo "build stage replaced by $BINARY"
fi
podman build --pull=never --format docker "${build_args[@]}" -f "$SOURCE_DIR/docker/Dockerfile" \
  -t "$PRODUCT_IMAGE" "$SOURCE_DIR"
rm -rf "$PODMAN_STATE/prebuilt"
podman image inspect --format '{{.Size}}' "$PRODUCT_IMAGE" > "$PODMAN_STATE/product-image-size"
echo "product image: $(( $(cat "$PODMAN_STATE/product-image-size") / 1000000 )) MB"
