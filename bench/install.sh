#!/usr/bin/env bash
# Installs what bench/run.sh needs besides the build (scripts/install-deps.sh --build-only):
# Debian's nginx (the reference server), wrk (an independent client) and valgrind (callgrind
# instruction counts). Not needed to build or test cloudmeta. Idempotent.
set -euo pipefail

packages=(nginx-light wrk valgrind procps)

sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  # run.sh starts its own nginx with its own config on a loopback port, whatever the package's
  # service does.
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
