#!/usr/bin/env bash
# ctest fixture for the container tier: builds the Debian 12 base image from debootstrap (once:
# cached as a tarball under the build dir), tags it with every name the Dockerfiles use, then
# builds the product image from docker/Dockerfile.
# Usage: build_images.sh SOURCE_DIR BUILD_DIR [BINARY]
# Without BINARY (ctest's default, CONTAINER_IMAGE_FROM_SOURCE=ON), the documented command at the
# root of a clean clone of SOURCE_DIR: the build stage compiles from source (ccache in a cache
# mount). With BINARY, the build stage is replaced by that binary, just built on this host's
# Debian 12 packages: quicker, but blind to what the build stage needs.
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

if [ -n "$BINARY" ]; then
  stage="$PODMAN_STATE/prebuilt"
  rm -rf "$stage" && mkdir -p "$stage/build"
  strip -o "$stage/build/cloudmeta" "$BINARY"
  sh "$SOURCE_DIR/docker/runtime-packages.sh" "$stage/build/cloudmeta" \
    > "$stage/build/runtime-packages"
  echo "build stage replaced by $BINARY"
  podman build --pull=never --format docker --build-context "build=$stage" \
    -f "$SOURCE_DIR/docker/Dockerfile" -t "$PRODUCT_IMAGE" "$SOURCE_DIR"
  rm -rf "$stage"
else
  # As a user builds it (README, docs/hypervisor.md): the documented command, unchanged, at the
  # root of a clean clone, so a file the build needs but the repository does not hold (or one
  # only a developer's tree has, like ./build) shows here. The clone holds what is committed.
  if [ -n "$(git -C "$SOURCE_DIR" status --porcelain --untracked-files=no)" ]; then
    echo "note: uncommitted changes in $SOURCE_DIR are not in the image (built from HEAD)"
  fi
  clone="$PODMAN_STATE/tmp/clone"
  rm -rf "$clone"
  git clone --quiet --no-hardlinks "$SOURCE_DIR" "$clone"
  (cd "$clone" && podman build --format docker -f docker/Dockerfile -t cloudmeta .)
  rm -rf "$clone"
  podman tag localhost/cloudmeta:latest "$PRODUCT_IMAGE"
fi
podman image inspect --format '{{.Size}}' "$PRODUCT_IMAGE" > "$PODMAN_STATE/product-image-size"
echo "product image: $(( $(cat "$PODMAN_STATE/product-image-size") / 1000000 )) MB"
