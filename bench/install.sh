#!/usr/bin/env bash
# Installs what bench/run.sh needs besides the build (scripts/install-deps.sh --build-only):
# Debian's nginx (the reference server), wrk (an independent client) and valgrind (callgrind
# instruction counts). Not needed to build or test cloudmeta. Idempotent.
set -euo pipefail

packages=(nginx-light wrk valgrind procps)

# run.sh starts its own nginx with its own config on a loopback port, whatever the package's
# service does.
source "$(dirname "$0")/../scripts/apt-install.sh"
apt_install_missing "${packages[@]}"
