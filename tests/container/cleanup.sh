#!/usr/bin/env bash
# ctest fixture cleanup for the container tier: removes every container, volume, network and
# image the tier's tests created in its podman (storage under the build dir), intermediate build
# layers included. Keeps the debootstrap base image and the build cache mounts (downloaded apt
# packages, ccache), so the next run starts from them instead of from the network.
# Usage: cleanup.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SOURCE_DIR=$1 BUILD_DIR=$2
source "$(dirname "$0")/podman_env.sh"

podman rm -a -f -v -t 0 >/dev/null
# Working containers of a build that was interrupted (e.g. by a ctest timeout) hold their layers.
podman ps -a --external -q | xargs -r podman rm -f -v -t 0 >/dev/null
podman volume prune -f >/dev/null
podman network prune -f >/dev/null
# `image prune -a` keeps images that a container uses: a created (never started) container
# holds the base image while everything else goes.
keeper=cm-keep-base-$$
if podman image exists docker.io/library/debian:12; then
  podman create --name "$keeper" docker.io/library/debian:12 /bin/true >/dev/null
fi
podman image prune -a -f >/dev/null
podman rm -f "$keeper" >/dev/null 2>&1 || true
podman images
